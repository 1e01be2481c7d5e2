package webhooks

import (
	"context"
	"sync"
	"time"
)

// heldUntil is how long this instance surely holds a project's delivery
// lease, as its renewals tell (measured from before each call, so never
// later than the store's own expiry). Cursors start an attempt only while
// the lease is held for a whole Timeout more: so every attempt ends before
// the lease can lapse, and none is still under way when another instance
// takes the project over, also when this one was paused or cut off from
// the store.
type heldUntil struct {
	mu      sync.Mutex
	until   time.Time
	renewed chan struct{} // closed and replaced by every set
}

func newHeldUntil(until time.Time) *heldUntil {
	return &heldUntil{until: until, renewed: make(chan struct{})}
}

// set records a renewal.
func (h *heldUntil) set(until time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.until = until
	close(h.renewed)
	h.renewed = make(chan struct{})
}

// wait returns true once the lease is held for at least d more, false
// when ctx ended first.
func (h *heldUntil) wait(ctx context.Context, d time.Duration) bool {
	for {
		h.mu.Lock()
		left, renewed := time.Until(h.until), h.renewed
		h.mu.Unlock()
		if left >= d {
			return true
		}
		select {
		case <-renewed:
		case <-ctx.Done():
			return false
		}
	}
}
