package handlers

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"filelock"
	"filelock/auth"
)

// routesREST mounts the REST API (SPEC §3).
func (s *Server) routesREST(r *gin.Engine) {
	r.POST("/lock", s.postLock)
	r.POST("/unlock", s.postUnlock)
	r.POST("/heartbeat", s.postHeartbeat)
	r.POST("/claim", s.postClaim)
	r.GET("/locks/:project_id/*file", s.getLock)
	r.GET("/locks/:project_id", s.getLock) // no file: 400 field file, not a redirect
	r.GET("/status/:project_id", s.getStatus)
}

// serveCommand serves a command as a JSON POST endpoint: authenticate,
// decode the body (of at most limit bytes) into P, run the command, answer
// 200 with its reply.
func serveCommand[P, R any](s *Server, c *gin.Context, limit int64, cmd func(context.Context, auth.Identity, P) (R, error)) {
	who, err := s.identify(c.Request)
	if err != nil {
		s.writeError(c, err)
		return
	}
	var p P
	if err := s.decodeBody(c.Request, &p, limit); err != nil {
		s.writeError(c, err)
		return
	}
	reply, err := cmd(c.Request.Context(), who, p)
	if err != nil {
		s.writeError(c, err)
		return
	}
	writeReply(c, reply)
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
//	@Failure		401		{object}	ErrorBody	"unauthorized (auth.mode jwt, or a wrong X-API-Key)"
//	@Failure		403		{object}	ErrorBody	"forbidden or user_mismatch (auth.mode jwt)"
//	@Failure		409		{object}	ErrorBody	"file_locked (another user holds the file) or user_has_lock (the user holds another file); lock is the lock in the way"
//	@Failure		413		{object}	ErrorBody	"payload_too_large"
//	@Failure		429		{object}	ErrorBody	"rate_limited"
//	@Failure		503		{object}	ErrorBody	"store_unavailable"
//	@Router			/lock [post]
func (s *Server) postLock(c *gin.Context) { serveCommand(s, c, s.cfg.MaxBodyBytes, s.cmdLock) }

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
//	@Failure		401		{object}	ErrorBody	"unauthorized (auth.mode jwt, or a wrong X-API-Key)"
//	@Failure		403		{object}	ErrorBody	"not_owner (another user holds the file; lock is theirs), forbidden or user_mismatch"
//	@Failure		404		{object}	ErrorBody	"not_locked: nobody holds the file"
//	@Failure		409		{object}	ErrorBody	"stale_token: token is not the current lock's"
//	@Failure		413		{object}	ErrorBody	"payload_too_large"
//	@Failure		429		{object}	ErrorBody	"rate_limited"
//	@Failure		503		{object}	ErrorBody	"store_unavailable"
//	@Router			/unlock [post]
func (s *Server) postUnlock(c *gin.Context) { serveCommand(s, c, s.cfg.MaxBodyBytes, s.cmdUnlock) }

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
//	@Failure		401		{object}	ErrorBody	"unauthorized (auth.mode jwt, or a wrong X-API-Key)"
//	@Failure		403		{object}	ErrorBody	"forbidden or user_mismatch (auth.mode jwt)"
//	@Failure		404		{object}	ErrorBody	"not_locked: the user holds no lock in the project"
//	@Failure		413		{object}	ErrorBody	"payload_too_large"
//	@Failure		429		{object}	ErrorBody	"rate_limited"
//	@Failure		503		{object}	ErrorBody	"store_unavailable"
//	@Router			/heartbeat [post]
func (s *Server) postHeartbeat(c *gin.Context) {
	serveCommand(s, c, s.cfg.MaxBodyBytes, s.cmdHeartbeat)
}

// postClaim serves POST /claim.
//
//	@Summary		Claim the next free file
//	@Description	Tries files in the order given and takes the first one that is free or already the user's, in one
//	@Description	atomic step, answering as /lock would for it: the user's own listed file comes back renewed; a lock the
//	@Description	user held on another file of the project is given up (returned as "released", reason switched, its
//	@Description	lock_released right before the new lock_acquired). When every listed file is held by another user:
//	@Description	409 none_free (no lock) and nothing changes. ttl_seconds as for /lock. The body is limited by
//	@Description	limits.max_body_bytes (16 KiB) as on every route: raise it for lists of many long names.
//	@Tags			locks
//	@Accept			json
//	@Produce		json
//	@Param			body	body		ClaimParams	true	"the candidate files, in order, and the user"
//	@Success		200		{object}	LockReply
//	@Failure		400		{object}	ErrorBody	"invalid_request (field files: missing, empty, over 1000 names or an invalid name)"
//	@Failure		401		{object}	ErrorBody	"unauthorized (auth.mode jwt, or a wrong X-API-Key)"
//	@Failure		403		{object}	ErrorBody	"forbidden or user_mismatch (auth.mode jwt)"
//	@Failure		409		{object}	ErrorBody	"none_free: every listed file is locked by another user"
//	@Failure		413		{object}	ErrorBody	"payload_too_large"
//	@Failure		429		{object}	ErrorBody	"rate_limited"
//	@Failure		503		{object}	ErrorBody	"store_unavailable"
//	@Router			/claim [post]
func (s *Server) postClaim(c *gin.Context) { serveCommand(s, c, s.cfg.MaxBodyBytes, s.cmdClaim) }

// getLock serves GET /locks/{project_id}/{file}.
//
//	@Summary		A file's lock; the fencing check of a labeling backend
//	@Description	The file is the rest of the path, slashes included; percent-encode what a path cannot hold
//	@Description	(encodeURIComponent of the whole name is always right). Without query: the lock, or 404 not_locked.
//	@Description	With token (the check before a save): 200 only when the file is locked with exactly that token,
//	@Description	and, with user_id, by that user. With user_id, another holder is 403 not_owner (checked first);
//	@Description	another token is 409 stale_token; both carry the current lock. A lock past its expires_at counts
//	@Description	as not locked. In auth.mode jwt the token travels in the Authorization header (or use X-API-Key):
//	@Description	the query's token is the fencing token; a user_id other than the token's sub is 403 user_mismatch.
//	@Tags			locks
//	@Produce		json
//	@Param			project_id	path		string	true	"project id: 1-128 characters of A-Z a-z 0-9 . _ -"
//	@Param			file		path		string	true	"file name (1-1024 bytes of UTF-8, slashes allowed)"
//	@Param			token		query		integer	false	"fencing token the caller holds"
//	@Param			user_id		query		string	false	"user the caller expects to hold the lock"
//	@Success		200			{object}	LockInfo
//	@Failure		400			{object}	ErrorBody	"invalid_request (field project_id, file, token or user_id)"
//	@Failure		401			{object}	ErrorBody	"unauthorized (auth.mode jwt, or a wrong X-API-Key)"
//	@Failure		403			{object}	ErrorBody	"not_owner (user_id does not hold the lock; lock is the current one), forbidden or user_mismatch"
//	@Failure		404			{object}	ErrorBody	"not_locked: nobody holds the file (field file)"
//	@Failure		409			{object}	ErrorBody	"stale_token: the lock has another token (field token; lock is the current one)"
//	@Failure		503			{object}	ErrorBody	"store_unavailable"
//	@Router			/locks/{project_id}/{file} [get]
func (s *Server) getLock(c *gin.Context) {
	r := c.Request
	who, err := s.identifyToken(r, auth.TokenFromHeader(r))
	if err != nil {
		s.writeError(c, err)
		return
	}
	p, err := lockQuery(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	reply, err := s.cmdGetLock(r.Context(), who, p)
	if err != nil {
		s.writeError(c, err)
		return
	}
	writeReply(c, reply)
}

// lockQuery reads the parameters of GET /locks/{project_id}/{file}: the
// file is the path after the project id (its one leading slash dropped).
func lockQuery(c *gin.Context) (LockQuery, error) {
	q := c.Request.URL.Query()
	p := LockQuery{ProjectID: c.Param("project_id"), File: strings.TrimPrefix(c.Param("file"), "/")}
	if v, ok := q["token"]; ok {
		tok, err := strconv.ParseInt(v[0], 10, 64)
		if err != nil || len(v) != 1 {
			return p, filelock.FieldError("token", "token must be one integer, the lock's fencing token")
		}
		p.Token = &tok
	}
	if v, ok := q["user_id"]; ok {
		if len(v) != 1 {
			return p, filelock.FieldError("user_id", "user_id must be given once")
		}
		p.UserID = &v[0]
	}
	return p, nil
}

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
//	@Failure		401			{object}	ErrorBody	"unauthorized (auth.mode jwt, or a wrong X-API-Key)"
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
