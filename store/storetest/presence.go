package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"filelock"
	"filelock/store"
)

func connect(t *testing.T, s store.Store, project, user, conn string, lease time.Duration) {
	t.Helper()
	if err := s.Connect(t.Context(), project, user, conn, lease); err != nil {
		t.Fatalf("Connect(%s, %s, %s): %v", project, user, conn, err)
	}
}

func disconnect(t *testing.T, s store.Store, project, conn string) {
	t.Helper()
	if err := s.Disconnect(t.Context(), project, conn); err != nil {
		t.Fatalf("Disconnect(%s, %s): %v", project, conn, err)
	}
}

// wantPresence checks that the events after mark are exactly want
// (type:user, or type:file for lock events) and returns the newest id.
func wantPresence(t *testing.T, s store.Store, project, mark string, want ...string) string {
	t.Helper()
	evs := events(t, s, project, mark)
	var got []string
	for _, e := range evs {
		switch e.Type {
		case filelock.EventLockAcquired, filelock.EventLockReleased:
			got = append(got, e.Type+":"+e.Lock.File)
		default:
			got = append(got, e.Type+":"+e.User)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %s, want %v", describe(evs), want)
	}
	return lastID(mark, evs)
}

func testPresence(t *testing.T, newStore factory) {
	t.Run("ConnectRules", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		startRun(t, s, 1)
		mark := filelock.InitialEventID
		// A lease <= 0 never lapses.
		connect(t, s, "p1", "u1", "c1", 0)
		connect(t, s, "p1", "u4", "c4", -time.Second)
		mark = wantPresence(t, s, "p1", mark, "user_joined:u1", "user_joined:u4")
		if err := s.Refresh(t.Context(), "p1", []store.Conn{{ID: "c4", User: "u4"}}, 0); err != nil {
			t.Fatal(err)
		}
		sentinel(t, s, "p1", 200*time.Millisecond) // the reaper has passed
		mark = lastID(mark, events(t, s, "p1", mark))
		if st := status(t, s, "p1"); !slices.Equal(st.Users, []string{"u1", "u4"}) {
			t.Fatalf("connections without a lease lapsed: users %v", st.Users)
		}
		// A live connection id connected again under another user: its
		// disconnect, then a fresh connect.
		connect(t, s, "p1", "u2", "c2", time.Minute)
		connect(t, s, "p1", "u3", "c2", time.Minute)
		mark = wantPresence(t, s, "p1", mark, "user_joined:u2", "user_left:u2", "user_joined:u3")
		if err := s.Refresh(t.Context(), "p1", []store.Conn{{ID: "c2", User: "u2"}}, time.Minute); err != nil {
			t.Fatal(err)
		}
		mark = wantPresence(t, s, "p1", mark, "user_left:u3", "user_joined:u2")
		if st := status(t, s, "p1"); !slices.Equal(st.Users, []string{"u1", "u2", "u4"}) {
			t.Fatalf("users %v", st.Users)
		}
		disconnect(t, s, "p1", "c1")
		wantPresence(t, s, "p1", mark, "user_left:u1")
		// Refresh of no connections does nothing, whatever the context.
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := s.Refresh(ctx, "p1", nil, time.Minute); err != nil {
			t.Fatalf("Refresh of no connections on a cancelled context: %v, want nil", err)
		}
	})

	t.Run("JoinLeave", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		mark := filelock.InitialEventID
		connect(t, s, "p1", "u1", "c1", time.Minute)
		mark = wantPresence(t, s, "p1", mark, "user_joined:u1")
		connect(t, s, "p1", "u1", "c2", time.Minute) // second connection: no event
		connect(t, s, "p1", "u1", "c1", time.Minute) // live connection again: lease only
		mark = wantPresence(t, s, "p1", mark)
		connect(t, s, "p1", "u0", "c3", time.Minute)
		mark = wantPresence(t, s, "p1", mark, "user_joined:u0")
		if st := status(t, s, "p1"); !slices.Equal(st.Users, []string{"u0", "u1"}) || st.LastEventID != mark {
			t.Fatalf("status %+v", st)
		}
		if st := status(t, s, "p2"); len(st.Users) != 0 {
			t.Fatalf("users of another project: %v", st.Users)
		}
		disconnect(t, s, "p1", "c1")
		mark = wantPresence(t, s, "p1", mark)
		disconnect(t, s, "p1", "c2")
		mark = wantPresence(t, s, "p1", mark, "user_left:u1")
		disconnect(t, s, "p1", "c2")      // already gone
		disconnect(t, s, "p1", "unknown") // never known
		disconnect(t, s, "p2", "c3")      // another project's connection id
		mark = wantPresence(t, s, "p1", mark)
		if st := status(t, s, "p1"); !slices.Equal(st.Users, []string{"u0"}) {
			t.Fatalf("users %v", st.Users)
		}
		connect(t, s, "p1", "u1", "c1", time.Minute)
		wantPresence(t, s, "p1", mark, "user_joined:u1")
		// A user present in two projects is counted per project.
		connect(t, s, "p2", "u1", "c9", time.Minute)
		wantPresence(t, s, "p2", filelock.InitialEventID, "user_joined:u1")
	})

	// The last connection closing releases the user's lock after the grace.
	t.Run("DisconnectRelease", func(t *testing.T) {
		t.Parallel()
		o := Opts()
		s := newStore(t, o)
		startRun(t, s, 1)
		connect(t, s, "p1", "u1", "c1", time.Minute)
		l := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "a", User: "u1", TTL: Opts().MaxTTL}).Lock
		connect(t, s, "p1", "u2", "c2", time.Minute) // u2 holds nothing
		mark := status(t, s, "p1").LastEventID
		start := time.Now()
		disconnect(t, s, "p1", "c1")
		disconnect(t, s, "p1", "c2")
		e, seen := waitEvent(t, s, "p1", mark, isReleased("a", filelock.ReasonDisconnected))
		if seen.Sub(start) < o.DisconnectGrace-slack {
			t.Fatalf("released %v after the disconnect, before the grace %v", seen.Sub(start), o.DisconnectGrace)
		}
		if lag := seen.Sub(start) - o.DisconnectGrace; lag > maxLag {
			t.Fatalf("released %v after the grace", lag)
		}
		if e.Lock.User != "u1" || e.Lock.Token != l.Token {
			t.Fatalf("released %+v", e.Lock)
		}
		wantPresence(t, s, "p1", mark, "user_left:u1", "user_left:u2", "lock_released:a")
		if st := status(t, s, "p1"); len(st.Locks) != 0 || len(st.Users) != 0 {
			t.Fatalf("status %+v", st)
		}
	})

	// A reconnect within the grace keeps the lock; a later disconnect
	// releases it.
	t.Run("ReconnectKeeps", func(t *testing.T) {
		t.Parallel()
		o := Opts()
		s := newStore(t, o)
		startRun(t, s, 1)
		connect(t, s, "p1", "u1", "c1", time.Minute)
		l := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "a", User: "u1", TTL: Opts().MaxTTL}).Lock
		mark := status(t, s, "p1").LastEventID
		disconnect(t, s, "p1", "c1")
		connect(t, s, "p1", "u1", "c2", time.Minute) // the page reloaded
		sentinel(t, s, "p1", o.DisconnectGrace+500*time.Millisecond)
		evs := events(t, s, "p1", mark)
		if n := count(evs, isReleased("a", filelock.ReasonDisconnected)); n != 0 {
			t.Fatalf("lock released despite the reconnect: %s", describe(evs))
		}
		st := status(t, s, "p1")
		if len(st.Locks) != 1 || !slices.Equal(st.Users, []string{"u1"}) {
			t.Fatalf("status after reconnect %+v", st)
		}
		sameLock(t, st.Locks[0], l)

		start := time.Now()
		disconnect(t, s, "p1", "c2")
		_, seen := waitEvent(t, s, "p1", st.LastEventID, isReleased("a", filelock.ReasonDisconnected))
		if seen.Sub(start) < o.DisconnectGrace-slack {
			t.Fatalf("released %v after the second disconnect", seen.Sub(start))
		}
	})

	// A connection whose lease lapses (its instance died) is disconnected by
	// Run: user_left, then the lock's release after the grace.
	t.Run("LapsedLease", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		startRun(t, s, 1)
		start := time.Now()
		connect(t, s, "p1", "u1", "c1", 200*time.Millisecond)
		acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "a", User: "u1", TTL: Opts().MaxTTL})
		_, seen := waitEvent(t, s, "p1", filelock.InitialEventID, isPresence(filelock.EventUserLeft, "u1"))
		if seen.Sub(start) < 200*time.Millisecond-slack {
			t.Fatalf("lease lapsed after %v, before 200ms", seen.Sub(start))
		}
		if lag := seen.Sub(start) - 200*time.Millisecond; lag > maxLag {
			t.Fatalf("lapsed lease noticed %v late", lag)
		}
		waitEvent(t, s, "p1", filelock.InitialEventID, isReleased("a", filelock.ReasonDisconnected))
		wantPresence(t, s, "p1", filelock.InitialEventID, "user_joined:u1", "lock_acquired:a", "user_left:u1", "lock_released:a")
		// The lapsed connection is gone: disconnecting it is a no-op.
		disconnect(t, s, "p1", "c1")
		if st := status(t, s, "p1"); len(st.Users) != 0 {
			t.Fatalf("users %v", st.Users)
		}
	})

	// Refresh keeps a short lease alive while the reaper runs.
	t.Run("Refresh", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		startRun(t, s, 1)
		lease := 500 * time.Millisecond
		connect(t, s, "p1", "u1", "c1", lease)
		connect(t, s, "p1", "u1", "c2", lease)
		acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "a", User: "u1", TTL: Opts().MaxTTL})
		mark := status(t, s, "p1").LastEventID
		stop := make(chan struct{})
		refreshed := make(chan error, 1)
		go func() {
			tick := time.NewTicker(40 * time.Millisecond) // the instance's refresh interval
			defer tick.Stop()
			for {
				select {
				case <-stop:
					refreshed <- nil
					return
				case <-tick.C:
					if err := s.Refresh(t.Context(), "p1", []store.Conn{{ID: "c1", User: "u1"}, {ID: "c2", User: "u1"}}, lease); err != nil {
						refreshed <- err
						return
					}
				}
			}
		}()
		sentinel(t, s, "p1", 3*lease)
		close(stop)
		if err := <-refreshed; err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		evs := events(t, s, "p1", mark)
		if n := count(evs, isPresence(filelock.EventUserLeft, "u1")); n != 0 {
			t.Fatalf("refreshed connection lapsed: %s", describe(evs))
		}
		if st := status(t, s, "p1"); !slices.Contains(st.Users, "u1") || len(st.Locks) != 1 {
			t.Fatalf("status %+v", st)
		}
		// Once refreshes stop, both connections lapse: one user_left.
		waitEvent(t, s, "p1", mark, isPresence(filelock.EventUserLeft, "u1"))
		waitEvent(t, s, "p1", mark, isReleased("a", filelock.ReasonDisconnected))
		if n := count(events(t, s, "p1", mark), isPresence(filelock.EventUserLeft, "u1")); n != 1 {
			t.Fatalf("%d user_left", n)
		}
	})

	// Refresh records again, with its user, a connection the store does not
	// know (its lease lapsed, or the backend came back empty), as Connect
	// does: user_joined for the user's first, and the pending disconnect
	// release is cancelled.
	t.Run("RefreshRecreates", func(t *testing.T) {
		t.Parallel()
		o := Opts()
		o.DisconnectGrace = time.Second
		s := newStore(t, o)
		startRun(t, s, 1)
		// Never connected: recorded, one user_joined per user, in order.
		refresh := func(conns ...store.Conn) {
			t.Helper()
			if err := s.Refresh(t.Context(), "p1", conns, time.Minute); err != nil {
				t.Fatalf("Refresh: %v", err)
			}
		}
		refresh(store.Conn{ID: "c1", User: "u1"}, store.Conn{ID: "c2", User: "u2"}, store.Conn{ID: "c3", User: "u1"})
		mark := wantPresence(t, s, "p1", filelock.InitialEventID, "user_joined:u1", "user_joined:u2")
		refresh(store.Conn{ID: "c1", User: "u1"}, store.Conn{ID: "c2", User: "u2"}) // known: lease only
		mark = wantPresence(t, s, "p1", mark)
		if st := status(t, s, "p1"); !slices.Equal(st.Users, []string{"u1", "u2"}) {
			t.Fatalf("users %v", st.Users)
		}
		// Recorded connections are live ones: the last to close starts the grace.
		disconnect(t, s, "p1", "c1")
		mark = wantPresence(t, s, "p1", mark)
		disconnect(t, s, "p1", "c3")
		mark = wantPresence(t, s, "p1", mark, "user_left:u1")

		// A lapsed lease: user_left and a pending release; a refresh within
		// the grace brings the user back and keeps the lock.
		connect(t, s, "p1", "u3", "c4", 200*time.Millisecond)
		acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "a", User: "u3", TTL: o.MaxTTL})
		mark = wantPresence(t, s, "p1", mark, "user_joined:u3", "lock_acquired:a")
		waitEvent(t, s, "p1", mark, isPresence(filelock.EventUserLeft, "u3"))
		refresh(store.Conn{ID: "c4", User: "u3"})
		mark = wantPresence(t, s, "p1", mark, "user_left:u3", "user_joined:u3")
		sentinel(t, s, "p1", o.DisconnectGrace+300*time.Millisecond)
		if n := count(events(t, s, "p1", mark), isReleased("a", filelock.ReasonDisconnected)); n != 0 {
			t.Fatalf("lock released though the connection was recorded again: %s", describe(events(t, s, "p1", mark)))
		}
		if st := status(t, s, "p1"); len(st.Locks) != 1 || !slices.Contains(st.Users, "u3") {
			t.Fatalf("status %+v", st)
		}
	})
}
