package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"filelock"
	"filelock/store"
)

func wantGone(t *testing.T, s store.Store, project, afterID string) {
	t.Helper()
	evs, err := s.Events(t.Context(), project, afterID)
	if !errors.Is(err, store.ErrHistoryGone) {
		t.Fatalf("Events(%s, %q) = %s, %v; want ErrHistoryGone", project, afterID, describe(evs), err)
	}
}

func testEvents(t *testing.T, newStore factory) {
	t.Run("ZeroOptions", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, store.Options{}) // every field the default: History is not 0
		for i := range 3 {
			lock(t, s, "p1", fmt.Sprint("f", i), fmt.Sprint("u", i))
		}
		if evs := events(t, s, "p1", filelock.InitialEventID); len(evs) != 3 {
			t.Fatalf("with zero Options, the history holds %s, want the 3 events", describe(evs))
		}
		r := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "g", User: "v"})
		if d := r.Lock.ExpiresAt.Sub(r.Lock.AcquiredAt); d != store.DefaultOptions().DefaultTTL {
			t.Fatalf("with zero Options a lock lives %v, want the default TTL", d)
		}
	})
	t.Run("NoEvents", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		before := time.Now()
		st := status(t, s, "p1")
		if st.LastEventID != filelock.InitialEventID || len(st.Locks) != 0 || len(st.Users) != 0 {
			t.Fatalf("status of a new project: %+v", st)
		}
		if st.ServerTime.Before(before.Add(-slack)) || st.ServerTime.After(time.Now().Add(slack)) {
			t.Fatalf("status server time %v, now is %v", st.ServerTime, before)
		}
		if evs := events(t, s, "p1", filelock.InitialEventID); len(evs) != 0 {
			t.Fatalf("events of a new project: %s", describe(evs))
		}
		for _, id := range []string{"1", "42", strconv.FormatInt(time.Now().UnixMicro()+1, 10), "", "x", "-1", "1.5", "0x10", " 1", "99999999999999999999999"} {
			wantGone(t, s, "p1", id)
		}
		// Reading never creates events.
		if st := status(t, s, "p1"); st.LastEventID != filelock.InitialEventID {
			t.Fatalf("status after reads: %+v", st)
		}
	})

	t.Run("StatusOrder", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		files := []string{"b", "a/z", "ä", "a", "B", "a b", "a/", "가", "Z", "_"}
		for i, f := range files {
			lock(t, s, "p1", f, fmt.Sprintf("holder%d", i))
		}
		users := []string{"zed", "Amy", "bob", "émile", "Bob", "_x", "가나"}
		for i, u := range users {
			if err := s.Connect(t.Context(), "p1", u, fmt.Sprintf("c%d", i), time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		st := status(t, s, "p1")
		if err := checkStatusOrder(st); err != nil {
			t.Fatal(err)
		}
		if want := slices.Sorted(slices.Values(files)); len(st.Locks) != len(want) || st.Locks[0].File != want[0] || st.Locks[len(want)-1].File != want[len(want)-1] {
			t.Fatalf("status locks %+v, want files %q", st.Locks, want)
		}
		if want := slices.Sorted(slices.Values(users)); !slices.Equal(st.Users, want) {
			t.Fatalf("status users %q, want %q", st.Users, want)
		}
	})

	// Events(Status.LastEventID) after more changes returns exactly those.
	t.Run("StatusThenEvents", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		lock(t, s, "p1", "a", "u1")
		if err := s.Connect(t.Context(), "p1", "u1", "c1", time.Minute); err != nil {
			t.Fatal(err)
		}
		st := status(t, s, "p1")
		all := events(t, s, "p1", filelock.InitialEventID)
		if len(all) != 2 || st.LastEventID != all[1].ID() {
			t.Fatalf("status id %s, events %s", st.LastEventID, describe(all))
		}
		if evs := events(t, s, "p1", st.LastEventID); len(evs) != 0 {
			t.Fatalf("events after the newest: %s", describe(evs))
		}
		acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "b", User: "u1", ReleasePrevious: true})
		lock(t, s, "p1", "a", "u2")
		if err := s.Disconnect(t.Context(), "p1", "c1"); err != nil {
			t.Fatal(err)
		}
		evs := events(t, s, "p1", st.LastEventID)
		want := []string{"lock_released", "lock_acquired", "lock_acquired", "user_left"}
		var got []string
		for _, e := range evs {
			got = append(got, e.Type)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("events after status: %s, want %v", describe(evs), want)
		}
		m := newModel(st)
		for _, e := range evs {
			if err := m.apply(e); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.diff(status(t, s, "p1")); err != nil {
			t.Fatal(err)
		}
	})

	// Status taken while others change the project: each one plus the
	// events after its LastEventID is the final state (nothing missed,
	// nothing repeated).
	t.Run("StatusConcurrent", func(t *testing.T) {
		t.Parallel()
		o := Opts()
		o.History = 100000
		s := newStore(t, o)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				user := fmt.Sprintf("u%d", w)
				for i := range 40 {
					var err error
					switch i % 4 {
					case 0:
						err = s.Connect(t.Context(), "p1", user, fmt.Sprintf("%s-c%d", user, i), time.Minute)
					case 1:
						_, err = s.Acquire(t.Context(), store.AcquireRequest{ProjectID: "p1", File: fmt.Sprintf("f%d", (w+i)%3), User: user, TTL: o.MaxTTL, ReleasePrevious: true})
					case 2:
						_, err = s.Release(t.Context(), store.ReleaseRequest{ProjectID: "p1", File: fmt.Sprintf("f%d", (w+i)%3), User: user})
					case 3:
						err = s.Disconnect(t.Context(), "p1", fmt.Sprintf("%s-c%d", user, i-3))
					}
					switch filelock.ErrorCode(err) {
					case filelock.EFileLocked, filelock.ENotLocked, filelock.ENotOwner:
					default:
						if err != nil {
							t.Errorf("%s op %d: %v", user, i, err)
							return
						}
					}
				}
			}()
		}
		var snaps []filelock.Status
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
	loop:
		for {
			select {
			case <-done:
				break loop
			default:
				snaps = append(snaps, status(t, s, "p1"))
			}
		}
		final := status(t, s, "p1")
		for i, st := range append(snaps, final) {
			if err := checkStatusOrder(st); err != nil {
				t.Fatalf("status %d: %v", i, err)
			}
			m := newModel(st)
			evs := events(t, s, "p1", st.LastEventID)
			for _, e := range evs {
				if err := m.apply(e); err != nil {
					t.Fatalf("status %d (%s) + events: %v", i, st.LastEventID, err)
				}
			}
			if err := m.diff(final); err != nil {
				t.Fatalf("status %d (%s) + %d events: %v", i, st.LastEventID, len(evs), err)
			}
		}
	})

	// "0" replays everything while the history starts with the first event.
	t.Run("InitialReplay", func(t *testing.T) {
		t.Parallel()
		o := Opts()
		o.History = 5
		s := newStore(t, o)
		lock(t, s, "p1", "a", "u1")
		release(t, s, store.ReleaseRequest{ProjectID: "p1", File: "a", User: "u1"})
		lock(t, s, "p1", "a", "u1")
		evs := events(t, s, "p1", filelock.InitialEventID)
		if len(evs) != 3 {
			t.Fatalf("replay from 0: %s", describe(evs))
		}
		first := evs[0]
		if uint64(evs[0].Lock.Token) != first.Seq {
			t.Fatalf("first token %d, Seq %d", evs[0].Lock.Token, first.Seq)
		}
		// The id right before the first event's was never handed out.
		wantGone(t, s, "p1", strconv.FormatUint(first.Seq-1, 10))
		// Ids are seeded from the store's clock, so another life's ids are unknown.
		if lo := uint64(time.Now().Add(-time.Hour).UnixMicro()); first.Seq < lo {
			t.Fatalf("first Seq %d is not seeded from the clock", first.Seq)
		}
		if evs := events(t, s, "p1", first.ID()); len(evs) != 2 {
			t.Fatalf("events after the first: %s", describe(evs))
		}
		release(t, s, store.ReleaseRequest{ProjectID: "p1", File: "a", User: "u1"})
		lock(t, s, "p1", "a", "u1")
		if evs := events(t, s, "p1", filelock.InitialEventID); len(evs) != 5 || evs[0].Seq != first.Seq {
			t.Fatalf("full window from 0: %s", describe(evs))
		}
		release(t, s, store.ReleaseRequest{ProjectID: "p1", File: "a", User: "u1"}) // the first event falls out
		wantGone(t, s, "p1", filelock.InitialEventID)
		if evs := events(t, s, "p1", first.ID()); len(evs) != 5 {
			t.Fatalf("events after the oldest-1: %s", describe(evs))
		}
	})

	t.Run("HistoryGone", func(t *testing.T) {
		t.Parallel()
		o := Opts()
		o.History = 5
		s := newStore(t, o)
		var ids []string
		for i := range 12 {
			if i%2 == 0 {
				lock(t, s, "p1", "a", "u1")
			} else {
				release(t, s, store.ReleaseRequest{ProjectID: "p1", File: "a", User: "u1"})
			}
			ids = append(ids, status(t, s, "p1").LastEventID)
		}
		cur, _ := filelock.ParseEventID(ids[11])
		first, _ := filelock.ParseEventID(ids[0])
		// The window is the last 5 events: resuming after ids[6] gets them all,
		// after anything older is gone.
		if evs := events(t, s, "p1", ids[6]); len(evs) != 5 {
			t.Fatalf("resume at the window's edge: %s", describe(evs))
		}
		for _, id := range ids[7:] {
			events(t, s, "p1", id)
		}
		for _, id := range ids[:6] {
			wantGone(t, s, "p1", id)
		}
		for _, id := range []string{
			filelock.InitialEventID, strconv.FormatUint(cur+1, 10), strconv.FormatUint(cur+1000, 10), "1",
			strconv.FormatUint(first-1000, 10), "", "abc", "-3", ids[11] + "x", "+" + ids[11], ids[11] + "-0",
			"18446744073709551616", "99999999999999999999999",
		} {
			wantGone(t, s, "p1", id)
		}
		if evs := events(t, s, "p1", ids[11]); len(evs) != 0 {
			t.Fatalf("events after the newest: %s", describe(evs))
		}
	})

	t.Run("Isolation", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		// I1 and I2 are per project.
		a1 := lock(t, s, "p1", "same.jpg", "u1")
		a2 := lock(t, s, "p2", "same.jpg", "u2")
		lock(t, s, "p2", "other.jpg", "u1")
		if err := s.Connect(t.Context(), "p1", "u1", "c1", time.Minute); err != nil {
			t.Fatal(err)
		}
		release(t, s, store.ReleaseRequest{ProjectID: "p2", File: "same.jpg", User: "u2"})
		_, err := s.Release(t.Context(), store.ReleaseRequest{ProjectID: "p2", File: "same.jpg", User: "u2"})
		wantErr(t, err, store.ErrNotLocked("same.jpg"))
		st1, st2 := status(t, s, "p1"), status(t, s, "p2")
		if len(st1.Locks) != 1 || len(st1.Users) != 1 {
			t.Fatalf("p1 status %+v", st1)
		}
		sameLock(t, st1.Locks[0], a1)
		if len(st2.Locks) != 1 || st2.Locks[0].File != "other.jpg" || len(st2.Users) != 0 {
			t.Fatalf("p2 status %+v", st2)
		}
		if e1 := events(t, s, "p1", filelock.InitialEventID); len(e1) != 2 {
			t.Fatalf("p1 events %s", describe(e1))
		}
		if e2 := events(t, s, "p2", filelock.InitialEventID); len(e2) != 3 || e2[0].Lock.Token != a2.Token {
			t.Fatalf("p2 events %s", describe(e2))
		}
		// A project whose id is a prefix of another's shares nothing with it.
		lock(t, s, "p", "same.jpg", "u9")
		if st := status(t, s, "p1"); len(st.Locks) != 1 || st.Locks[0].User != "u1" {
			t.Fatalf("p1 after p: %+v", st)
		}
	})
}
