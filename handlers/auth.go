package handlers

import (
	"net/http"

	"filelock"
	"filelock/auth"
)

// Authentication, authorization and the per-user limits of every transport
// (SPEC §6, §7), in one place. A request or connection is authenticated
// once (identify: REST call, SSE stream, WebSocket upgrade; identifyToken:
// Socket.IO handshake, fencing check); each action is then authorized
// against that identity (authorize), and lock, claim, unlock and heartbeat
// count toward the acting user's rate (limits.user_rps).
//
// In auth.mode none, and in either mode for a request with a valid
// X-API-Key, the identity is anonymous: the user is whoever user_id
// names, every project and force are allowed. In auth.mode jwt the user is
// the token's sub (a user_id naming another is user_mismatch), projects
// outside the token's projects claim are forbidden, force needs admin, and
// a long-lived connection ends when its token does (Verifier.ValidUntil).

// CloseTokenExpired is the WebSocket close code sent when the connection's
// token expires (reason "token expired"); the client reconnects with a
// fresh token.
const CloseTokenExpired = 4001

// identify authenticates an HTTP request (a REST call, an SSE stream, a
// WebSocket upgrade) in either mode: by its X-API-Key header when it has
// one (unauthorized when the key is not one of auth.api_keys), else by its
// token (Authorization: Bearer, else ?token=); unauthorized in jwt mode
// when it has no valid one.
func (s *Server) identify(r *http.Request) (auth.Identity, error) {
	return s.verifier.Authenticate(r)
}

// identifyToken is identify with the token given: the Socket.IO handshake's
// auth.token, or the Authorization header alone on a route whose query has
// a token of its own. The X-API-Key header of r still comes first.
func (s *Server) identifyToken(r *http.Request, token string) (auth.Identity, error) {
	return s.verifier.AuthenticateToken(r, token)
}

// authorize checks that who may act on projectID (forbidden), with force
// (forbidden without admin), as the user userID names, and returns the
// acting user: userID in mode none (which must be a valid user), the
// token's sub in jwt mode (user_mismatch when userID names another).
func (s *Server) authorize(who auth.Identity, projectID, userID string, force bool) (string, error) {
	if err := who.CheckProject(projectID); err != nil {
		return "", err
	}
	if force {
		if err := who.CheckForce(); err != nil {
			return "", err
		}
	}
	return who.ResolveUser(userID)
}

// streamUser authorizes a stream of projectID (SSE, a WebSocket or
// Socket.IO join) and returns the user it names for presence: "" when
// userID is empty on an SSE stream (named is false); otherwise as
// authorize.
func (s *Server) streamUser(who auth.Identity, projectID, userID string, named bool) (string, error) {
	if err := who.CheckProject(projectID); err != nil {
		return "", err
	}
	if userID == "" && !named {
		return "", nil
	}
	return who.ResolveUser(userID)
}

// checkRate takes one request of user from limits.user_rps.
func (s *Server) checkRate(user string) error {
	return s.rate.Check(user)
}

// connUser is the user a connection counts for in the connection limits:
// the token's sub in jwt mode, else the user the request names ("" when
// not known yet).
func connUser(who auth.Identity, named string) string {
	if who.Anonymous {
		return named
	}
	return who.User
}

// acquireConn counts a new live connection against limits.max_connections
// and limits.max_connections_per_user; rate_limited (429) over a cap.
func (s *Server) acquireConn(who auth.Identity, named string) (release func(), err error) {
	release, err = s.conns.Acquire(connUser(who, named))
	if err != nil {
		s.log.Info("connection refused", "err", err)
	}
	return release, err
}

// errOrigin refuses a long-lived connection (SSE, WebSocket, Socket.IO)
// from a browser page whose origin is neither the server's own nor listed
// in cors.allowed_origins.
var errOrigin = &filelock.Error{Code: filelock.EForbidden, Message: "origin is not allowed by cors.allowed_origins"}

// errTokenExpired is what a connection is told when its token expires.
var errTokenExpired = &filelock.Error{Code: filelock.EUnauthorized, Message: "token expired"}
