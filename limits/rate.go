// Package limits guards the server against overload and foreign pages: a
// per-user request rate (RateLimiter), caps on live connections
// (ConnLimiter) and the browser origins allowed to talk to it (CORSConfig).
package limits

import (
	"math"
	"sync"
	"time"

	"filelock"
)

// RateLimiter is a token bucket per user: rps tokens per second, a burst of
// max(1, rps), so no user gets more than rps commands in any second. A nil *RateLimiter, or one made with rps ≤ 0, allows
// everything. It is safe for concurrent use.
//
// Memory is bounded by the users seen recently: a bucket that has been idle
// long enough to refill completely is indistinguishable from a new one and
// is dropped by a sweep that runs at most once per refill period.
type RateLimiter struct {
	rps   float64
	burst float64
	full  time.Duration // time an empty bucket takes to refill
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewRateLimiter returns a limiter of rps requests per second per user
// (limits.user_rps); rps ≤ 0 turns it off.
func NewRateLimiter(rps float64) *RateLimiter {
	if rps <= 0 || math.IsNaN(rps) || math.IsInf(rps, 0) {
		return nil
	}
	burst := math.Max(1, math.Floor(rps))
	return &RateLimiter{
		rps:     rps,
		burst:   burst,
		full:    time.Duration(burst / rps * float64(time.Second)),
		now:     time.Now,
		buckets: make(map[string]*bucket),
	}
}

// Allow takes one token from user's bucket and reports whether there was one.
func (l *RateLimiter) Allow(user string) bool {
	if l == nil {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.full {
		l.sweep(now)
	}
	b := l.buckets[user]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[user] = b
	}
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = math.Min(l.burst, b.tokens+dt.Seconds()*l.rps)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Check is Allow as an error: nil, or a rate_limited *filelock.Error (429).
func (l *RateLimiter) Check(user string) error {
	if l.Allow(user) {
		return nil
	}
	return filelock.Errorf(filelock.ERateLimited, "too many requests from user %s: the limit is %g per second", user, l.rps)
}

// sweep drops the buckets that have refilled completely.
func (l *RateLimiter) sweep(now time.Time) {
	for user, b := range l.buckets {
		if now.Sub(b.last) >= l.full {
			delete(l.buckets, user)
		}
	}
	l.lastSweep = now
}
