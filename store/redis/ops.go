package redis

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
	return s.acquireReply(ctx, req.ProjectID, ttl, c)
}

// Claim implements store.Store: one script (lua/claim.lua) on the
// project's slot tries the files in order.
func (s *Store) Claim(ctx context.Context, req store.ClaimRequest) (store.AcquireResult, error) {
	ttl := s.opts.ClampTTL(req.TTL)
	args := make([]any, 0, 2+len(req.Files))
	args = append(args, req.User, ttl.Milliseconds())
	for _, f := range req.Files {
		args = append(args, f)
	}
	return s.acquireReply(ctx, req.ProjectID, ttl, s.project(claimScript, req.ProjectID, "", args...))
}

// acquireReply runs an acquire or claim script with its hint and reads its
// reply.
func (s *Store) acquireReply(ctx context.Context, projectID string, ttl time.Duration, c *call) (store.AcquireResult, error) {
	code, rest, err := s.runHinted(ctx, projectID, ttl, c)
	if err != nil {
		return store.AcquireResult{}, err
	}
	if code == "none_free" {
		return store.AcquireResult{}, store.ErrNoneFree()
	}
	if len(rest) == 0 {
		return store.AcquireResult{}, errShort(c)
	}
	l, err := decodeLock(projectID, rest[0])
	if err != nil {
		return store.AcquireResult{}, err
	}
	switch code {
	case "ok":
		res := store.AcquireResult{Lock: l}
		if len(rest) > 1 {
			r, err := decodeLock(projectID, rest[1])
			if err != nil {
				return store.AcquireResult{}, err
			}
			res.Released = &r
		}
		return res, nil
	case "renewed":
		return store.AcquireResult{Lock: l, Renewed: true}, nil
	case "file_locked":
		return store.AcquireResult{}, store.ErrFileLocked(l)
	case "user_has_lock":
		return store.AcquireResult{}, store.ErrUserHasLock(l)
	}
	return store.AcquireResult{}, fmt.Errorf("redis store: acquire: unexpected reply %q", code)
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
		return filelock.Lock{}, store.ErrNotLocked(req.File)
	}
	if len(rest) == 0 {
		return filelock.Lock{}, errShort(c)
	}
	l, err := decodeLock(req.ProjectID, rest[0])
	if err != nil {
		return filelock.Lock{}, err
	}
	switch code {
	case "ok":
		return l, nil
	case "not_owner":
		return filelock.Lock{}, store.ErrNotOwner(l)
	case "stale_token":
		return filelock.Lock{}, store.ErrStaleToken(*req.Token, l)
	}
	return filelock.Lock{}, fmt.Errorf("redis store: release: unexpected reply %q", code)
}

// Heartbeat implements store.Store. A heartbeat only moves a due time
// later, so it needs no hint (the script re-registers the project in its
// slot's due index).
func (s *Store) Heartbeat(ctx context.Context, projectID, user string) (filelock.Lock, error) {
	c := s.project(heartbeatScript, projectID, "", user)
	code, rest, err := s.runReply(ctx, c)
	if err != nil {
		return filelock.Lock{}, err
	}
	if code == "not_locked" {
		return filelock.Lock{}, store.ErrNoLockHeld(projectID, user)
	}
	if len(rest) == 0 {
		return filelock.Lock{}, errShort(c)
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
	if !ok || len(a) != 4 {
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
	now, _ := a[3].(string)
	st.ServerTime = ms(now)
	slices.SortFunc(st.Locks, func(a, b filelock.Lock) int { return strings.Compare(a.File, b.File) })
	slices.Sort(st.Users)
	return st, nil
}

// Lock implements store.Store: one read-only script (lua/lock.lua) on the
// project's slot, which looks at the file's lock only.
func (s *Store) Lock(ctx context.Context, projectID, file string) (filelock.Lock, error) {
	c := s.project(lockScript, projectID, file, file)
	code, rest, err := s.runReply(ctx, c)
	if err != nil {
		return filelock.Lock{}, err
	}
	if code == "not_locked" {
		return filelock.Lock{}, store.ErrNotLocked(file)
	}
	if code != "ok" || len(rest) == 0 {
		return filelock.Lock{}, errShort(c)
	}
	return decodeLock(projectID, rest[0])
}

// Events implements store.Store.
func (s *Store) Events(ctx context.Context, projectID, afterID string) ([]filelock.Event, error) {
	after, ok := filelock.ParseEventID(afterID)
	if !ok {
		return nil, store.ErrHistoryGone
	}
	c := s.project(eventsScript, projectID, "", strconv.FormatUint(after, 10))
	code, rest, err := s.runReply(ctx, c)
	if err != nil {
		return nil, err
	}
	if code == "gone" {
		return nil, store.ErrHistoryGone
	}
	if len(rest) == 0 {
		return nil, errShort(c)
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
	_, _, err := s.runHinted(ctx, projectID, lease, s.project(connectScript, projectID, "", user, connID, lease.Milliseconds()))
	return err
}

// Disconnect implements store.Store.
func (s *Store) Disconnect(ctx context.Context, projectID, connID string) error {
	_, _, err := s.runHinted(ctx, projectID, s.opts.DisconnectGrace, s.project(disconnectScript, projectID, "", connID))
	return err
}

// Refresh implements store.Store.
func (s *Store) Refresh(ctx context.Context, projectID string, conns []store.Conn, lease time.Duration) error {
	if len(conns) == 0 {
		return nil
	}
	args := []any{lease.Milliseconds()}
	for _, c := range conns {
		args = append(args, c.ID, c.User)
	}
	_, _, err := s.runHinted(ctx, projectID, lease, s.project(refreshScript, projectID, "", args...))
	return err
}

// runReply runs one project script and splits its {code, ...} reply.
func (s *Store) runReply(ctx context.Context, c *call) (string, []any, error) {
	if err := s.run(ctx, c); err != nil {
		return "", nil, err
	}
	return s.reply(c.cmd.Val())
}

// runHinted runs a project script that may add a due time no earlier than
// now+d and splits its reply. When d is within hintWindow (further ahead,
// the reapers' sweep hints it in time), a hint of the project's slot for
// now+d (lua/hint.lua) follows the script in the same round trip. It comes
// after the script (on one Redis, and on the project's node in a Cluster
// when the shard lives there too), so a reaper that reads the hint sees
// what the script indexed. A failed hint is not an error: the sweep finds
// the slot.
func (s *Store) runHinted(ctx context.Context, projectID string, d time.Duration, c *call) (string, []any, error) {
	if d > hintWindow {
		return s.runReply(ctx, c)
	}
	slot := slotOf(projectID)
	h := &call{script: hintScript, keys: s.hintKeys(slot), args: []any{slot, "rel", d.Milliseconds()}}
	s.pipeline(ctx, c, h)
	if err := wrap(c.cmd.Err()); err != nil {
		return "", nil, err
	}
	return s.reply(c.cmd.Val())
}

func errShort(c *call) error { return fmt.Errorf("redis store: short reply %v", c.cmd.Val()) }
