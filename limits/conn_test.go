package limits

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"filelock"
)

func wantRateLimited(t *testing.T, what string, err error, msgPart string) {
	t.Helper()
	var fe *filelock.Error
	if !errors.As(err, &fe) || fe.Code != filelock.ERateLimited || !strings.Contains(fe.Message, msgPart) {
		t.Errorf("%s: err = %v, want rate_limited mentioning %q", what, err, msgPart)
	}
}

func TestConnLimiterCaps(t *testing.T) {
	l := NewConnLimiter(3, 2)
	r1, err := l.Acquire("a")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := l.Acquire("a")
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Acquire("a")
	wantRateLimited(t, "third of user a", err, "user a")
	if l.byUser["a"] != 2 || l.Count() != 2 {
		t.Fatalf("a refused Acquire was counted: %d/%d", l.byUser["a"], l.Count())
	}
	r3, err := l.Acquire("") // no user: overall cap only
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Acquire("b")
	wantRateLimited(t, "over the overall cap", err, "allows 3")
	r1()
	r1() // idempotent
	if l.Count() != 2 || l.byUser["a"] != 1 {
		t.Fatalf("after release: total %d, a %d; want 2, 1", l.Count(), l.byUser["a"])
	}
	rb, err := l.Acquire("b")
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	for _, r := range []func(){r2, r3, rb, r2} {
		r()
	}
	if l.Count() != 0 || l.byUser["a"] != 0 || len(l.byUser) != 0 {
		t.Errorf("all released: total %d, users %v", l.Count(), l.byUser)
	}
}

func TestConnLimiterNoUserCap(t *testing.T) {
	l := NewConnLimiter(0, 1)
	for range 100 {
		if _, err := l.Acquire(""); err != nil {
			t.Fatalf("connections without a user have no per-user cap: %v", err)
		}
	}
	if _, err := l.Acquire("u"); err != nil {
		t.Fatal(err)
	}
	_, err := l.Acquire("u")
	wantRateLimited(t, "second of u", err, "at most 1")

	var nilL *ConnLimiter
	rel, err := nilL.Acquire("u")
	if err != nil || rel == nil || nilL.Count() != 0 {
		t.Errorf("nil limiter: %v", err)
	}
	rel()

	unl := NewConnLimiter(0, 0)
	for range 1000 {
		if _, err := unl.Acquire("u"); err != nil {
			t.Fatalf("unlimited: %v", err)
		}
	}
}

func TestConnLimiterConcurrent(t *testing.T) {
	const maxTotal, maxUser = 8, 3
	l := NewConnLimiter(maxTotal, maxUser)
	var live, peak atomic.Int64
	var perUser [4]atomic.Int64
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := g % 4
			user := string(rune('a' + u))
			for range 200 {
				rel, err := l.Acquire(user)
				if err != nil {
					continue
				}
				n := live.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				if pu := perUser[u].Add(1); pu > maxUser {
					t.Errorf("user %s holds %d > %d", user, pu, maxUser)
				}
				perUser[u].Add(-1)
				live.Add(-1)
				rel()
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > maxTotal || p == 0 {
		t.Errorf("peak live = %d, want 1..%d", p, maxTotal)
	}
	if l.Count() != 0 {
		t.Errorf("Count = %d after every release", l.Count())
	}
}

// TestConnLimiterAcquireUser: a connection counted overall without a user
// is counted as its user's later, against the per-user cap only.
func TestConnLimiterAcquireUser(t *testing.T) {
	l := NewConnLimiter(2, 1)
	c1, _ := l.Acquire("")
	c2, _ := l.Acquire("")
	u1, err := l.AcquireUser("a")
	if err != nil {
		t.Fatal(err)
	}
	if l.Count() != 2 || l.byUser["a"] != 1 {
		t.Fatalf("total %d, a %d; want 2, 1", l.Count(), l.byUser["a"])
	}
	_, err = l.AcquireUser("a")
	wantRateLimited(t, "second of user a", err, "user a")
	if _, err := l.AcquireUser("b"); err != nil {
		t.Fatalf("user b at the overall cap: %v", err)
	}
	if rel, err := l.AcquireUser(""); err != nil || l.Count() != 2 {
		t.Fatalf("AcquireUser(\"\"): %v, total %d", err, l.Count())
	} else {
		rel()
	}
	u1()
	u1()
	c1()
	if l.Count() != 1 || l.byUser["a"] != 0 {
		t.Errorf("after release: total %d, a %d; want 1, 0", l.Count(), l.byUser["a"])
	}
	c2()
}
