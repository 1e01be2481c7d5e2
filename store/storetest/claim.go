package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"filelock"
	"filelock/store"
)

func claim(t *testing.T, s store.Store, req store.ClaimRequest) store.AcquireResult {
	t.Helper()
	r, err := s.Claim(t.Context(), req)
	if err != nil {
		t.Fatalf("Claim(%s, %q, %q): %v", req.ProjectID, req.Files, req.User, err)
	}
	if r.Lock.ProjectID != req.ProjectID || r.Lock.User != req.User {
		t.Fatalf("Claim(%s, %q, %q) returned lock %+v", req.ProjectID, req.Files, req.User, r.Lock)
	}
	return r
}

func testClaim(t *testing.T, newStore factory) {
	// The first listed file that is free is taken, in the caller's order.
	t.Run("Order", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		taken := lock(t, s, "p1", "a", "u2")
		mark := status(t, s, "p1").LastEventID
		r := claim(t, s, store.ClaimRequest{ProjectID: "p1", Files: []string{"a", "c", "b"}, User: "u1"})
		if r.Lock.File != "c" || r.Renewed || r.Released != nil {
			t.Fatalf("claim took %+v (renewed %v, released %v), want c", r.Lock, r.Renewed, r.Released)
		}
		evs := events(t, s, "p1", mark)
		if len(evs) != 1 || evs[0].Type != filelock.EventLockAcquired || evs[0].Lock.File != "c" || evs[0].Lock.User != "u1" ||
			uint64(r.Lock.Token) != evs[0].Seq || r.Lock.Token <= taken.Token {
			t.Fatalf("claim events: %s (token %d)", describe(evs), r.Lock.Token)
		}
		st := status(t, s, "p1")
		if len(st.Locks) != 2 || st.Locks[1].File != "c" {
			t.Fatalf("status after claim: %+v", st.Locks)
		}
		sameLock(t, st.Locks[1], r.Lock)
	})

	// The user's own listed file comes back renewed, when no free file is
	// listed before it; a free file listed before it is taken instead, and
	// the user's lock is switched.
	t.Run("Renew", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		lock(t, s, "p1", "a", "u2")
		mine := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "b", User: "u1", TTL: 300 * time.Millisecond}).Lock
		mark := status(t, s, "p1").LastEventID
		r := claim(t, s, store.ClaimRequest{ProjectID: "p1", Files: []string{"a", "b", "c"}, User: "u1", TTL: 2 * time.Second})
		if !r.Renewed || r.Released != nil {
			t.Fatalf("claim of the user's own file: renewed %v, released %v", r.Renewed, r.Released)
		}
		sameLock(t, r.Lock, mine)
		if r.Lock.TTL != 2*time.Second || !r.Lock.ExpiresAt.After(mine.ExpiresAt) {
			t.Fatalf("renewed lock %+v, was %+v", r.Lock, mine)
		}
		if evs := events(t, s, "p1", mark); len(evs) != 0 {
			t.Fatalf("renewal appended events: %s", describe(evs))
		}
		r = claim(t, s, store.ClaimRequest{ProjectID: "p1", Files: []string{"c", "b"}, User: "u1"})
		if r.Lock.File != "c" || r.Renewed || r.Released == nil {
			t.Fatalf("claim with a free file before the own one: %+v", r)
		}
		sameLock(t, *r.Released, mine)
	})

	// A lock the user holds on an unlisted file is released (switched)
	// right before the new lock_acquired.
	t.Run("Switch", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		old := lock(t, s, "p1", "x", "u1")
		lock(t, s, "p1", "a", "u2")
		mark := status(t, s, "p1").LastEventID
		r := claim(t, s, store.ClaimRequest{ProjectID: "p1", Files: []string{"a", "b"}, User: "u1"})
		if r.Lock.File != "b" || r.Renewed || r.Released == nil {
			t.Fatalf("switching claim: %+v", r)
		}
		sameLock(t, *r.Released, old)
		evs := events(t, s, "p1", mark)
		if len(evs) != 2 || !isReleased("x", filelock.ReasonSwitched)(evs[0]) || evs[0].Lock.User != "u1" || evs[0].Lock.Token != old.Token ||
			evs[1].Type != filelock.EventLockAcquired || evs[1].Lock.File != "b" || uint64(r.Lock.Token) != evs[1].Seq {
			t.Fatalf("switching claim events: %s", describe(evs))
		}
		if st := status(t, s, "p1"); len(st.Locks) != 2 || st.Locks[0].File != "a" || st.Locks[1].File != "b" {
			t.Fatalf("status after switch: %+v", st.Locks)
		}
	})

	// Every listed file held by others: none_free, no lock, nothing changes
	// (the user keeps the lock it had).
	t.Run("NoneFree", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		mine := lock(t, s, "p1", "x", "u1")
		lock(t, s, "p1", "a", "u2")
		lock(t, s, "p1", "b", "u3")
		before := status(t, s, "p1")
		_, err := s.Claim(t.Context(), store.ClaimRequest{ProjectID: "p1", Files: []string{"a", "b", "a"}, User: "u1"})
		wantErr(t, err, store.ErrNoneFree())
		if evs := events(t, s, "p1", before.LastEventID); len(evs) != 0 {
			t.Fatalf("none_free appended events: %s", describe(evs))
		}
		after := status(t, s, "p1")
		if len(after.Locks) != 3 {
			t.Fatalf("locks after none_free: %+v", after.Locks)
		}
		for i := range after.Locks {
			sameLock(t, after.Locks[i], before.Locks[i])
			if !after.Locks[i].ExpiresAt.Equal(before.Locks[i].ExpiresAt) {
				t.Fatalf("none_free changed %+v to %+v", before.Locks[i], after.Locks[i])
			}
		}
		sameLock(t, after.Locks[2], mine)
	})

	// An expired lock counts as free: released as expired first, then taken.
	t.Run("Expired", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		old := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "a", User: "u2", TTL: 100 * time.Millisecond}).Lock
		lock(t, s, "p1", "b", "u3")
		mark := status(t, s, "p1").LastEventID
		waitUntil(old.ExpiresAt.Add(20 * time.Millisecond))
		r := claim(t, s, store.ClaimRequest{ProjectID: "p1", Files: []string{"b", "a"}, User: "u1"})
		if r.Lock.File != "a" || r.Renewed || r.Released != nil || r.Lock.Token <= old.Token {
			t.Fatalf("claim of an expired lock: %+v", r)
		}
		evs := events(t, s, "p1", mark)
		if len(evs) != 2 || !isReleased("a", filelock.ReasonExpired)(evs[0]) || evs[0].Lock.User != "u2" || evs[0].Lock.Token != old.Token ||
			evs[1].Type != filelock.EventLockAcquired || evs[1].Lock.File != "a" || evs[1].Lock.User != "u1" {
			t.Fatalf("claim of an expired lock, events: %s", describe(evs))
		}
	})

	// Many users claim from one list at once, over and over: never one file
	// with two holders (I1) nor a user with two files (I2); every file is
	// taken while more users than files ask.
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		o := Opts()
		o.History = 100000
		s := newStore(t, o)
		const users, rounds = 24, 6
		files := make([]string, 10)
		for i := range files {
			files[i] = fmt.Sprintf("img/%02d.jpg", i)
		}
		var mu sync.Mutex
		var won []filelock.Lock // fresh locks the claims answered
		var wg sync.WaitGroup
		start := make(chan struct{})
		for u := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				user := fmt.Sprintf("user%02d", u)
				<-start
				for range rounds {
					r, err := s.Claim(t.Context(), store.ClaimRequest{ProjectID: "p1", Files: files, User: user, TTL: o.MaxTTL})
					if filelock.ErrorCode(err) == filelock.ENoneFree {
						continue
					}
					if err != nil {
						t.Errorf("%s: Claim: %v", user, err)
						return
					}
					if !r.Renewed {
						mu.Lock()
						won = append(won, r.Lock)
						mu.Unlock()
					}
					if u%3 == 0 { // some give their file up again
						tok := r.Lock.Token
						if _, err := s.Release(t.Context(), store.ReleaseRequest{ProjectID: "p1", File: r.Lock.File, User: user, Token: &tok}); err != nil {
							t.Errorf("%s: Release: %v", user, err)
							return
						}
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		if t.Failed() {
			return
		}
		// The log replays without two holders of a file nor two files of a
		// user, and holds every lock the claims answered.
		m := newModel(filelock.Status{})
		acquired := map[int64]filelock.Lock{}
		for _, e := range events(t, s, "p1", filelock.InitialEventID) {
			if err := m.apply(e); err != nil {
				t.Fatal(err)
			}
			if e.Type == filelock.EventLockAcquired {
				acquired[e.Lock.Token] = e.Lock
			}
		}
		for _, l := range won {
			if e, ok := acquired[l.Token]; !ok || e.File != l.File || e.User != l.User {
				t.Fatalf("claimed %+v, the log has %+v", l, e)
			}
		}
		st := status(t, s, "p1")
		if err := m.diff(st); err != nil {
			t.Fatal(err)
		}
		if len(st.Locks) != len(files) {
			t.Fatalf("%d of %d files held after %d users claimed them", len(st.Locks), len(files), users)
		}
	})
}
