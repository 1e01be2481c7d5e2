package handlers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"time"

	"filelock"
	"filelock/auth"
	"filelock/store"
)

// The commands of SPEC §3, shared by every transport: REST decodes a body
// into the params, WebSocket and Socket.IO decode a message's data into the
// same structs (filling UserID from the connection where the message has
// none), and each calls the same cmd* function. A cmd* function validates
// its params (SPEC §2), authorizes the action (auth.go), takes one request
// from the acting user's rate (lock, unlock, heartbeat), bounds the store call by
// Config.StoreTimeout and returns the REST 200 body, or an error to be shown
// with ErrorReply.

// LockParams are the parameters of lock (POST /lock).
type LockParams struct {
	ProjectID       string   `json:"project_id" validate:"required" example:"1234"`
	File            string   `json:"file" validate:"required" example:"images/a.jpg"`
	UserID          string   `json:"user_id" validate:"required" example:"user1"`
	TTLSeconds      *float64 `json:"ttl_seconds,omitempty" example:"90"` // default lock.ttl; clamped to [lock.min_ttl, lock.max_ttl]
	ReleasePrevious bool     `json:"release_previous,omitempty"`
}

// LockReply is the answer to a successful lock.
type LockReply struct {
	Acquired                 bool           `json:"acquired" example:"true"`
	Renewed                  bool           `json:"renewed"`
	Lock                     filelock.Lock  `json:"lock"`
	Released                 *filelock.Lock `json:"released,omitempty"`
	HeartbeatIntervalSeconds float64        `json:"heartbeat_interval_seconds" example:"30"`
}

// ClaimParams are the parameters of claim (POST /claim): the first of Files
// that is free or already the user's is taken.
type ClaimParams struct {
	ProjectID  string   `json:"project_id" validate:"required" example:"1234"`
	UserID     string   `json:"user_id" validate:"required" example:"user1"`
	Files      []string `json:"files" validate:"required" example:"images/a.jpg,images/b.jpg"` // 1–1000 file names, in the order to work on them
	TTLSeconds *float64 `json:"ttl_seconds,omitempty" example:"90"`                            // default lock.ttl; clamped to [lock.min_ttl, lock.max_ttl]
}

// MaxClaimFiles is the most files one claim may list (SPEC §3).
const MaxClaimFiles = 1000

// UnlockParams are the parameters of unlock (POST /unlock).
type UnlockParams struct {
	ProjectID string `json:"project_id" validate:"required" example:"1234"`
	File      string `json:"file" validate:"required" example:"images/a.jpg"`
	UserID    string `json:"user_id" validate:"required" example:"user1"`
	Token     *int64 `json:"token,omitempty" example:"42"`
	Force     bool   `json:"force,omitempty"`
}

// UnlockReply is the answer to a successful unlock.
type UnlockReply struct {
	Released bool          `json:"released" example:"true"`
	Lock     filelock.Lock `json:"lock"`
}

// HeartbeatParams are the parameters of heartbeat (POST /heartbeat).
type HeartbeatParams struct {
	ProjectID string `json:"project_id" validate:"required" example:"1234"`
	UserID    string `json:"user_id" validate:"required" example:"user1"`
}

// HeartbeatReply is the answer to a successful heartbeat.
type HeartbeatReply struct {
	Lock                     filelock.Lock `json:"lock"`
	HeartbeatIntervalSeconds float64       `json:"heartbeat_interval_seconds" example:"30"`
}

// LockQuery are the parameters of the lock lookup and fencing check
// (GET /locks/{project_id}/{file}?token=&user_id=).
type LockQuery struct {
	ProjectID string
	File      string
	Token     *int64  // when set, the lock must carry exactly this token
	UserID    *string // when set, the lock must be held by this user
}

// LockInfo is the answer to a successful lock lookup.
type LockInfo struct {
	Lock filelock.Lock `json:"lock"`
}

// StatusParams are the parameters of status (GET /status/{project_id}).
type StatusParams struct {
	ProjectID string `json:"project_id"`
}

// StatusReply is a project's state (SPEC §3 GET /status).
type StatusReply struct {
	ProjectID   string          `json:"project_id" example:"1234"`
	Locks       []filelock.Lock `json:"locks"`
	Users       []string        `json:"users" example:"user1"`
	LastEventID string          `json:"last_event_id" example:"42"`
	ServerTime  string          `json:"server_time" example:"2026-11-27T08:00:00.000Z"`
}

func (s *Server) cmdLock(ctx context.Context, who auth.Identity, p LockParams) (LockReply, error) {
	if err := validate(filelock.ValidateProjectID(p.ProjectID), filelock.ValidateFile(p.File)); err != nil {
		return LockReply{}, err
	}
	user, ttl, err := s.admitLock(who, p.ProjectID, p.UserID, p.TTLSeconds)
	if err != nil {
		return LockReply{}, err
	}
	res, err := storeCall(ctx, s, func(ctx context.Context) (store.AcquireResult, error) {
		return s.cfg.Store.Acquire(ctx, store.AcquireRequest{
			ProjectID: p.ProjectID, File: p.File, User: user, TTL: ttl, ReleasePrevious: p.ReleasePrevious,
		})
	})
	if err != nil {
		return LockReply{}, err
	}
	return s.lockReply(res), nil
}

// admitLock is what lock and claim check after their own validation: the
// TTL asked for, who acts (authorization) and the user's rate.
func (s *Server) admitLock(who auth.Identity, projectID, userID string, ttlSeconds *float64) (string, time.Duration, error) {
	ttl, err := s.ttlOf(ttlSeconds)
	if err != nil {
		return "", 0, err
	}
	user, err := s.authorize(who, projectID, userID, false)
	if err != nil {
		return "", 0, err
	}
	if err := s.checkRate(user); err != nil {
		return "", 0, err
	}
	return user, ttl, nil
}

func (s *Server) lockReply(res store.AcquireResult) LockReply {
	if res.Released != nil {
		s.metrics.LockReleased(filelock.ReasonSwitched)
	}
	if !res.Renewed {
		s.metrics.LockAcquired()
	}
	return LockReply{Acquired: true, Renewed: res.Renewed, Lock: res.Lock, Released: res.Released,
		HeartbeatIntervalSeconds: s.heartbeatInterval(res.Lock)}
}

// heartbeatInterval is how often the holder of l should heartbeat (SPEC §3):
// lock.heartbeat_interval, or a third of the lock's TTL when that is
// shorter; never 0.
func (s *Server) heartbeatInterval(l filelock.Lock) float64 {
	iv := s.cfg.HeartbeatInterval
	ttl := l.TTL
	if ttl <= 0 {
		ttl = l.ExpiresAt.Sub(l.AcquiredAt)
	}
	if ttl > 0 && ttl/3 < iv {
		iv = ttl / 3
	}
	return max(iv.Seconds(), 0.001)
}

func (s *Server) cmdClaim(ctx context.Context, who auth.Identity, p ClaimParams) (LockReply, error) {
	if err := filelock.ValidateProjectID(p.ProjectID); err != nil {
		return LockReply{}, err
	}
	if len(p.Files) == 0 || len(p.Files) > MaxClaimFiles {
		return LockReply{}, filelock.FieldError("files", "files must list 1 to %d file names", MaxClaimFiles)
	}
	for _, f := range p.Files {
		if err := filelock.ValidateFile(f); err != nil {
			var fe *filelock.Error
			if errors.As(err, &fe) {
				e := *fe
				e.Field = "files"
				return LockReply{}, &e
			}
			return LockReply{}, err
		}
	}
	user, ttl, err := s.admitLock(who, p.ProjectID, p.UserID, p.TTLSeconds)
	if err != nil {
		return LockReply{}, err
	}
	res, err := storeCall(ctx, s, func(ctx context.Context) (store.AcquireResult, error) {
		return s.cfg.Store.Claim(ctx, store.ClaimRequest{ProjectID: p.ProjectID, Files: p.Files, User: user, TTL: ttl})
	})
	if err != nil {
		return LockReply{}, err
	}
	return s.lockReply(res), nil
}

func (s *Server) cmdUnlock(ctx context.Context, who auth.Identity, p UnlockParams) (UnlockReply, error) {
	if err := validate(filelock.ValidateProjectID(p.ProjectID), filelock.ValidateFile(p.File)); err != nil {
		return UnlockReply{}, err
	}
	user, err := s.authorize(who, p.ProjectID, p.UserID, p.Force)
	if err != nil {
		return UnlockReply{}, err
	}
	if err := s.checkRate(user); err != nil {
		return UnlockReply{}, err
	}
	l, err := storeCall(ctx, s, func(ctx context.Context) (filelock.Lock, error) {
		return s.cfg.Store.Release(ctx, store.ReleaseRequest{
			ProjectID: p.ProjectID, File: p.File, User: user, Token: p.Token, Force: p.Force,
		})
	})
	if err != nil {
		return UnlockReply{}, err
	}
	reason := filelock.ReasonUnlocked
	if p.Force {
		reason = filelock.ReasonForced
	}
	s.metrics.LockReleased(reason)
	return UnlockReply{Released: true, Lock: l}, nil
}

func (s *Server) cmdHeartbeat(ctx context.Context, who auth.Identity, p HeartbeatParams) (HeartbeatReply, error) {
	return s.heartbeat(ctx, who, p, true)
}

// heartbeat is cmdHeartbeat; limited says whether it counts toward the
// user's rate (a WebSocket heartbeat of every joined project counts once).
func (s *Server) heartbeat(ctx context.Context, who auth.Identity, p HeartbeatParams, limited bool) (HeartbeatReply, error) {
	if err := filelock.ValidateProjectID(p.ProjectID); err != nil {
		return HeartbeatReply{}, err
	}
	user, err := s.authorize(who, p.ProjectID, p.UserID, false)
	if err != nil {
		return HeartbeatReply{}, err
	}
	if limited {
		if err := s.checkRate(user); err != nil {
			return HeartbeatReply{}, err
		}
	}
	l, err := storeCall(ctx, s, func(ctx context.Context) (filelock.Lock, error) {
		return s.cfg.Store.Heartbeat(ctx, p.ProjectID, user)
	})
	if err != nil {
		return HeartbeatReply{}, err
	}
	return HeartbeatReply{Lock: l, HeartbeatIntervalSeconds: s.heartbeatInterval(l)}, nil
}

func (s *Server) cmdStatus(ctx context.Context, who auth.Identity, p StatusParams) (StatusReply, error) {
	if err := filelock.ValidateProjectID(p.ProjectID); err != nil {
		return StatusReply{}, err
	}
	if err := who.CheckProject(p.ProjectID); err != nil {
		return StatusReply{}, err
	}
	st, err := storeCall(ctx, s, func(ctx context.Context) (filelock.Status, error) {
		return s.cfg.Store.Status(ctx, p.ProjectID)
	})
	if err != nil {
		return StatusReply{}, err
	}
	r := StatusReply{ProjectID: p.ProjectID, Locks: st.Locks, Users: st.Users, LastEventID: st.LastEventID,
		ServerTime: filelock.FormatTime(st.ServerTime)}
	if r.Locks == nil {
		r.Locks = []filelock.Lock{}
	}
	if r.Users == nil {
		r.Users = []string{}
	}
	if r.LastEventID == "" {
		r.LastEventID = filelock.InitialEventID
	}
	return r, nil
}

// cmdGetLock looks the file's lock up (SPEC §3 GET /locks): not_locked
// when nobody holds it (a lock past its expires_at, not reaped yet, counts
// as gone); with UserID, not_owner when another user holds it; with Token,
// stale_token when the lock carries another one. Both refusals carry the
// lock. It is a read: it needs the project (as status does), not a user,
// and does not count toward a rate; but in jwt mode a UserID other than
// the token's sub is user_mismatch, as everywhere (an API key may name
// any user).
func (s *Server) cmdGetLock(ctx context.Context, who auth.Identity, p LockQuery) (LockInfo, error) {
	if err := validate(filelock.ValidateProjectID(p.ProjectID), filelock.ValidateFile(p.File)); err != nil {
		return LockInfo{}, err
	}
	if p.UserID != nil {
		if err := filelock.ValidateUser("user_id", *p.UserID); err != nil {
			return LockInfo{}, err
		}
	}
	if err := who.CheckProject(p.ProjectID); err != nil {
		return LockInfo{}, err
	}
	if p.UserID != nil {
		if err := who.CheckUser("user_id", *p.UserID); err != nil {
			return LockInfo{}, err
		}
	}
	l, err := storeCall(ctx, s, func(ctx context.Context) (filelock.Lock, error) {
		return s.cfg.Store.Lock(ctx, p.ProjectID, p.File) // not_locked, expiry judged by the store's clock
	})
	if err != nil {
		return LockInfo{}, err
	}
	switch {
	case p.UserID != nil && *p.UserID != l.User:
		return LockInfo{}, filelock.LockError(filelock.ENotOwner, l, "%s is locked by %s, not %s", l.File, l.User, *p.UserID)
	case p.Token != nil && *p.Token != l.Token:
		e := filelock.LockError(filelock.EStaleToken, l, "token %d is not the current token of %s", *p.Token, l.File)
		e.Field = "token"
		return LockInfo{}, e
	}
	return LockInfo{Lock: l}, nil
}

// validate returns the first non-nil error.
func validate(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ttlOf converts ttl_seconds to a duration; nil means the default (0).
// Numbers are clamped by store.Options.TTLSeconds.
func (s *Server) ttlOf(secs *float64) (time.Duration, error) {
	if secs == nil {
		return 0, nil
	}
	if math.IsNaN(*secs) {
		return 0, filelock.FieldError("ttl_seconds", "ttl_seconds must be a number of seconds")
	}
	return s.cfg.Options.TTLSeconds(*secs), nil
}

// storeCall runs f (on a worker of s.calls) with a context bounded by
// Config.StoreTimeout and answers store_unavailable when f has not
// returned by then, even if f ignores its context. On a store.Immediate
// store, which cannot take that long, f runs on the caller's goroutine
// with no bound of its own. Its errors are mapped by clientError; a panic
// in f is internal (500).
func storeCall[T any](ctx context.Context, s *Server, f func(context.Context) (T, error)) (T, error) {
	if s.immediate {
		v, err := immediateCall(s, ctx, f)
		if err == nil {
			return v, nil
		}
		return v, s.storeError(ctx, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	s.calls.Run(func() {
		defer func() { // a panicking store must not take the process down
			if p := recover(); p != nil {
				s.log.Error("store panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				var zero T
				done <- result{zero, filelock.Errorf(filelock.EInternal, "internal error")}
			}
		}()
		v, err := f(ctx)
		done <- result{v, err}
	})
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		r.err = errUnavailable("no answer within " + s.cfg.StoreTimeout.String())
	}
	if r.err == nil {
		return r.v, nil
	}
	return r.v, s.storeError(ctx, r.err)
}

// immediateCall runs f on this goroutine; a panic in f is internal.
func immediateCall[T any](s *Server, ctx context.Context, f func(context.Context) (T, error)) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("store panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			var zero T
			v, err = zero, filelock.Errorf(filelock.EInternal, "internal error")
		}
	}()
	return f(ctx)
}

// storeError maps a store call's error for the client (clientError) and
// counts it.
func (s *Server) storeError(ctx context.Context, err error) *filelock.Error {
	fe := s.clientError(err)
	if fe.Code == filelock.EUnavailable {
		s.metrics.StoreError()
		s.log.WarnContext(ctx, "store unavailable", "err", fe)
	}
	s.metrics.Conflict(fe.Code)
	return fe
}
