// Package storetest is the conformance suite every store.Store passes
// (SPEC §8: both stores pass one suite; semantics do not differ). A store
// package runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, opts store.Options) store.Store { ... })
//	}
//
// The factory returns a fresh, isolated store for each call (no project of
// one call is visible in another) and registers its cleanup with t.Cleanup.
// The suite starts Store.Run itself where a test needs the reaper.
package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"filelock"
	"filelock/store"
)

// factory returns a fresh, isolated store with the given options.
type factory = func(t *testing.T, opts store.Options) store.Store

// Opts are the short durations the suite runs with.
func Opts() store.Options {
	return store.Options{
		DefaultTTL:      time.Second,
		MinTTL:          100 * time.Millisecond,
		MaxTTL:          5 * time.Second,
		History:         1000,
		DisconnectGrace: 300 * time.Millisecond,
	}
}

// Run runs the whole conformance suite against the stores newStore makes.
func Run(t *testing.T, newStore func(t *testing.T, opts store.Options) store.Store) {
	f := newStore
	t.Run("Locks", func(t *testing.T) { testLocks(t, f) })
	t.Run("Claim", func(t *testing.T) { testClaim(t, f) })
	t.Run("Contention", func(t *testing.T) { testContention(t, f) })
	t.Run("Expiry", func(t *testing.T) { testExpiry(t, f) })
	t.Run("Events", func(t *testing.T) { testEvents(t, f) })
	t.Run("Presence", func(t *testing.T) { testPresence(t, f) })
	t.Run("Feed", func(t *testing.T) { testFeed(t, f) })
}

// pollTimeout bounds every wait for a condition.
const pollTimeout = 10 * time.Second

// startRun runs s.Run until the test ends (n concurrent runners).
func startRun(t *testing.T, s store.Store, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, n)
	for range n {
		go func() {
			_ = s.Run(ctx)
			done <- struct{}{}
		}()
	}
	t.Cleanup(func() {
		cancel()
		for range n {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Errorf("Run did not return within 5s of its context ending")
				return
			}
		}
	})
}

func acquire(t *testing.T, s store.Store, req store.AcquireRequest) store.AcquireResult {
	t.Helper()
	r, err := s.Acquire(t.Context(), req)
	if err != nil {
		t.Fatalf("Acquire(%s, %q, %q): %v", req.ProjectID, req.File, req.User, err)
	}
	if r.Lock.ProjectID != req.ProjectID || r.Lock.File != req.File || r.Lock.User != req.User {
		t.Fatalf("Acquire(%s, %q, %q) returned lock %+v", req.ProjectID, req.File, req.User, r.Lock)
	}
	return r
}

func lock(t *testing.T, s store.Store, project, file, user string) filelock.Lock {
	t.Helper()
	return acquire(t, s, store.AcquireRequest{ProjectID: project, File: file, User: user}).Lock
}

func release(t *testing.T, s store.Store, req store.ReleaseRequest) filelock.Lock {
	t.Helper()
	l, err := s.Release(t.Context(), req)
	if err != nil {
		t.Fatalf("Release(%s, %q, %q): %v", req.ProjectID, req.File, req.User, err)
	}
	return l
}

// wantErr fails unless err is a *filelock.Error with want's code, field,
// message and lock (the lock's identity), so the stores cannot drift apart
// (SPEC §3: an error's code, field and lock are the same whichever store
// runs).
func wantErr(t *testing.T, err error, want *filelock.Error) {
	t.Helper()
	var fe *filelock.Error
	if !errors.As(err, &fe) {
		t.Fatalf("got error %v, want a *filelock.Error %s", err, want.Code)
	}
	if fe.Code != want.Code || fe.Field != want.Field || fe.Message != want.Message {
		t.Fatalf("got error %q (code %s, field %q), want %q (code %s, field %q)", fe.Message, fe.Code, fe.Field, want.Message, want.Code, want.Field)
	}
	switch {
	case want.Lock == nil && fe.Lock != nil:
		t.Fatalf("%s error carries lock %+v, want none", fe.Code, *fe.Lock)
	case want.Lock != nil && fe.Lock == nil:
		t.Fatalf("%s error carries no lock", fe.Code)
	case want.Lock != nil:
		sameLock(t, *fe.Lock, *want.Lock)
	}
}

// wantLockErr checks an error of code carrying the lock in the way.
func wantLockErr(t *testing.T, err error, code string, want filelock.Lock) {
	t.Helper()
	switch code {
	case filelock.EFileLocked:
		wantErr(t, err, store.ErrFileLocked(want))
	case filelock.EUserHasLock:
		wantErr(t, err, store.ErrUserHasLock(want))
	case filelock.ENotOwner:
		wantErr(t, err, store.ErrNotOwner(want))
	default:
		t.Fatalf("test bug: wantLockErr(%s)", code)
	}
}

// sameLock compares the identity of two locks (and their acquired_at).
func sameLock(t *testing.T, got, want filelock.Lock) {
	t.Helper()
	if got.ProjectID != want.ProjectID || got.File != want.File || got.User != want.User ||
		got.Token != want.Token || !got.AcquiredAt.Equal(want.AcquiredAt) {
		t.Fatalf("lock = %+v, want %+v", got, want)
	}
}

// lookup returns the file's lock (Store.Lock), failing the test on an error.
func lookup(t *testing.T, s store.Store, project, file string) filelock.Lock {
	t.Helper()
	l, err := s.Lock(t.Context(), project, file)
	if err != nil {
		t.Fatalf("Lock(%s, %q): %v", project, file, err)
	}
	return l
}

func status(t *testing.T, s store.Store, project string) filelock.Status {
	t.Helper()
	st, err := s.Status(t.Context(), project)
	if err != nil {
		t.Fatalf("Status(%s): %v", project, err)
	}
	if st.ProjectID != project {
		t.Fatalf("Status(%s).ProjectID = %q", project, st.ProjectID)
	}
	if st.LastEventID == "" {
		t.Fatalf("Status(%s).LastEventID is empty", project)
	}
	return st
}

// events returns the events after afterID, checking they are contiguous
// (each one's Prev is the Seq before it), follow afterID and belong to the project.
func events(t *testing.T, s store.Store, project, afterID string) []filelock.Event {
	t.Helper()
	evs, err := s.Events(t.Context(), project, afterID)
	if err != nil {
		t.Fatalf("Events(%s, %q): %v", project, afterID, err)
	}
	after, _ := filelock.ParseEventID(afterID)
	for i, e := range evs {
		if e.ProjectID != project {
			t.Fatalf("Events(%s): event %d belongs to project %q", project, i, e.ProjectID)
		}
		if e.Seq >= 1<<53 {
			t.Fatalf("Events(%s): Seq %d is not below 2^53 (JavaScript would round it)", project, e.Seq)
		}
		if e.Seq <= e.Prev {
			t.Fatalf("Events(%s): Seq %d not above its Prev %d", project, e.Seq, e.Prev)
		}
		if i > 0 && e.Prev != evs[i-1].Seq {
			t.Fatalf("Events(%s): Seq %d (Prev %d) follows %d", project, e.Seq, e.Prev, evs[i-1].Seq)
		}
		if i == 0 && afterID == filelock.InitialEventID && e.Prev != 0 {
			t.Fatalf("Events(%s, 0): first Seq %d has Prev %d, not 0 (the project's first event)", project, e.Seq, e.Prev)
		}
		if i == 0 && afterID != filelock.InitialEventID && e.Prev != after {
			t.Fatalf("Events(%s, %s): first Seq %d has Prev %d", project, afterID, e.Seq, e.Prev)
		}
	}
	return evs
}

// lastID is the id of the last of evs, or afterID when evs is empty.
func lastID(afterID string, evs []filelock.Event) string {
	if len(evs) == 0 {
		return afterID
	}
	return evs[len(evs)-1].ID()
}

// waitEvent polls the project's events after afterID until one matches,
// and returns it with the time it was first seen.
func waitEvent(t *testing.T, s store.Store, project, afterID string, match func(filelock.Event) bool) (filelock.Event, time.Time) {
	t.Helper()
	deadline := time.Now().Add(pollTimeout)
	for {
		evs := events(t, s, project, afterID)
		now := time.Now()
		for _, e := range evs {
			if match(e) {
				return e, now
			}
		}
		if now.After(deadline) {
			t.Fatalf("no matching event in project %s within %v; events: %s", project, pollTimeout, describe(evs))
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
}

func isReleased(file, reason string) func(filelock.Event) bool {
	return func(e filelock.Event) bool {
		return e.Type == filelock.EventLockReleased && e.Lock.File == file && e.Reason == reason
	}
}

func isPresence(typ, user string) func(filelock.Event) bool {
	return func(e filelock.Event) bool { return e.Type == typ && e.User == user }
}

func count(evs []filelock.Event, match func(filelock.Event) bool) int {
	n := 0
	for _, e := range evs {
		if match(e) {
			n++
		}
	}
	return n
}

func describe(evs []filelock.Event) string {
	out := "["
	for i, e := range evs {
		if i > 0 {
			out += ", "
		}
		out += e.ID() + ":" + e.Type
		switch e.Type {
		case filelock.EventLockAcquired:
			out += "(" + e.Lock.File + "," + e.Lock.User + ")"
		case filelock.EventLockReleased:
			out += "(" + e.Lock.File + "," + e.Lock.User + "," + e.Reason + ")"
		default:
			out += "(" + e.User + ")"
		}
	}
	return out + "]"
}

// waitUntil polls the clock until t is past (used to let a lock's
// expires_at pass when no reaper runs).
func waitUntil(at time.Time) {
	for time.Now().Before(at) {
		time.Sleep(min(time.Until(at)+time.Millisecond, 20*time.Millisecond))
	}
}

// sentinel takes a lock that expires after ttl in its own file and waits for
// its expired release: once it shows up, the reaper has dealt with
// everything due before it.
func sentinel(t *testing.T, s store.Store, project string, ttl time.Duration) {
	t.Helper()
	file := "sentinel/" + time.Now().Format("150405.000000000")
	st := status(t, s, project)
	acquire(t, s, store.AcquireRequest{ProjectID: project, File: file, User: "sentinel-" + file, TTL: ttl})
	waitEvent(t, s, project, st.LastEventID, isReleased(file, filelock.ReasonExpired))
}
