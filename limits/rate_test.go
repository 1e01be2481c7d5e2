package limits

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filelock"
)

// clock is a manual clock for the limiter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestLimiter(t *testing.T, rps float64) (*RateLimiter, *clock) {
	t.Helper()
	l := NewRateLimiter(rps)
	if l == nil {
		t.Fatalf("NewRateLimiter(%v) = nil", rps)
	}
	c := &clock{t: time.Unix(1_000_000, 0)}
	l.now = c.now
	return l, c
}

func allowN(l *RateLimiter, user string, n int) int {
	ok := 0
	for range n {
		if l.Allow(user) {
			ok++
		}
	}
	return ok
}

func TestRateLimiterOff(t *testing.T) {
	for _, rps := range []float64{0, -1} {
		l := NewRateLimiter(rps)
		if l != nil {
			t.Fatalf("NewRateLimiter(%v) = %v, want nil (off)", rps, l)
		}
		if allowN(l, "u", 1000) != 1000 || l.Check("u") != nil {
			t.Errorf("off limiter refused something")
		}
	}
}

func TestRateLimiterBucket(t *testing.T) {
	l, c := newTestLimiter(t, 5) // burst 5: no more than rps in any second
	if got := allowN(l, "u1", 20); got != 5 {
		t.Fatalf("burst: %d allowed, want 5", got)
	}
	err := l.Check("u1")
	var fe *filelock.Error
	if !errors.As(err, &fe) || fe.Code != filelock.ERateLimited {
		t.Fatalf("Check over the limit = %v, want rate_limited", err)
	}
	if allowN(l, "u2", 5) != 5 {
		t.Error("users must not share a bucket")
	}
	c.add(200 * time.Millisecond) // one token
	if got := allowN(l, "u1", 5); got != 1 {
		t.Errorf("after 200ms: %d allowed, want 1", got)
	}
	c.add(time.Hour) // refills to the burst, not beyond
	if got := allowN(l, "u1", 20); got != 5 {
		t.Errorf("after an hour: %d allowed, want 5", got)
	}
	// Sustained: 5 per second over 10 s.
	total := 0
	for range 100 {
		c.add(100 * time.Millisecond)
		total += allowN(l, "u1", 3)
	}
	if total != 50 {
		t.Errorf("sustained: %d allowed in 10s at 5/s, want 50", total)
	}
}

func TestRateLimiterSlow(t *testing.T) {
	l, c := newTestLimiter(t, 0.5) // burst max(1, 1) = 1, one token per 2 s
	if allowN(l, "u", 3) != 1 {
		t.Fatal("burst of a 0.5/s limiter must be 1")
	}
	c.add(1900 * time.Millisecond)
	if l.Allow("u") {
		t.Error("allowed before the token refilled")
	}
	c.add(100 * time.Millisecond)
	if !l.Allow("u") {
		t.Error("refused after 2s")
	}
}

func TestRateLimiterEvictsIdle(t *testing.T) {
	l, c := newTestLimiter(t, 10) // refills fully in 1 s
	for i := range 1000 {
		l.Allow(fmt.Sprint("user", i))
	}
	if len(l.buckets) != 1000 {
		t.Fatalf("Len = %d, want 1000", len(l.buckets))
	}
	c.add(500 * time.Millisecond) // not yet full: kept
	l.Allow("x")
	if len(l.buckets) != 1001 {
		t.Fatalf("Len = %d after 0.5s, want 1001 (buckets not yet full must stay)", len(l.buckets))
	}
	c.add(750 * time.Millisecond)
	l.Allow("y")
	if len(l.buckets) != 2 { // "x" (0.75 s idle, not full) and "y"
		t.Fatalf("Len = %d after the idle buckets refilled, want 2", len(l.buckets))
	}
	// An evicted user starts again with a full bucket, as if never evicted.
	if got := allowN(l, "user1", 30); got != 10 {
		t.Errorf("evicted user: %d allowed, want the burst 10", got)
	}
}

func TestRateLimiterConcurrent(t *testing.T) {
	l, _ := newTestLimiter(t, 100) // frozen clock: exactly the burst (100) per user gets through
	var wg sync.WaitGroup
	var allowed [4]atomic.Int64
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := g % 4
			for range 100 {
				if l.Allow(fmt.Sprint("u", u)) {
					allowed[u].Add(1)
				}
			}
		}()
	}
	wg.Wait()
	for u := range allowed {
		if got := allowed[u].Load(); got != 100 {
			t.Errorf("user u%d: %d allowed, want 100", u, got)
		}
	}
}
