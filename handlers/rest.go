package handlers

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"filelock/auth"
)

// routesREST mounts the REST API (SPEC §3).
func (s *Server) routesREST(r *gin.Engine) {
	r.POST("/lock", s.postLock)
	r.POST("/unlock", s.postUnlock)
	r.POST("/heartbeat", s.postHeartbeat)
	r.GET("/status/:project_id", s.getStatus)
}

// serveCommand serves a command as a JSON POST endpoint: authenticate,
// decode the body into P, run the command, answer 200 with its reply.
func serveCommand[P, R any](s *Server, c *gin.Context, cmd func(context.Context, auth.Identity, P) (R, error)) {
	who, err := s.identify(c.Request)
	if err != nil {
		s.writeError(c, err)
		return
	}
	var p P
	if err := s.decodeBody(c.Request, &p); err != nil {
		s.writeError(c, err)
		return
	}
	reply, err := cmd(c.Request.Context(), who, p)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, reply)
}

// postLock serves POST /lock.
//
//	@Summary		Lock a file
//	@Description	Takes the file for the user. Re-locking a file the user holds renews it (same token, "renewed": true).
//	@Description	A user holds at most one file per project: locking another one is refused with user_has_lock unless
//	@Description	release_previous is true, which gives the old lock up (returned as "released") in the same atomic step.
//	@Description	ttl_seconds (default lock.ttl) is clamped to [lock.min_ttl, lock.max_ttl].
//	@Tags			locks
//	@Accept			json
//	@Produce		json
//	@Param			body	body		LockParams	true	"the file to lock and the user"
//	@Success		200		{object}	LockReply
//	@Failure		400		{object}	ErrorBody	"invalid_request: malformed JSON, wrong type, missing field or invalid identifier (see error.field)"
//	@Failure		401		{object}	ErrorBody	"unauthorized (auth.mode jwt)"
//	@Failure		403		{object}	ErrorBody	"forbidden or user_mismatch (auth.mode jwt)"
//	@Failure		409		{object}	ErrorBody	"file_locked (another user holds the file) or user_has_lock (the user holds another file); lock is the lock in the way"
//	@Failure		413		{object}	ErrorBody	"payload_too_large"
//	@Failure		429		{object}	ErrorBody	"rate_limited"
//	@Failure		503		{object}	ErrorBody	"store_unavailable"
//	@Router			/lock [post]
func (s *Server) postLock(c *gin.Context) { serveCommand(s, c, s.cmdLock) }

// postUnlock serves POST /unlock.
//
//	@Summary		Unlock a file
//	@Description	Gives the file up. With token, only if it is the current lock's token. With force, whoever holds it
//	@Description	(reason forced; needs an admin token in auth.mode jwt).
//	@Tags			locks
//	@Accept			json
//	@Produce		json
//	@Param			body	body		UnlockParams	true	"the file to unlock and the user"
//	@Success		200		{object}	UnlockReply
//	@Failure		400		{object}	ErrorBody	"invalid_request"
//	@Failure		401		{object}	ErrorBody	"unauthorized (auth.mode jwt)"
//	@Failure		403		{object}	ErrorBody	"not_owner (another user holds the file; lock is theirs), forbidden or user_mismatch"
//	@Failure		404		{object}	ErrorBody	"not_locked: nobody holds the file"
//	@Failure		409		{object}	ErrorBody	"stale_token: token is not the current lock's"
//	@Failure		413		{object}	ErrorBody	"payload_too_large"
//	@Failure		429		{object}	ErrorBody	"rate_limited"
//	@Failure		503		{object}	ErrorBody	"store_unavailable"
//	@Router			/unlock [post]
func (s *Server) postUnlock(c *gin.Context) { serveCommand(s, c, s.cmdUnlock) }

// postHeartbeat serves POST /heartbeat.
//
//	@Summary		Extend the user's lock
//	@Description	Extends the user's lock in the project by its TTL and returns it. Send one every heartbeat_interval_seconds.
//	@Tags			locks
//	@Accept			json
//	@Produce		json
//	@Param			body	body		HeartbeatParams	true	"the project and the user"
//	@Success		200		{object}	HeartbeatReply
//	@Failure		400		{object}	ErrorBody	"invalid_request"
//	@Failure		401		{object}	ErrorBody	"unauthorized (auth.mode jwt)"
//	@Failure		403		{object}	ErrorBody	"forbidden or user_mismatch (auth.mode jwt)"
//	@Failure		404		{object}	ErrorBody	"not_locked: the user holds no lock in the project"
//	@Failure		413		{object}	ErrorBody	"payload_too_large"
//	@Failure		429		{object}	ErrorBody	"rate_limited"
//	@Failure		503		{object}	ErrorBody	"store_unavailable"
//	@Router			/heartbeat [post]
func (s *Server) postHeartbeat(c *gin.Context) { serveCommand(s, c, s.cmdHeartbeat) }

// getStatus serves GET /status/{project_id}.
//
//	@Summary		A project's locks and users
//	@Description	The project's locks (sorted by file) and present users (sorted) as of the event last_event_id:
//	@Description	an event stream opened from last_event_id misses nothing and repeats nothing.
//	@Tags			locks
//	@Produce		json
//	@Param			project_id	path		string	true	"project id: 1-128 characters of A-Z a-z 0-9 . _ -"
//	@Success		200			{object}	StatusReply
//	@Failure		400			{object}	ErrorBody	"invalid_request (field project_id)"
//	@Failure		401			{object}	ErrorBody	"unauthorized (auth.mode jwt)"
//	@Failure		403			{object}	ErrorBody	"forbidden (auth.mode jwt)"
//	@Failure		503			{object}	ErrorBody	"store_unavailable"
//	@Router			/status/{project_id} [get]
func (s *Server) getStatus(c *gin.Context) {
	who, err := s.identify(c.Request)
	if err != nil {
		s.writeError(c, err)
		return
	}
	reply, err := s.cmdStatus(c.Request.Context(), who, StatusParams{ProjectID: c.Param("project_id")})
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, reply)
}
