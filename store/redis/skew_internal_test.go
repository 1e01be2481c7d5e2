package redis

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"filelock/internal/redistest"
	"filelock/store"
)

// TestExpiryOnTimeWithClockSkew: an instance whose clock is behind Redis's
// (due times are Redis time) still releases an expiry within a second of
// its expires_at (I4). The lock's TTL is beyond hintWindow, so it is the
// sweep that hints it.
func TestExpiryOnTimeWithClockSkew(t *testing.T) {
	const skew = 3 * time.Second
	srv := redistest.Start(t)
	s := New(srv.Client(t), store.DefaultOptions(), "p:")
	s.localNow = func() time.Time { return time.Now().Add(-skew) }
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	r, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "proj", File: "a", User: "u", TTL: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		evs, err := s.Events(ctx, "proj", strconv.FormatInt(r.Lock.Token, 10))
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > 0 {
			st, err := s.Status(ctx, "proj")
			if err != nil {
				t.Fatal(err)
			}
			late := st.ServerTime.Sub(r.Lock.ExpiresAt)
			t.Logf("%s %s seen %v after expires_at (Redis time)", evs[0].Type, evs[0].Reason, late)
			if late > time.Second {
				t.Errorf("expired release %v after expires_at with the instance %v behind Redis (I4: within 1 s)", late, skew)
			}
			return
		}
		time.Sleep(10 * time.Millisecond) // polling for the event
	}
	t.Fatal("the lock was never released")
}
