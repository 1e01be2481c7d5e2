package redis

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"filelock"
	"filelock/store"
)

// backstopMargin is how long past expires_at a lock key lives in Redis, so a
// lock vanishes even if no instance runs a reaper.
const backstopMargin = time.Second

// Acquire implements store.Store.
func (s *Store) Acquire(ctx context.Context, req store.AcquireRequest) (store.AcquireResult, error) {
	ttl := s.opts.ClampTTL(req.TTL)
	relprev := "0"
	if req.ReleasePrevious {
		relprev = "1"
	}
	c := s.project(acquireScript, req.ProjectID, req.File, req.File, req.User, ttl.Milliseconds(), relprev)
	code, rest, err := s.runRegistered(ctx, req.ProjectID, ttl, c)
	if err != nil {
		return store.AcquireResult{}, err
	}
	l, err := decodeLock(req.ProjectID, rest[0])
	if err != nil {
		return store.AcquireResult{}, err
	}
	switch code {
	case "ok":
		s.registerAfter(ctx, req.ProjectID, dueOf(rest[1]))
		res := store.AcquireResult{Lock: l}
		if len(rest) > 2 {
			r, err := decodeLock(req.ProjectID, rest[2])
			if err != nil {
				return store.AcquireResult{}, err
			}
			res.Released = &r
		}
		return res, nil
	case "renewed":
		return store.AcquireResult{Lock: l, Renewed: true}, nil
	case "file_locked":
		return store.AcquireResult{}, filelock.LockError(filelock.EFileLocked, l, "%s is locked by %s", l.File, l.User)
	case "user_has_lock":
		return store.AcquireResult{}, filelock.LockError(filelock.EUserHasLock, l, "%s already holds %s", l.User, l.File)
	}
	return store.AcquireResult{}, fmt.Errorf("redis store: acquire: unexpected reply %q", code)
}

// Claim implements store.Store.
//
// TODO(claim.lua): one script over the listed files; until then each file
// is tried in turn, which is atomic per file but not over the list.
func (s *Store) Claim(ctx context.Context, req store.ClaimRequest) (store.AcquireResult, error) {
	for _, f := range req.Files {
		res, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: req.ProjectID, File: f, User: req.User, TTL: req.TTL, ReleasePrevious: true})
		if filelock.ErrorCode(err) == filelock.EFileLocked {
			continue
		}
		return res, err
	}
	return store.AcquireResult{}, filelock.Errorf(filelock.ENoneFree, "every listed file is locked by another user")
}

// Release implements store.Store.
func (s *Store) Release(ctx context.Context, req store.ReleaseRequest) (filelock.Lock, error) {
	token, force := "", "0"
	if req.Token != nil {
		token = strconv.FormatInt(*req.Token, 10)
	}
	if req.Force {
		force = "1"
	}
	c := s.project(releaseScript, req.ProjectID, req.File, req.File, req.User, token, force)
	code, rest, err := s.runReply(ctx, c)
	if err != nil {
		return filelock.Lock{}, err
	}
	if code == "not_locked" {
		return filelock.Lock{}, filelock.Errorf(filelock.ENotLocked, "%s is not locked", req.File)
	}
	l, err := decodeLock(req.ProjectID, rest[0])
	if err != nil {
		return filelock.Lock{}, err
	}
	switch code {
	case "ok":
		return l, nil
	case "not_owner":
		return filelock.Lock{}, filelock.LockError(filelock.ENotOwner, l, "%s is locked by %s", l.File, l.User)
	case "stale_token":
		return filelock.Lock{}, filelock.LockError(filelock.EStaleToken, l, "token %s is not the current token %d of %s", token, l.Token, l.File)
	}
	return filelock.Lock{}, fmt.Errorf("redis store: release: unexpected reply %q", code)
}

// Heartbeat implements store.Store.
func (s *Store) Heartbeat(ctx context.Context, projectID, user string) (filelock.Lock, error) {
	code, rest, err := s.runReply(ctx, s.project(heartbeatScript, projectID, "", user))
	if err != nil {
		return filelock.Lock{}, err
	}
	if code == "not_locked" {
		return filelock.Lock{}, filelock.Errorf(filelock.ENotLocked, "%s holds no lock in project %s", user, projectID)
	}
	return decodeLock(projectID, rest[0])
}

// Status implements store.Store.
func (s *Store) Status(ctx context.Context, projectID string) (filelock.Status, error) {
	c := s.project(statusScript, projectID, "")
	if err := s.run(ctx, c); err != nil {
		return filelock.Status{}, err
	}
	a, ok := c.cmd.Val().([]any)
	if !ok || len(a) != 3 {
		return filelock.Status{}, fmt.Errorf("redis store: bad status reply %v", c.cmd.Val())
	}
	st := filelock.Status{ProjectID: projectID, Locks: []filelock.Lock{}, Users: []string{}}
	st.LastEventID, _ = a[0].(string)
	locks, _ := a[1].([]any)
	for _, v := range locks {
		l, err := decodeLock(projectID, v)
		if err != nil {
			return filelock.Status{}, err
		}
		st.Locks = append(st.Locks, l)
	}
	users, _ := a[2].([]any)
	for _, u := range users {
		st.Users = append(st.Users, u.(string))
	}
	slices.SortFunc(st.Locks, func(a, b filelock.Lock) int {
		switch {
		case a.File < b.File:
			return -1
		case a.File > b.File:
			return 1
		}
		return 0
	})
	slices.Sort(st.Users)
	return st, nil
}

// Events implements store.Store.
func (s *Store) Events(ctx context.Context, projectID, afterID string) ([]filelock.Event, error) {
	after, ok := filelock.ParseEventID(afterID)
	if !ok {
		return nil, store.ErrHistoryGone
	}
	code, rest, err := s.runReply(ctx, s.project(eventsScript, projectID, "", strconv.FormatUint(after, 10)))
	if err != nil {
		return nil, err
	}
	if code == "gone" {
		return nil, store.ErrHistoryGone
	}
	raw, _ := rest[0].([]any)
	evs := make([]filelock.Event, 0, len(raw))
	for _, v := range raw {
		js, _ := v.(string)
		ev, err := decodeEvent(projectID, js)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// Connect implements store.Store.
func (s *Store) Connect(ctx context.Context, projectID, user, connID string, lease time.Duration) error {
	c := s.project(connectScript, projectID, "", user, connID, lease.Milliseconds())
	_, rest, err := s.runRegistered(ctx, projectID, lease, c)
	if err != nil {
		return err
	}
	s.registerAfter(ctx, projectID, dueOf(rest[0]))
	return nil
}

// Disconnect implements store.Store.
func (s *Store) Disconnect(ctx context.Context, projectID, connID string) error {
	c := s.project(disconnectScript, projectID, "", connID)
	_, rest, err := s.runRegistered(ctx, projectID, s.opts.DisconnectGrace, c)
	if err != nil {
		return err
	}
	s.registerAfter(ctx, projectID, dueOf(rest[0]))
	return nil
}

// Refresh implements store.Store. Leases only grow, so renewing asks
// nothing new of the reaper; when a connection was recorded again, the
// project's next due time is registered with it afterwards (rare: only
// after an outage, so the common refresh stays one script).
func (s *Store) Refresh(ctx context.Context, projectID string, conns []store.Conn, lease time.Duration) error {
	if len(conns) == 0 {
		return nil
	}
	args := []any{lease.Milliseconds()}
	for _, c := range conns {
		args = append(args, c.ID, c.User)
	}
	_, rest, err := s.runReply(ctx, s.project(refreshScript, projectID, "", args...))
	if err != nil {
		return err
	}
	if n, _ := rest[len(rest)-1].(int64); n > 0 {
		s.registerAfter(ctx, projectID, dueOf(rest[0]))
	}
	return nil
}

// runReply runs one project script and splits its {code, ...} reply.
func (s *Store) runReply(ctx context.Context, c *call) (string, []any, error) {
	if err := s.run(ctx, c); err != nil {
		return "", nil, err
	}
	code, rest, err := reply(c.cmd.Val())
	if err == nil && len(rest) == 0 && code != "not_locked" && code != "gone" {
		err = errShort(c)
	}
	return code, rest, err
}

func errShort(c *call) error { return fmt.Errorf("redis store: short reply %v", c.cmd.Val()) }
