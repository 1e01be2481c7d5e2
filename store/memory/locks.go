package memory

import (
	"context"
	"slices"
	"strings"
	"time"

	"filelock"
	"filelock/store"
)

// Acquire implements store.Store (rules in store.Store.Acquire).
func (s *Store) Acquire(ctx context.Context, req store.AcquireRequest) (store.AcquireResult, error) {
	ttl := s.opts.ClampTTL(req.TTL)
	if err := s.begin(ctx); err != nil {
		return store.AcquireResult{}, err
	}
	defer s.mu.Unlock()
	return s.acquire(s.project(req.ProjectID, true), req, ttl, time.Now())
}

// Claim implements store.Store (rules in store.Store.Claim).
func (s *Store) Claim(ctx context.Context, req store.ClaimRequest) (store.AcquireResult, error) {
	ttl := s.opts.ClampTTL(req.TTL)
	if err := s.begin(ctx); err != nil {
		return store.AcquireResult{}, err
	}
	defer s.mu.Unlock()
	p := s.project(req.ProjectID, true)
	now := time.Now()
	for _, f := range req.Files {
		if l := s.live(p, p.locks[f], now); l == nil || l.User == req.User {
			return s.acquire(p, store.AcquireRequest{ProjectID: req.ProjectID, File: f, User: req.User, ReleasePrevious: true}, ttl, now)
		}
	}
	return store.AcquireResult{}, store.ErrNoneFree()
}

// acquire carries out Acquire under s.mu.
func (s *Store) acquire(p *project, req store.AcquireRequest, ttl time.Duration, now time.Time) (store.AcquireResult, error) {
	l := s.live(p, p.locks[req.File], now)
	if l != nil {
		if l.User != req.User {
			return store.AcquireResult{}, store.ErrFileLocked(l.Lock)
		}
		l.setExpiry(now, ttl)
		l.TTL = ttl
		s.schedule(lockKey(p.id, l.File), l.deadline)
		return store.AcquireResult{Lock: l.Lock, Renewed: true}, nil
	}
	var res store.AcquireResult
	if f, ok := p.held[req.User]; ok {
		if old := s.live(p, p.locks[f], now); old != nil {
			if !req.ReleasePrevious {
				return store.AcquireResult{}, store.ErrUserHasLock(old.Lock)
			}
			released := s.release(p, old, filelock.ReasonSwitched)
			res.Released = &released
		}
	}
	l = &lock{Lock: filelock.Lock{ProjectID: p.id, File: req.File, User: req.User, Token: int64(s.nextSeq(p)), AcquiredAt: stamp(now), TTL: ttl}}
	l.setExpiry(now, ttl)
	p.locks[l.File] = l
	p.held[l.User] = l.File
	s.append(p, filelock.Event{Type: filelock.EventLockAcquired, Lock: l.Lock})
	s.schedule(lockKey(p.id, l.File), l.deadline)
	res.Lock = l.Lock
	return res, nil
}

// Release implements store.Store (rules in store.Store.Release).
func (s *Store) Release(ctx context.Context, req store.ReleaseRequest) (filelock.Lock, error) {
	if err := s.begin(ctx); err != nil {
		return filelock.Lock{}, err
	}
	defer s.mu.Unlock()
	var l *lock
	if p := s.project(req.ProjectID, false); p != nil {
		l = s.live(p, p.locks[req.File], time.Now())
	}
	switch {
	case l == nil:
		return filelock.Lock{}, store.ErrNotLocked(req.File)
	case !req.Force && l.User != req.User:
		return filelock.Lock{}, store.ErrNotOwner(l.Lock)
	case req.Token != nil && *req.Token != l.Token:
		return filelock.Lock{}, store.ErrStaleToken(*req.Token, l.Lock)
	}
	reason := filelock.ReasonUnlocked
	if req.Force {
		reason = filelock.ReasonForced
	}
	return s.release(s.projects[req.ProjectID], l, reason), nil
}

// Heartbeat implements store.Store.
func (s *Store) Heartbeat(ctx context.Context, projectID, user string) (filelock.Lock, error) {
	if err := s.begin(ctx); err != nil {
		return filelock.Lock{}, err
	}
	defer s.mu.Unlock()
	now := time.Now()
	var l *lock
	if p := s.project(projectID, false); p != nil {
		if f, ok := p.held[user]; ok {
			l = s.live(p, p.locks[f], now)
		}
	}
	if l == nil {
		return filelock.Lock{}, store.ErrNoLockHeld(projectID, user)
	}
	l.setExpiry(now, l.TTL)
	s.schedule(lockKey(projectID, l.File), l.deadline)
	return l.Lock, nil
}

// Status implements store.Store.
func (s *Store) Status(ctx context.Context, projectID string) (filelock.Status, error) {
	if err := s.begin(ctx); err != nil {
		return filelock.Status{}, err
	}
	defer s.mu.Unlock()
	st := filelock.Status{ProjectID: projectID, Locks: []filelock.Lock{}, Users: []string{}, LastEventID: filelock.InitialEventID,
		ServerTime: stamp(time.Now())}
	p := s.project(projectID, false)
	if p == nil {
		return st, nil
	}
	for _, l := range p.locks {
		st.Locks = append(st.Locks, l.Lock)
	}
	slices.SortFunc(st.Locks, func(a, b filelock.Lock) int { return strings.Compare(a.File, b.File) })
	for u := range p.present {
		st.Users = append(st.Users, u)
	}
	slices.Sort(st.Users)
	if p.seq != 0 {
		st.LastEventID = filelock.Event{Seq: p.seq}.ID()
	}
	return st, nil
}

// Lock implements store.Store.
func (s *Store) Lock(ctx context.Context, projectID, file string) (filelock.Lock, error) {
	if err := s.begin(ctx); err != nil {
		return filelock.Lock{}, err
	}
	defer s.mu.Unlock()
	if p := s.project(projectID, false); p != nil {
		if l := p.locks[file]; l != nil && time.Now().Before(l.deadline) {
			return l.Lock, nil
		}
	}
	return filelock.Lock{}, store.ErrNotLocked(file)
}

// live returns l unless it is nil or expired; an expired lock is released
// with reason expired first (lazy expiry).
func (s *Store) live(p *project, l *lock, now time.Time) *lock {
	if l == nil {
		return nil
	}
	if !now.Before(l.deadline) {
		s.release(p, l, filelock.ReasonExpired)
		return nil
	}
	return l
}

// release removes the lock, appends its lock_released and returns it.
func (s *Store) release(p *project, l *lock, reason string) filelock.Lock {
	delete(p.locks, l.File)
	delete(p.held, l.User)
	s.cancel(lockKey(p.id, l.File))
	s.append(p, filelock.Event{Type: filelock.EventLockReleased, Lock: l.Lock, Reason: reason})
	if f := s.opts.OnRelease; f != nil && (reason == filelock.ReasonExpired || reason == filelock.ReasonDisconnected) {
		f(reason, 1)
	}
	return l.Lock
}
