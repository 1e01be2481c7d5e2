package auth

import (
	"slices"
	"time"

	"filelock"
)

// Identity is who a request is.
//
// A jwt identity (Anonymous false) is the token's sub (User), the projects
// it may touch (Projects, or every project when All), whether it may force
// (Admin) and when the token expires (Expires; a long-lived connection may
// be closed then).
//
// An Anonymous identity (mode none, or a request with a valid API key in
// either mode: APIKey) has no user of its own: the user is whatever the
// request's user_id says. It may touch every project (All) and force
// (Admin).
type Identity struct {
	User      string
	Projects  []string
	All       bool
	Admin     bool
	Expires   time.Time
	Anonymous bool
	APIKey    bool
}

// CanAccess reports whether the identity may touch projectID.
func (id Identity) CanAccess(projectID string) bool {
	return id.Anonymous || id.All || slices.Contains(id.Projects, projectID)
}

// CheckProject returns a forbidden *filelock.Error (field "project_id")
// unless the identity may touch projectID.
func (id Identity) CheckProject(projectID string) error {
	if id.CanAccess(projectID) {
		return nil
	}
	return &filelock.Error{Code: filelock.EForbidden, Field: "project_id",
		Message: "user " + id.User + " may not access project " + projectID}
}

// CheckForce returns a forbidden *filelock.Error (field "force") unless the
// identity may force an unlock: anonymous identities may, jwt identities
// only with the admin claim.
func (id Identity) CheckForce() error {
	if id.Anonymous || id.Admin {
		return nil
	}
	return &filelock.Error{Code: filelock.EForbidden, Field: "force",
		Message: "force needs an admin token; user " + id.User + " is not an admin"}
}

// CheckUser returns a user_mismatch *filelock.Error naming field when a jwt
// identity is asked to act as another user than its sub. An empty userID
// (the field omitted) is no mismatch; anonymous identities never mismatch.
// It does not validate userID (see ResolveUser).
func (id Identity) CheckUser(field, userID string) error {
	if id.Anonymous || userID == "" || userID == id.User {
		return nil
	}
	return &filelock.Error{Code: filelock.EUserMismatch, Field: field,
		Message: field + " " + userID + " does not match the token's user " + id.User}
}

// ResolveUser returns the user a request acts as, given its user_id field
// (maybe empty). Anonymous: userID itself, which must be a valid user
// (else invalid_request, field "user_id"). jwt: the token's sub when userID
// is empty or equal to it; an invalid userID gives invalid_request, any
// other user_mismatch (403).
func (id Identity) ResolveUser(userID string) (string, error) {
	const field = "user_id"
	if id.Anonymous {
		if err := filelock.ValidateUser(field, userID); err != nil {
			return "", err
		}
		return userID, nil
	}
	if userID == "" {
		return id.User, nil
	}
	if err := filelock.ValidateUser(field, userID); err != nil {
		return "", err
	}
	if err := id.CheckUser(field, userID); err != nil {
		return "", err
	}
	return id.User, nil
}
