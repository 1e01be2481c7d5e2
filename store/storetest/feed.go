package storetest

import (
	"testing"
	"time"

	"filelock"
	"filelock/store"
)

func newFeed(t *testing.T, s store.Store, projects ...string) store.Feed {
	t.Helper()
	f, err := s.Feed(t.Context())
	if err != nil {
		t.Fatalf("Feed: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	for _, p := range projects {
		if err := f.Subscribe(t.Context(), p); err != nil {
			t.Fatalf("Subscribe(%s): %v", p, err)
		}
	}
	return f
}

// receive reads the next n event notices (Resync notices are skipped: a
// healthy feed delivers every event anyway), failing on a notice of a
// project not in allowed.
func receive(t *testing.T, f store.Feed, n int, allowed ...string) []filelock.Event {
	t.Helper()
	deadline := time.After(pollTimeout)
	var got []filelock.Event
	for len(got) < n {
		select {
		case nt, ok := <-f.Notices():
			if !ok {
				t.Fatalf("feed closed after %d of %d notices", len(got), n)
			}
			if nt.Resync {
				continue
			}
			ok = false
			for _, p := range allowed {
				ok = ok || nt.ProjectID == p
			}
			if !ok {
				t.Fatalf("notice of project %q (event %s %s); subscribed to %v", nt.ProjectID, nt.Event.ID(), nt.Event.Type, allowed)
			}
			if nt.Event.ProjectID != nt.ProjectID {
				t.Fatalf("notice of %q carries an event of %q", nt.ProjectID, nt.Event.ProjectID)
			}
			got = append(got, nt.Event)
		case <-deadline:
			t.Fatalf("received %d of %d notices within %v: %s", len(got), n, pollTimeout, describe(got))
		}
	}
	return got
}

// sameEvents compares notified events with the log's.
func sameEvents(t *testing.T, got, want []filelock.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %s, want %s", describe(got), describe(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Seq != w.Seq || g.Prev != w.Prev || g.Type != w.Type || g.ProjectID != w.ProjectID || g.Reason != w.Reason || g.User != w.User ||
			g.Lock.File != w.Lock.File || g.Lock.User != w.Lock.User || g.Lock.Token != w.Lock.Token {
			t.Fatalf("notice %d: %+v, log has %+v", i, g, w)
		}
	}
}

func testFeed(t *testing.T, newStore factory) {
	t.Run("Delivery", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		f := newFeed(t, s, "p1")
		lock(t, s, "p1", "a", "u1")
		lock(t, s, "p2", "x", "u1")
		connect(t, s, "p1", "u2", "c1", time.Minute)
		acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "b", User: "u1", ReleasePrevious: true})
		lock(t, s, "p2", "y", "u2")
		disconnect(t, s, "p1", "c1")
		got := receive(t, f, 5, "p1")
		sameEvents(t, got, events(t, s, "p1", filelock.InitialEventID))
	})

	t.Run("Unsubscribe", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		f := newFeed(t, s, "p1", "p2")
		lock(t, s, "p1", "a", "u1")
		receive(t, f, 1, "p1")
		if err := f.Unsubscribe(t.Context(), "p1"); err != nil {
			t.Fatal(err)
		}
		lock(t, s, "p1", "b", "u2")
		lock(t, s, "p2", "a", "u1")
		got := receive(t, f, 1, "p2") // a notice of p1 would come first and fail
		sameEvents(t, got, events(t, s, "p2", filelock.InitialEventID))
		if err := f.Subscribe(t.Context(), "p1"); err != nil {
			t.Fatal(err)
		}
		l := lock(t, s, "p1", "c", "u3")
		if got := receive(t, f, 1, "p1"); got[0].Lock.Token != l.Token {
			t.Fatalf("resubscribed: %s", describe(got))
		}
	})

	t.Run("SeveralFeeds", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		f1 := newFeed(t, s, "p1")
		f2 := newFeed(t, s, "p1")
		lock(t, s, "p1", "a", "u1")
		want := events(t, s, "p1", filelock.InitialEventID)
		sameEvents(t, receive(t, f1, 1, "p1"), want)
		sameEvents(t, receive(t, f2, 1, "p1"), want)
		if err := f1.Close(); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(pollTimeout)
	drain:
		for {
			select {
			case _, ok := <-f1.Notices():
				if !ok {
					break drain
				}
			case <-deadline:
				t.Fatal("Notices not closed by Close")
			}
		}
		release(t, s, store.ReleaseRequest{ProjectID: "p1", File: "a", User: "u1"})
		sameEvents(t, receive(t, f2, 1, "p1"), events(t, s, "p1", want[0].ID()))
	})

	// Many events in a burst arrive in order (or, past the feed's buffer,
	// with a Resync telling the reader to catch up).
	t.Run("Burst", func(t *testing.T) {
		t.Parallel()
		o := Opts()
		o.History = 10000
		s := newStore(t, o)
		f := newFeed(t, s, "p1")
		const n = 200
		for i := range n {
			if i%2 == 0 {
				lock(t, s, "p1", "a", "u1")
			} else {
				release(t, s, store.ReleaseRequest{ProjectID: "p1", File: "a", User: "u1"})
			}
		}
		want := events(t, s, "p1", filelock.InitialEventID)
		var got []filelock.Event
		deadline := time.After(pollTimeout)
		for len(got) == 0 || got[len(got)-1].Seq != want[n-1].Seq {
			select {
			case nt, ok := <-f.Notices():
				if !ok {
					t.Fatal("feed closed")
				}
				if nt.Resync {
					// Catch up from the log, as a reader would.
					got = append(got[:0], events(t, s, "p1", filelock.InitialEventID)...)
					continue
				}
				if len(got) > 0 && nt.Event.Seq <= got[len(got)-1].Seq {
					continue // already caught up
				}
				if len(got) == 0 && nt.Event.Seq != want[0].Seq {
					t.Fatalf("first notice %d, want %d, without a Resync", nt.Event.Seq, want[0].Seq)
				}
				if len(got) > 0 && nt.Event.Prev != got[len(got)-1].Seq {
					t.Fatalf("notice %d after %d without a Resync", nt.Event.Seq, got[len(got)-1].Seq)
				}
				got = append(got, nt.Event)
			case <-deadline:
				t.Fatalf("got %d of %d events", len(got), n)
			}
		}
		sameEvents(t, got, want)
	})
}
