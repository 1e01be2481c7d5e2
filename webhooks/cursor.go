package webhooks

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"filelock"
	"filelock/store"
)

// cursor delivers one project's events to one URL, in order, from the
// event after its acknowledged position.
type cursor struct {
	w        *worker
	url      string
	fence    int64
	after    string        // the acknowledged position
	kickc    chan struct{} // buffered 1
	lost     chan<- struct{}
	active   *atomic.Int64
	held     *heldUntil // the lease, as the worker renews it
	caughtUp atomic.Bool
}

func (c *cursor) kick() {
	select {
	case c.kickc <- struct{}{}:
	default:
	}
}

// run delivers until ctx ends or the lease is lost (then it signals lost).
func (c *cursor) run(ctx context.Context) {
	d := c.w.d
	retry := newBackoff(50*time.Millisecond, 2*time.Second)
	for ctx.Err() == nil {
		sctx, cancel := c.w.storeCtx(ctx)
		evs, err := d.st.Events(sctx, c.w.project, c.after)
		cancel()
		if errors.Is(err, store.ErrHistoryGone) {
			d.opts.Logger.Debug("webhooks: history gone; sending a snapshot", "project_id", c.w.project, "url", c.url, "after", c.after)
			// The next event has left the history: its state instead.
			// A store that came back empty lost the lease too: make sure
			// of it first, or the new holder would start from the
			// project's first event after this snapshot of a later one.
			sctx, cancel := c.w.storeCtx(ctx)
			_, err = d.ds.LeaseDelivery(sctx, c.w.project, d.opts.Owner, c.fence, d.opts.Lease)
			var st filelock.Status
			if err == nil {
				st, err = d.st.Status(sctx, c.w.project)
			}
			cancel()
			if errors.Is(err, store.ErrLeaseLost) {
				c.lost <- struct{}{}
				return
			}
			evs = []filelock.Event{filelock.SnapshotEvent(st)}
		}
		if err != nil {
			retry.wait(ctx)
			continue
		}
		retry.reset()
		if len(evs) == 0 {
			c.caughtUp.Store(true)
			select {
			case <-c.kickc:
			case <-ctx.Done():
			}
			c.caughtUp.Store(false)
			continue
		}
		skipped := false
		for _, ev := range evs {
			if ev.Type == filelock.EventSnapshot || d.events[ev.Type] {
				c.active.Store(time.Now().UnixNano())
				if !d.deliver(ctx, c.url, ev, c.held) || !c.ack(ctx, ev.ID()) {
					return
				}
				skipped = false
			} else {
				skipped = true
			}
			c.after = ev.ID()
		}
		if skipped && !c.ack(ctx, c.after) {
			return
		}
	}
}

// ack records the position, retrying while the store is unreachable;
// false when ctx ended or the lease is lost. Once ctx has ended it still
// tries once, so that what was delivered before a shutdown is not sent
// again.
func (c *cursor) ack(ctx context.Context, id string) bool {
	d := c.w.d
	retry := newBackoff(50*time.Millisecond, 2*time.Second)
	for {
		sctx, cancel := c.w.storeCtx(context.WithoutCancel(ctx))
		err := d.ds.AckDelivery(sctx, c.w.project, d.opts.Owner, c.fence, c.url, id)
		cancel()
		switch {
		case err == nil:
			return true
		case errors.Is(err, store.ErrLeaseLost):
			c.lost <- struct{}{}
			return false
		}
		if !retry.wait(ctx) {
			return false
		}
	}
}
