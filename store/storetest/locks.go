package storetest

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"filelock"
	"filelock/store"
)

func testLocks(t *testing.T, newStore factory) {
	t.Run("AcquireRelease", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		before := time.Now()
		r := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "images/a.jpg", User: "u1"})
		if r.Renewed || r.Released != nil {
			t.Fatalf("fresh acquisition: Renewed %v, Released %v", r.Renewed, r.Released)
		}
		checkTimes(t, r.Lock, before, time.Now(), Opts().DefaultTTL)
		evs := events(t, s, "p1", filelock.InitialEventID)
		if len(evs) != 1 || evs[0].Type != filelock.EventLockAcquired || uint64(r.Lock.Token) != evs[0].Seq {
			t.Fatalf("events after one acquisition: %s (token %d)", describe(evs), r.Lock.Token)
		}
		sameLock(t, evs[0].Lock, r.Lock)
		st := status(t, s, "p1")
		if len(st.Locks) != 1 || st.LastEventID != evs[0].ID() {
			t.Fatalf("status %+v, want the one lock as of %s", st, evs[0].ID())
		}
		sameLock(t, st.Locks[0], r.Lock)

		got := release(t, s, store.ReleaseRequest{ProjectID: "p1", File: "images/a.jpg", User: "u1"})
		sameLock(t, got, r.Lock)
		evs = events(t, s, "p1", evs[0].ID())
		if len(evs) != 1 || !isReleased("images/a.jpg", filelock.ReasonUnlocked)(evs[0]) || evs[0].Lock.User != "u1" || evs[0].Lock.Token != r.Lock.Token {
			t.Fatalf("events after release: %s", describe(evs))
		}
		if st := status(t, s, "p1"); len(st.Locks) != 0 || st.LastEventID != evs[0].ID() {
			t.Fatalf("status after release %+v", st)
		}
		// Tokens strictly increase and are never reused.
		r2 := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "images/a.jpg", User: "u1"})
		if r2.Lock.Token <= r.Lock.Token || r2.Renewed {
			t.Fatalf("re-acquisition token %d (renewed %v) after %d", r2.Lock.Token, r2.Renewed, r.Lock.Token)
		}
		r3 := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "images/b.jpg", User: "u2"})
		if r3.Lock.Token <= r2.Lock.Token {
			t.Fatalf("token %d after %d", r3.Lock.Token, r2.Lock.Token)
		}
	})

	t.Run("Relock", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		r := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "a", User: "u1", TTL: 300 * time.Millisecond})
		mark := status(t, s, "p1").LastEventID
		waitUntil(r.Lock.AcquiredAt.Add(50 * time.Millisecond))
		for _, prev := range []bool{false, true} {
			before := time.Now()
			r2 := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "a", User: "u1", TTL: 2 * time.Second, ReleasePrevious: prev})
			if !r2.Renewed || r2.Released != nil {
				t.Fatalf("relock: Renewed %v Released %v", r2.Renewed, r2.Released)
			}
			sameLock(t, r2.Lock, r.Lock) // same token, same acquired_at
			if lo, hi := before.Add(2*time.Second-slack), time.Now().Add(2*time.Second+slack); r2.Lock.ExpiresAt.Before(lo) || r2.Lock.ExpiresAt.After(hi) {
				t.Fatalf("relock expires_at %v, want now+2s (in [%v, %v])", r2.Lock.ExpiresAt, lo, hi)
			}
			if r2.Lock.TTL != 2*time.Second {
				t.Fatalf("relock TTL %v, want 2s", r2.Lock.TTL)
			}
		}
		if evs := events(t, s, "p1", mark); len(evs) != 0 {
			t.Fatalf("relock appended events: %s", describe(evs))
		}
		st := status(t, s, "p1")
		if len(st.Locks) != 1 || st.Locks[0].ExpiresAt.Before(r.Lock.ExpiresAt.Add(time.Second)) {
			t.Fatalf("status after relock: %+v", st.Locks)
		}
	})

	t.Run("FileLocked", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		held := lock(t, s, "p1", "a", "u1")
		mark := status(t, s, "p1").LastEventID
		_, err := s.Acquire(t.Context(), store.AcquireRequest{ProjectID: "p1", File: "a", User: "u2"})
		wantLockErr(t, err, filelock.EFileLocked, held)
		_, err = s.Acquire(t.Context(), store.AcquireRequest{ProjectID: "p1", File: "a", User: "u2", ReleasePrevious: true})
		wantLockErr(t, err, filelock.EFileLocked, held)
		if evs := events(t, s, "p1", mark); len(evs) != 0 {
			t.Fatalf("refused acquisitions appended events: %s", describe(evs))
		}
	})

	t.Run("UserHasLock", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		mine := lock(t, s, "p1", "a", "u1")
		other := lock(t, s, "p1", "b", "u2")
		mark := status(t, s, "p1").LastEventID
		_, err := s.Acquire(t.Context(), store.AcquireRequest{ProjectID: "p1", File: "c", User: "u1"})
		wantLockErr(t, err, filelock.EUserHasLock, mine)
		// file_locked is checked before user_has_lock.
		_, err = s.Acquire(t.Context(), store.AcquireRequest{ProjectID: "p1", File: "b", User: "u1"})
		wantLockErr(t, err, filelock.EFileLocked, other)
		// release_previous onto a locked file does neither (all or nothing).
		_, err = s.Acquire(t.Context(), store.AcquireRequest{ProjectID: "p1", File: "b", User: "u1", ReleasePrevious: true})
		wantLockErr(t, err, filelock.EFileLocked, other)
		if evs := events(t, s, "p1", mark); len(evs) != 0 {
			t.Fatalf("refused acquisitions appended events: %s", describe(evs))
		}
		st := status(t, s, "p1")
		if len(st.Locks) != 2 {
			t.Fatalf("locks after refusals: %+v", st.Locks)
		}
		sameLock(t, st.Locks[0], mine)
		sameLock(t, st.Locks[1], other)
		// I2 is per project: u1 may hold a file of another project.
		lock(t, s, "p2", "c", "u1")
	})

	t.Run("ReleasePrevious", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		old := lock(t, s, "p1", "a", "u1")
		mark := status(t, s, "p1").LastEventID
		r := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "b", User: "u1", ReleasePrevious: true})
		if r.Renewed || r.Released == nil {
			t.Fatalf("switch: Renewed %v Released %v", r.Renewed, r.Released)
		}
		sameLock(t, *r.Released, old)
		if r.Lock.Token <= old.Token {
			t.Fatalf("switched token %d after %d", r.Lock.Token, old.Token)
		}
		evs := events(t, s, "p1", mark)
		if len(evs) != 2 || !isReleased("a", filelock.ReasonSwitched)(evs[0]) || evs[0].Lock.Token != old.Token || evs[0].Lock.User != "u1" ||
			evs[1].Type != filelock.EventLockAcquired || evs[1].Lock.File != "b" || uint64(r.Lock.Token) != evs[1].Seq {
			t.Fatalf("switch events: %s", describe(evs))
		}
		st := status(t, s, "p1")
		if len(st.Locks) != 1 {
			t.Fatalf("locks after switch: %+v", st.Locks)
		}
		sameLock(t, st.Locks[0], r.Lock)
		// Without anything to release, release_previous is a plain acquisition.
		r2 := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "c", User: "u2", ReleasePrevious: true})
		if r2.Released != nil || r2.Renewed {
			t.Fatalf("release_previous without a lock: %+v", r2)
		}
	})

	t.Run("ReleaseErrors", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		_, err := s.Release(t.Context(), store.ReleaseRequest{ProjectID: "p1", File: "a", User: "u1"})
		wantErr(t, err, store.ErrNotLocked("a"))
		_, err = s.Release(t.Context(), store.ReleaseRequest{ProjectID: "p1", File: "a", User: "u1", Force: true})
		wantErr(t, err, store.ErrNotLocked("a"))
		held := lock(t, s, "p1", "a", "u1")
		mark := status(t, s, "p1").LastEventID
		_, err = s.Release(t.Context(), store.ReleaseRequest{ProjectID: "p1", File: "a", User: "u2"})
		wantLockErr(t, err, filelock.ENotOwner, held)
		stale := held.Token - 1
		_, err = s.Release(t.Context(), store.ReleaseRequest{ProjectID: "p1", File: "a", User: "u1", Token: &stale})
		wantErr(t, err, store.ErrStaleToken(stale, held))
		future := held.Token + 1
		_, err = s.Release(t.Context(), store.ReleaseRequest{ProjectID: "p1", File: "a", User: "u1", Token: &future})
		wantErr(t, err, store.ErrStaleToken(future, held))
		_, err = s.Release(t.Context(), store.ReleaseRequest{ProjectID: "p1", File: "b", User: "u1"})
		wantErr(t, err, store.ErrNotLocked("b"))
		if evs := events(t, s, "p1", mark); len(evs) != 0 {
			t.Fatalf("refused releases appended events: %s", describe(evs))
		}
		if st := status(t, s, "p1"); len(st.Locks) != 1 {
			t.Fatalf("lock gone after refused releases: %+v", st)
		}
		tok := held.Token
		sameLock(t, release(t, s, store.ReleaseRequest{ProjectID: "p1", File: "a", User: "u1", Token: &tok}), held)
		_, err = s.Release(t.Context(), store.ReleaseRequest{ProjectID: "p1", File: "a", User: "u1"})
		wantErr(t, err, store.ErrNotLocked("a"))
		_, err = s.Release(t.Context(), store.ReleaseRequest{ProjectID: "p1", File: "a", User: "u1", Token: &tok})
		wantErr(t, err, store.ErrNotLocked("a"))
	})

	t.Run("Force", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		held := lock(t, s, "p1", "a", "u1")
		mark := status(t, s, "p1").LastEventID
		sameLock(t, release(t, s, store.ReleaseRequest{ProjectID: "p1", File: "a", User: "admin", Force: true}), held)
		evs := events(t, s, "p1", mark)
		if len(evs) != 1 || !isReleased("a", filelock.ReasonForced)(evs[0]) || evs[0].Lock.User != "u1" || evs[0].Lock.Token != held.Token {
			t.Fatalf("forced release events: %s", describe(evs))
		}
		// The user is free again.
		lock(t, s, "p1", "b", "u1")
	})

	t.Run("TTLClamp", func(t *testing.T) {
		t.Parallel()
		o := Opts()
		s := newStore(t, o)
		for i, c := range []struct{ ttl, want time.Duration }{
			{0, o.DefaultTTL},
			{-time.Second, o.DefaultTTL},
			{time.Millisecond, o.MinTTL},
			{o.MinTTL - 1, o.MinTTL},
			{700 * time.Millisecond, 700 * time.Millisecond},
			{o.MaxTTL, o.MaxTTL},
			{10 * time.Hour, o.MaxTTL},
		} {
			file := "f" + string(rune('a'+i))
			before := time.Now()
			r := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: file, User: file, TTL: c.ttl})
			checkTimes(t, r.Lock, before, time.Now(), c.want)
		}
	})

	t.Run("Lookup", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		ctx := t.Context()
		_, err := s.Lock(ctx, "p1", "images/a.jpg")
		wantErr(t, err, store.ErrNotLocked("images/a.jpg"))
		r := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "images/a.jpg", User: "u1", TTL: 300 * time.Millisecond})
		got := lookup(t, s, "p1", "images/a.jpg")
		sameLock(t, got, r.Lock)
		if !got.ExpiresAt.Equal(r.Lock.ExpiresAt) || got.TTL != r.Lock.TTL {
			t.Fatalf("Lock = %+v, want %+v", got, r.Lock)
		}
		for _, other := range [][2]string{{"p1", "images/b.jpg"}, {"p2", "images/a.jpg"}, {"p1", "images"}} {
			_, err := s.Lock(ctx, other[0], other[1])
			wantErr(t, err, store.ErrNotLocked(other[1]))
		}
		hb, err := s.Heartbeat(ctx, "p1", "u1")
		if err != nil {
			t.Fatal(err)
		}
		if got := lookup(t, s, "p1", "images/a.jpg"); !got.ExpiresAt.Equal(hb.ExpiresAt) {
			t.Fatalf("Lock after a heartbeat expires at %v, want %v", got.ExpiresAt, hb.ExpiresAt)
		}
		// Past its expires_at (no reaper runs here), the lock is gone for
		// Lock, which releases nothing itself.
		waitUntil(hb.ExpiresAt.Add(slack))
		_, err = s.Lock(ctx, "p1", "images/a.jpg")
		wantErr(t, err, store.ErrNotLocked("images/a.jpg"))
		if evs := events(t, s, "p1", strconv.FormatInt(r.Lock.Token, 10)); len(evs) != 0 {
			t.Fatalf("Lock appended events: %s", describe(evs))
		}
		r2 := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: "images/a.jpg", User: "u2"})
		sameLock(t, lookup(t, s, "p1", "images/a.jpg"), r2.Lock)
		release(t, s, store.ReleaseRequest{ProjectID: "p1", File: "images/a.jpg", User: "u2"})
		_, err = s.Lock(ctx, "p1", "images/a.jpg")
		wantErr(t, err, store.ErrNotLocked("images/a.jpg"))
	})

	t.Run("ExoticNames", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		long := strings.Repeat("가", 341) + "a"
		if len(long) != filelock.MaxFileLen {
			t.Fatalf("test bug: %d bytes", len(long))
		}
		names := []string{
			"images/이미지1.jpg", "a b/c d.png", "x:y:z", "{p1}", "lock:{p1}:a", "}{", "*", "a*b?[c]",
			`"quoted" 'single'`, "😀/🎉.png", "back\\slash", "%s%d%%", "...", " lead", "trail ", "é/e\u0301", long,
			"p1", "\u00a0nbsp", "\\u0000",
		}
		for i, name := range names {
			user := exoticUser(names, i) // exotic users too, one file each
			r := acquire(t, s, store.AcquireRequest{ProjectID: "p1", File: name, User: user})
			if r.Lock.File != name || r.Lock.User != user {
				t.Fatalf("acquired %q by %q, got %q by %q", name, user, r.Lock.File, r.Lock.User)
			}
			hb, err := s.Heartbeat(t.Context(), "p1", user)
			if err != nil || hb.File != name || hb.User != user {
				t.Fatalf("Heartbeat(%q) = %+v, %v", user, hb, err)
			}
			sameLock(t, lookup(t, s, "p1", name), r.Lock)
		}
		st := status(t, s, "p1")
		if err := checkStatusOrder(st); err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, l := range st.Locks {
			got[l.File] = true
		}
		for _, name := range names {
			if !got[name] {
				t.Fatalf("status lacks %q; has %d locks", name, len(st.Locks))
			}
		}
		if len(st.Locks) != len(names) {
			t.Fatalf("status has %d locks, want %d", len(st.Locks), len(names))
		}
		for i, e := range events(t, s, "p1", filelock.InitialEventID) {
			if e.Lock.File != names[i] {
				t.Fatalf("event %d file %q, want %q", i, e.Lock.File, names[i])
			}
		}
		for i, name := range names {
			user := exoticUser(names, i)
			release(t, s, store.ReleaseRequest{ProjectID: "p1", File: name, User: user})
		}
		if st := status(t, s, "p1"); len(st.Locks) != 0 {
			t.Fatalf("locks left after releasing all: %d", len(st.Locks))
		}
	})
}

// slack is the tolerance on a store's timestamps (millisecond precision,
// the store's own clock).
const slack = 50 * time.Millisecond

// checkTimes checks a fresh lock's acquired_at and expires_at.
func checkTimes(t *testing.T, l filelock.Lock, before, after time.Time, ttl time.Duration) {
	t.Helper()
	if l.AcquiredAt.Before(before.Add(-slack)) || l.AcquiredAt.After(after.Add(slack)) {
		t.Fatalf("acquired_at %v not within [%v, %v]", l.AcquiredAt, before, after)
	}
	if d := l.ExpiresAt.Sub(l.AcquiredAt); d < ttl-time.Millisecond || d > ttl+time.Millisecond {
		t.Fatalf("lock lives %v, want %v", d, ttl)
	}
	if l.TTL != ttl {
		t.Fatalf("lock TTL %v, want %v", l.TTL, ttl)
	}
}

// exoticUser names the holder of names[i]: another exotic name, or 255
// bytes of Hangul for one too long to be a user.
func exoticUser(names []string, i int) string {
	if u := names[(i+1)%len(names)]; len(u) <= filelock.MaxUserLen {
		return u
	}
	return strings.Repeat("가", 85)
}
