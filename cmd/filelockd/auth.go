package main

import (
	"net/http"
	"slices"

	"filelock/auth"
	"filelock/handlers"
)

// jwtAuth puts the auth package's JWT verification behind the handlers'
// Auth seam (auth.mode jwt, SPEC §6).
type jwtAuth struct{ v *auth.Verifier }

var _ handlers.Auth = jwtAuth{}

// Identify implements handlers.Auth: the request's token, verified.
func (a jwtAuth) Identify(r *http.Request) (handlers.Identity, error) {
	id, err := a.v.Authenticate(r)
	if err != nil {
		return handlers.Identity{}, err
	}
	projects := id.Projects
	if id.All {
		projects = []string{"*"}
	}
	return handlers.Identity{User: id.User, Projects: projects, Admin: id.Admin}, nil
}

// Authorize implements handlers.Auth: the project must be in the token's
// projects, force needs admin, and the acting user is the token's sub (a
// user_id naming someone else is user_mismatch).
func (a jwtAuth) Authorize(who handlers.Identity, act handlers.Action) (string, error) {
	id := auth.Identity{User: who.User, Projects: who.Projects, All: slices.Contains(who.Projects, "*"), Admin: who.Admin}
	if err := id.CheckProject(act.ProjectID); err != nil {
		return "", err
	}
	if act.Force {
		if err := id.CheckForce(); err != nil {
			return "", err
		}
	}
	if act.Command == handlers.CmdStatus {
		return "", nil
	}
	return id.ResolveUser(act.UserID)
}
