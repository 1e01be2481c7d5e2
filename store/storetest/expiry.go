package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"filelock"
	"filelock/store"
)

// maxLag bounds how late an expiry may be seen. I4 asks for 1 s; the suite
// allows 2 s so that a loaded machine does not make it flaky (the precise
// figure belongs to a benchmark).
const maxLag = 2 * time.Second

func testExpiry(t *testing.T, newStore factory) {
	// OnRelease hears of the expired and disconnected releases the store
	// carried out: lazily in a call, or by Run; not of the others.
	t.Run("OnRelease", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		counts := map[string]int{}
		opts := Opts()
		opts.OnRelease = func(reason string, n int) { mu.Lock(); counts[reason] += n; mu.Unlock() }
		// want waits (a release's event can be read before the store has
		// called OnRelease for it) until the counts are expired and
		// disconnected, and fails when they are not within a second.
		want := func(expired, disconnected int) {
			t.Helper()
			deadline := time.Now().Add(time.Second)
			for {
				mu.Lock()
				ok := counts[filelock.ReasonExpired] == expired && counts[filelock.ReasonDisconnected] == disconnected && len(counts) <= 2
				got := fmt.Sprint(counts)
				mu.Unlock()
				if ok {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("OnRelease counted %s, want expired %d, disconnected %d", got, expired, disconnected)
				}
				time.Sleep(5 * time.Millisecond) // poll interval
			}
		}
		s := newStore(t, opts)
		r := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "a", User: "u1", TTL: 100 * time.Millisecond})
		release(t, s, store.ReleaseRequest{ProjectID: "p1", File: "a", User: "u1"})
		r = acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "a", User: "u1", TTL: 100 * time.Millisecond})
		want(0, 0)
		waitUntil(r.Lock.ExpiresAt.Add(slack))
		acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "a", User: "u2", TTL: 100 * time.Millisecond}) // lazy expiry
		want(1, 0)
		st := status(t, s, "p1")
		startRun(t, s, 1)
		waitEvent(t, s, "p1", st.LastEventID, isReleased("a", filelock.ReasonExpired))
		want(2, 0)
		connect(t, s, "p1", "u3", "c3", time.Minute)
		acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "b", User: "u3", TTL: time.Minute})
		st = status(t, s, "p1")
		disconnect(t, s, "p1", "c3")
		waitEvent(t, s, "p1", st.LastEventID, isReleased("b", filelock.ReasonDisconnected))
		want(2, 1)
	})

	// Run releases an expired lock once (two runners on one store), within
	// the lag, never before expires_at.
	t.Run("Reaper", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		startRun(t, s, 2)
		l := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "a", User: "u1", TTL: 200 * time.Millisecond}).Lock
		e, seen := waitEvent(t, s, "p1", filelock.InitialEventID, isReleased("a", filelock.ReasonExpired))
		if seen.Before(l.ExpiresAt.Add(-5 * time.Millisecond)) {
			t.Fatalf("released as expired at %v, before expires_at %v", seen, l.ExpiresAt)
		}
		if lag := seen.Sub(l.ExpiresAt); lag > maxLag {
			t.Fatalf("expiry seen %v after expires_at", lag)
		}
		if e.Lock.User != "u1" || e.Lock.Token != l.Token {
			t.Fatalf("expired event %+v for lock %+v", e, l)
		}
		sentinel(t, s, "p1", 300*time.Millisecond)
		evs := events(t, s, "p1", filelock.InitialEventID)
		if n := count(evs, isReleased("a", filelock.ReasonExpired)); n != 1 {
			t.Fatalf("%d expired releases of one lock: %s", n, describe(evs))
		}
		if st := status(t, s, "p1"); len(st.Locks) != 0 {
			t.Fatalf("locks after expiry: %+v", st.Locks)
		}
	})

	// Many locks over two projects with staggered lifetimes each expire
	// once, in time.
	t.Run("ReaperMany", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		startRun(t, s, 1)
		type held struct {
			project string
			lock    filelock.Lock
		}
		var locks []held
		for i := range 12 {
			p := []string{"p1", "p2"}[i%2]
			ttl := time.Duration(1200-i*90) * time.Millisecond
			l := acquire(t, s, store.AcquireRequest{ProjectID: p, File: fmt.Sprintf("f%02d", i), User: fmt.Sprintf("u%02d", i), TTL: ttl}).Lock
			locks = append(locks, held{p, l})
		}
		for _, h := range locks {
			_, seen := waitEvent(t, s, h.project, filelock.InitialEventID, isReleased(h.lock.File, filelock.ReasonExpired))
			if lag := seen.Sub(h.lock.ExpiresAt); lag > maxLag {
				t.Fatalf("%s expired %v late", h.lock.File, lag)
			}
		}
		for _, p := range []string{"p1", "p2"} {
			evs := events(t, s, p, filelock.InitialEventID)
			if n := count(evs, func(e filelock.Event) bool { return e.Type == filelock.EventLockReleased }); n != 6 {
				t.Fatalf("%s: %d releases, want 6: %s", p, n, describe(evs))
			}
		}
	})

	// Without a reaper, an expired lock is released as expired by the
	// operation it is in the way of.
	t.Run("Lazy", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		ttl := 100 * time.Millisecond

		// Another user takes the expired file.
		a := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "a", User: "u1", TTL: ttl}).Lock
		// The user's own other file is in the way of a new one.
		b := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "b", User: "u3", TTL: ttl}).Lock
		// The user's own expired file is taken afresh, not renewed.
		c := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "c", User: "u4", TTL: ttl}).Lock
		// Release and Heartbeat of expired locks.
		d := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "d", User: "u5", TTL: ttl}).Lock
		e := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "e", User: "u6", TTL: ttl}).Lock
		waitUntil(e.ExpiresAt.Add(20 * time.Millisecond))

		expiredThen := func(mark string, old filelock.Lock, next func(filelock.Event) bool) {
			t.Helper()
			evs := events(t, s, "p1", mark)
			want := 1
			if next != nil {
				want = 2
			}
			if len(evs) != want || !isReleased(old.File, filelock.ReasonExpired)(evs[0]) || evs[0].Lock.User != old.User || evs[0].Lock.Token != old.Token ||
				(next != nil && !next(evs[1])) {
				t.Fatalf("events after lazy expiry of %q: %s", old.File, describe(evs))
			}
		}
		acquiredBy := func(file, user string) func(filelock.Event) bool {
			return func(e filelock.Event) bool {
				return e.Type == filelock.EventLockAcquired && e.Lock.File == file && e.Lock.User == user
			}
		}

		mark := status(t, s, "p1").LastEventID
		r := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "a", User: "u2"})
		if r.Renewed || r.Lock.Token <= e.Token {
			t.Fatalf("takeover of expired lock: %+v", r)
		}
		expiredThen(mark, a, acquiredBy("a", "u2"))

		mark = status(t, s, "p1").LastEventID
		r = acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "b2", User: "u3"})
		if r.Released != nil {
			t.Fatalf("expired lock reported as switched: %+v", r.Released)
		}
		expiredThen(mark, b, acquiredBy("b2", "u3"))

		mark = status(t, s, "p1").LastEventID
		r = acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "c", User: "u4"})
		if r.Renewed || r.Lock.Token == c.Token || r.Lock.AcquiredAt.Equal(c.AcquiredAt) {
			t.Fatalf("own expired lock renewed instead of taken afresh: %+v", r)
		}
		expiredThen(mark, c, acquiredBy("c", "u4"))

		mark = status(t, s, "p1").LastEventID
		_, err := s.Release(t.Context(), store.ReleaseRequest{ProjectID: "p1", File: "d", User: "u5"})
		wantErr(t, err, store.ErrNotLocked("d"))
		expiredThen(mark, d, nil)

		mark = status(t, s, "p1").LastEventID
		_, err = s.Heartbeat(t.Context(), "p1", "u6")
		wantErr(t, err, store.ErrNoLockHeld("p1", "u6"))
		expiredThen(mark, e, nil)

		m := newModel(filelock.Status{})
		for _, ev := range events(t, s, "p1", filelock.InitialEventID) {
			if err := m.apply(ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.diff(status(t, s, "p1")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Heartbeat", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		_, err := s.Heartbeat(t.Context(), "p1", "u1")
		wantErr(t, err, store.ErrNoLockHeld("p1", "u1"))
		lock(t, s, "p1", "a", "u2")
		_, err = s.Heartbeat(t.Context(), "p1", "u1")
		wantErr(t, err, store.ErrNoLockHeld("p1", "u1"))

		ttl := 400 * time.Millisecond
		l := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "b", User: "u1", TTL: ttl}).Lock
		mark := status(t, s, "p1").LastEventID
		waitUntil(l.AcquiredAt.Add(60 * time.Millisecond))
		before := time.Now()
		hb, err := s.Heartbeat(t.Context(), "p1", "u1")
		if err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		sameLock(t, hb, l)
		if hb.ExpiresAt.Before(before.Add(ttl-slack)) || hb.ExpiresAt.After(after.Add(ttl+slack)) || !hb.ExpiresAt.After(l.ExpiresAt) {
			t.Fatalf("heartbeat expires_at %v, want now+%v (was %v)", hb.ExpiresAt, ttl, l.ExpiresAt)
		}
		if hb.TTL != ttl {
			t.Fatalf("heartbeat TTL %v", hb.TTL)
		}
		if evs := events(t, s, "p1", mark); len(evs) != 0 {
			t.Fatalf("heartbeat appended events: %s", describe(evs))
		}
		st := status(t, s, "p1")
		if !st.Locks[1].ExpiresAt.Equal(hb.ExpiresAt) {
			t.Fatalf("status expires_at %v, heartbeat said %v", st.Locks[1].ExpiresAt, hb.ExpiresAt)
		}
		// In another project the user holds nothing.
		_, err = s.Heartbeat(t.Context(), "p2", "u1")
		wantErr(t, err, store.ErrNoLockHeld("p2", "u1"))
	})

	// Heartbeats keep a lock alive past its first expires_at while the
	// reaper runs; once they stop, it expires.
	t.Run("HeartbeatKeepsAlive", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		startRun(t, s, 1)
		ttl := 500 * time.Millisecond
		l := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "a", User: "u1", TTL: ttl}).Lock
		until := l.ExpiresAt.Add(400 * time.Millisecond)
		var last filelock.Lock
		for time.Now().Before(until) {
			hb, err := s.Heartbeat(t.Context(), "p1", "u1")
			if err != nil {
				t.Fatalf("heartbeat at %v (first expires_at %v): %v", time.Now(), l.ExpiresAt, err)
			}
			last = hb
			time.Sleep(40 * time.Millisecond) // the client's heartbeat interval
		}
		evs := events(t, s, "p1", filelock.InitialEventID)
		if len(evs) != 1 {
			t.Fatalf("heartbeated lock changed: %s", describe(evs))
		}
		_, seen := waitEvent(t, s, "p1", evs[0].ID(), isReleased("a", filelock.ReasonExpired))
		if seen.Before(last.ExpiresAt.Add(-5 * time.Millisecond)) {
			t.Fatalf("released at %v, before the heartbeated expires_at %v", seen, last.ExpiresAt)
		}
	})
}
