package memory

import (
	"context"
	"time"

	"filelock"
	"filelock/store"
)

// Connect implements store.Store. A lease <= 0 never lapses: such a
// connection lives until Disconnect. Connecting a live connID under another
// user counts as its disconnect followed by a fresh connect.
func (s *Store) Connect(ctx context.Context, projectID, user, connID string, lease time.Duration) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.connect(s.project(projectID, true), user, connID, time.Now(), lease)
	return nil
}

// connect records (or renews) a live connection; s.mu is held.
func (s *Store) connect(p *project, user, connID string, now time.Time, lease time.Duration) {
	if c := p.conns[connID]; c != nil {
		if c.user == user {
			s.renew(p, connID, c, now, lease)
			return
		}
		s.drop(p, connID, now)
	}
	c := &conn{user: user}
	p.conns[connID] = c
	s.renew(p, connID, c, now, lease)
	p.present[user]++
	if p.present[user] == 1 {
		s.cancel(disconnectKey(p.id, user))
		s.append(p, filelock.Event{Type: filelock.EventUserJoined, User: user})
	}
}

// Disconnect implements store.Store.
func (s *Store) Disconnect(ctx context.Context, projectID, connID string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if p := s.project(projectID, false); p != nil && p.conns[connID] != nil {
		s.drop(p, connID, time.Now())
	}
	return nil
}

// Refresh implements store.Store: each connection is connected again (a
// known one of the same user only has its lease renewed).
func (s *Store) Refresh(ctx context.Context, projectID string, conns []store.Conn, lease time.Duration) error {
	if len(conns) == 0 {
		return nil // nothing to do, whatever ctx
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	p := s.project(projectID, true)
	now := time.Now()
	for _, c := range conns {
		s.connect(p, c.User, c.ID, now, lease)
	}
	return nil
}

// renew sets the connection's lease to now+lease and schedules its lapse.
func (s *Store) renew(p *project, connID string, c *conn, now time.Time, lease time.Duration) {
	if lease <= 0 {
		c.lease = time.Time{}
		s.cancel(leaseKey(p.id, connID))
		return
	}
	c.lease = now.Add(lease)
	s.schedule(leaseKey(p.id, connID), c.lease)
}

// drop removes a live connection. The user's last one appends user_left
// and schedules the release of the user's lock after the grace.
func (s *Store) drop(p *project, connID string, now time.Time) {
	c := p.conns[connID]
	delete(p.conns, connID)
	s.cancel(leaseKey(p.id, connID))
	p.present[c.user]--
	if p.present[c.user] > 0 {
		return
	}
	delete(p.present, c.user)
	s.append(p, filelock.Event{Type: filelock.EventUserLeft, User: c.user})
	if _, ok := p.held[c.user]; ok {
		s.schedule(disconnectKey(p.id, c.user), now.Add(s.opts.DisconnectGrace))
	}
}
