package client_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"filelock"
	"filelock/client"
	"filelock/handlers"
	"filelock/store"
)

// next returns the stream's next event, failing after waitTimeout.
func next(t *testing.T, s *client.Stream) filelock.Event {
	t.Helper()
	select {
	case ev, ok := <-s.C:
		if !ok {
			t.Fatalf("stream ended: %v", s.Err())
		}
		return ev
	case <-time.After(waitTimeout):
		t.Fatalf("no event within %v", waitTimeout)
	}
	return filelock.Event{}
}

// TestEventsResume: the stream starts with a snapshot, delivers events in
// order, and after its connection is cut resumes after the last event it
// delivered: a short gap is replayed without a snapshot; a gap longer than
// the history brings a fresh snapshot that matches /status.
func TestEventsResume(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T, store.Options) store.Store) {
		opts := store.DefaultOptions()
		opts.History = 4
		st := newStore(t, opts)
		ts := serve(t, handlers.Config{Store: st, Options: opts})
		g := newGate(t, ts.URL)
		direct := newClient(t, ts.URL)
		ctx := t.Context()
		const p = "resume"
		lock := func(file, user string) filelock.Lock {
			t.Helper()
			r, err := direct.Lock(ctx, client.LockRequest{ProjectID: p, File: file, UserID: user})
			if err != nil {
				t.Fatal(err)
			}
			return r.Lock
		}
		unlock := func(file, user string) {
			t.Helper()
			if _, err := direct.Unlock(ctx, client.UnlockRequest{ProjectID: p, File: file, UserID: user}); err != nil {
				t.Fatal(err)
			}
		}
		first := lock("a", "u1")

		connects := make(chan string, 16)
		s := newClient(t, g.ts.URL).Events(ctx, p, client.StreamOptions{Connected: func(from string) { connects <- from }})
		defer s.Close()
		snap := next(t, s)
		if snap.Type != filelock.EventSnapshot || len(snap.Locks) != 1 || snap.Locks[0].Token != first.Token || snap.ProjectID != p {
			t.Fatalf("first event %+v, want the snapshot with a's lock", snap)
		}
		if from := <-connects; from != "" {
			t.Fatalf("first connection resumed from %q", from)
		}
		b := lock("b", "u2")
		ev := next(t, s)
		if ev.Type != filelock.EventLockAcquired || ev.Lock.Token != b.Token || ev.Lock.File != "b" || ev.Lock.User != "u2" || ev.Seq <= snap.Seq {
			t.Fatalf("event %+v, want b's lock_acquired after the snapshot", ev)
		}
		if !ev.Lock.ExpiresAt.Equal(b.ExpiresAt) || !ev.Lock.AcquiredAt.Equal(b.AcquiredAt) {
			t.Fatalf("event lock times %v/%v, want %v/%v", ev.Lock.AcquiredAt, ev.Lock.ExpiresAt, b.AcquiredAt, b.ExpiresAt)
		}

		// A short gap: replayed, no snapshot.
		g.setShut(true)
		unlock("b", "u2")
		c := lock("c", "u3")
		g.setShut(false)
		if from := <-connects; from != ev.ID() {
			t.Fatalf("reconnected from %q, want %q", from, ev.ID())
		}
		rel := next(t, s)
		if rel.Type != filelock.EventLockReleased || rel.Reason != filelock.ReasonUnlocked || rel.Lock.Token != b.Token || rel.Seq <= ev.Seq {
			t.Fatalf("after reconnect %+v, want b's lock_released", rel)
		}
		acq := next(t, s)
		if acq.Type != filelock.EventLockAcquired || acq.Lock.Token != c.Token {
			t.Fatalf("after reconnect %+v, want c's lock_acquired", acq)
		}

		// A gap longer than the history: a fresh snapshot instead.
		g.setShut(true)
		for i := range 3 * opts.History {
			f := fmt.Sprint("g", i)
			lock(f, "u4")
			unlock(f, "u4")
		}
		want, err := direct.Status(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		g.setShut(false)
		if from := <-connects; from != acq.ID() {
			t.Fatalf("reconnected from %q, want %q", from, acq.ID())
		}
		snap2 := next(t, s)
		if snap2.Type != filelock.EventSnapshot || snap2.ID() != want.LastEventID || !sameLocks(snap2.Locks, want.Locks) {
			t.Fatalf("after a long gap %+v, want a snapshot equal to /status %+v", snap2, want)
		}
		d := lock("d", "u5")
		if ev := next(t, s); ev.Type != filelock.EventLockAcquired || ev.Lock.Token != d.Token {
			t.Fatalf("after the snapshot %+v, want d's lock_acquired", ev)
		}
		if r := g.resumes(); len(r) != 3 || r[0] != "" || r[1] != ev.ID() || r[2] != acq.ID() {
			t.Fatalf("stream requests resumed from %q", r)
		}
	})
}

// TestEventsEnd: an invalid project ends the stream with the server's
// refusal; Close ends a live one.
func TestEventsEnd(t *testing.T) {
	opts := store.DefaultOptions()
	st := stores[0].new(t, opts)
	ts := serve(t, handlers.Config{Store: st, Options: opts})
	c := newClient(t, ts.URL)
	s := c.Events(t.Context(), "bad project", client.StreamOptions{})
	for range s.C {
		t.Fatal("event on an invalid stream")
	}
	wantErr(t, s.Err(), filelock.EInvalid, "project_id")

	live := c.Events(t.Context(), "p", client.StreamOptions{UserID: "watcher"})
	if ev := next(t, live); ev.Type != filelock.EventSnapshot || !slices.Equal(ev.Users, []string{"watcher"}) {
		t.Fatalf("first event %+v, want a snapshot with the watcher present", ev)
	}
	live.Close()
	if _, ok := <-live.C; ok {
		t.Fatal("event after Close")
	}
}

func sameLocks(a, b []filelock.Lock) bool {
	return slices.EqualFunc(a, b, func(x, y filelock.Lock) bool {
		return x.File == y.File && x.User == y.User && x.Token == y.Token && x.ExpiresAt.Equal(y.ExpiresAt)
	})
}
