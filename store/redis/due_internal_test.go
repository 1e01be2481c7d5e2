package redis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"filelock"
	"filelock/internal/redistest"
	"filelock/store"
	"filelock/store/storetest"
)

// earliestDue returns a project's earliest due time (lock expiry, lease,
// disconnect release) in ms, ok false when it has none.
func earliestDue(t *testing.T, s *Store, projectID string) (int64, bool) {
	t.Helper()
	var best int64
	var ok bool
	for _, k := range []string{"expiry:", "conns:", "grace:"} {
		z, err := s.rdb.ZRangeWithScores(t.Context(), s.prefix+k+"{"+projectID+"}", 0, 0).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(z) > 0 && (!ok || int64(z[0].Score) < best) {
			best, ok = int64(z[0].Score), true
		}
	}
	return best, ok
}

// indexedDue returns a project's entry in its slot's due index (ms), ok
// false when it has none.
func indexedDue(t *testing.T, s *Store, projectID string) (int64, bool) {
	t.Helper()
	v, err := s.rdb.ZScore(t.Context(), s.dueKey(slotOf(projectID)), projectID).Result()
	if err == goredis.Nil {
		return 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return int64(v), true
}

// TestDueIndexNeverLate: whatever the operations, a project's entry in its
// slot's due index is never later than its earliest due time (it may be
// earlier: a release or a renewal leaves it where it was), so the reaper
// never comes late.
func TestDueIndexNeverLate(t *testing.T) {
	srv := redistest.Shared(t)
	s := New(srv.Client(t), storetest.Opts(), redistest.Prefix(t))
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	projects := []string{"p1", "p2"}
	users := []string{"u1", "u2", "u3"}
	files := []string{"a", "b", "c", "d"}
	ttl := func() time.Duration { return time.Duration(100+rng.IntN(4900)) * time.Millisecond }
	for i := range 400 {
		p, u, f := projects[rng.IntN(2)], users[rng.IntN(3)], files[rng.IntN(4)]
		var op string
		var err error
		switch rng.IntN(8) {
		case 0, 1:
			op = "acquire"
			_, err = s.Acquire(ctx, store.AcquireRequest{ProjectID: p, File: f, User: u, TTL: ttl(), ReleasePrevious: rng.IntN(2) == 0})
		case 2:
			op = "release"
			_, err = s.Release(ctx, store.ReleaseRequest{ProjectID: p, File: f, User: u})
		case 3:
			op = "heartbeat"
			_, err = s.Heartbeat(ctx, p, u)
		case 4:
			op = "claim"
			_, err = s.Claim(ctx, store.ClaimRequest{ProjectID: p, Files: []string{f, files[rng.IntN(4)]}, User: u, TTL: ttl()})
		case 5:
			op = "connect"
			err = s.Connect(ctx, p, u, "c-"+u, ttl())
		case 6:
			op = "disconnect"
			err = s.Disconnect(ctx, p, "c-"+u)
		case 7:
			op = "refresh"
			err = s.Refresh(ctx, p, []store.Conn{{ID: "c-" + u, User: u}}, ttl())
		}
		if err != nil && filelock.ErrorCode(err) == filelock.EUnavailable {
			t.Fatalf("%d %s: %v", i, op, err)
		}
		for _, p := range projects {
			want, ok := earliestDue(t, s, p)
			if !ok {
				continue
			}
			got, ok := indexedDue(t, s, p)
			if !ok || got > want {
				t.Fatalf("after op %d (%s): %s has something due at %d, its due index entry is %d (present %v)", i, op, p, want, got, ok)
			}
		}
	}
}

// TestReaperSetsEarlyDueRight: a release leaves the project's due index
// entry at the released lock's expiry (early); when that time comes the
// reaper visits, finds nothing due, and sets the entry to the project's
// true earliest due time, or removes it, and the slot's hint with it.
func TestReaperSetsEarlyDueRight(t *testing.T) {
	srv := redistest.Start(t)
	s := New(srv.Client(t), storetest.Opts(), "early:")
	ctx := t.Context()
	short, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "kept", File: "a", User: "u1", TTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	long, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "kept", File: "b", User: "u2", TTL: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "gone", File: "a", User: "u1", TTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []store.ReleaseRequest{{ProjectID: "kept", File: "a", User: "u1"}, {ProjectID: "gone", File: "a", User: "u1"}} {
		if _, err := s.Release(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for p, l := range map[string]filelock.Lock{"kept": short.Lock, "gone": gone.Lock} {
		if got, ok := indexedDue(t, s, p); !ok || got != l.ExpiresAt.UnixMilli() {
			t.Fatalf("%s after the release: due index entry %d (present %v), want the released lock's expiry %d", p, got, ok, l.ExpiresAt.UnixMilli())
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		kept, keptOK := indexedDue(t, s, "kept")
		_, goneOK := indexedDue(t, s, "gone")
		if keptOK && kept == long.Lock.ExpiresAt.UnixMilli() && !goneOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("due index not set right: kept %d (present %v, want %d), gone present %v",
				kept, keptOK, long.Lock.ExpiresAt.UnixMilli(), goneOK)
		}
		time.Sleep(20 * time.Millisecond) // polling the index
	}
	// The slot of "gone" has nothing left: its hint is dropped, so no
	// reaper keeps coming back to it.
	slot := slotOf("gone")
	for slot != slotOf("kept") {
		hint := s.hintKeys(slot)
		_, err := s.rdb.ZScore(t.Context(), hint[0], strconv.Itoa(slot)).Result()
		if err == goredis.Nil {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the hint of a slot with nothing due stays")
		}
		time.Sleep(20 * time.Millisecond) // polling the hint
	}
}

// TestExpiryOnTimeAfterRenewals: a lock renewed many times (each renewal
// leaves the due index at an earlier expiry) and heartbeated is released
// as expired at its last expires_at: not before, and within the reaper's
// bound after.
func TestExpiryOnTimeAfterRenewals(t *testing.T) {
	srv := redistest.Start(t)
	s := New(srv.Client(t), storetest.Opts(), "renew:")
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	req := store.AcquireRequest{ProjectID: "p", File: "a", User: "u", TTL: 400 * time.Millisecond}
	var last filelock.Lock
	for i := range 30 {
		r, err := s.Acquire(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && !r.Renewed {
			t.Fatalf("renewal %d: %+v, want renewed (the lock expired while renewed every 50 ms)", i, r)
		}
		last = r.Lock
		if i%5 == 4 {
			if last, err = s.Heartbeat(ctx, "p", "u"); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(50 * time.Millisecond) // the next renewal's time
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := s.Events(ctx, "p", fmt.Sprint(last.Token))
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > 0 {
			st, err := s.Status(ctx, "p")
			if err != nil {
				t.Fatal(err)
			}
			if evs[0].Type != filelock.EventLockReleased || evs[0].Reason != filelock.ReasonExpired {
				t.Fatalf("after the renewals: %+v", evs[0])
			}
			if late := st.ServerTime.Sub(last.ExpiresAt); late < 0 || late > time.Second {
				t.Fatalf("released %v after its last expires_at (I4: within 1 s, never before)", late)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the renewed lock was never released")
		}
		time.Sleep(10 * time.Millisecond) // polling for the event
	}
}
