package memory

import (
	"context"
	"testing"
	"time"

	"filelock"
	"filelock/store"
)

// TestIdleProjectForgotten: a project with no lock and no connection is
// forgotten IdleAfter after its last event, and its tokens and event ids
// still only grow afterwards; a project with a lock is kept.
func TestIdleProjectForgotten(t *testing.T) {
	s := New(store.Options{MinTTL: time.Second, DefaultTTL: time.Hour})
	s.idleAfter = 50 * time.Millisecond
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go s.Run(ctx)

	r, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "idle", File: "a", User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Release(ctx, store.ReleaseRequest{ProjectID: "idle", File: "a", User: "u"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "busy", File: "a", User: "u"}); err != nil {
		t.Fatal(err)
	}
	last := status(t, s, "idle").LastEventID
	for deadline := time.Now().Add(5 * time.Second); status(t, s, "idle").LastEventID != filelock.InitialEventID; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("idle project never forgotten")
		}
	}
	if _, err := s.Events(ctx, "idle", last); err != store.ErrHistoryGone {
		t.Fatalf("resume from a forgotten id: %v, want ErrHistoryGone", err)
	}
	if st := status(t, s, "busy"); len(st.Locks) != 1 {
		t.Fatalf("project with a lock forgotten: %+v", st)
	}
	again, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "idle", File: "a", User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if again.Lock.Token <= r.Lock.Token {
		t.Fatalf("token %d after forgetting, not above %d", again.Lock.Token, r.Lock.Token)
	}
}

func status(t *testing.T, s *Store, p string) filelock.Status {
	t.Helper()
	st, err := s.Status(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSeqMonotonicClockBack: a forgotten project's tokens still grow when
// the wall clock has stepped back since its last event.
func TestSeqMonotonicClockBack(t *testing.T) {
	s := New(store.Options{MinTTL: time.Second, DefaultTTL: time.Hour})
	defer s.Close()
	ctx := t.Context()
	r, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "a", User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Release(ctx, store.ReleaseRequest{ProjectID: "p", File: "a", User: "u"}); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	delete(s.projects, "p") // forgotten, as the idle reaper does
	s.wall = func() time.Time { return time.Now().Add(-time.Hour) }
	s.mu.Unlock()
	again, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "a", User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if again.Lock.Token <= r.Lock.Token {
		t.Fatalf("token %d after the clock stepped back, not above %d", again.Lock.Token, r.Lock.Token)
	}
}

// TestExpiryMonotonic: a lock's expiry is judged by the monotonic clock.
// Here the wall clock is made to look an hour ahead of the lock (its
// recorded expires_at moved back by an hour, as a forward step of the wall
// clock would look): the lock is still held until its real time.
func TestExpiryMonotonic(t *testing.T) {
	s := New(store.Options{MinTTL: time.Second, DefaultTTL: time.Hour})
	defer s.Close()
	ctx := t.Context()
	if _, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "a", User: "u1"}); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.projects["p"].locks["a"].ExpiresAt = time.Now().Add(-time.Hour)
	s.mu.Unlock()
	_, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "a", User: "u2"})
	if filelock.ErrorCode(err) != filelock.EFileLocked {
		t.Fatalf("after a wall clock step: %v, want file_locked (the lock still has an hour)", err)
	}
}
