package webhooks

import (
	"context"
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"filelock"
	"filelock/store"
)

// worker delivers one project: while anything is unacknowledged it takes
// the project's lease (or waits for it as a standby) and runs one cursor
// per URL; caught up and idle, it gives the lease up and ends.
type worker struct {
	d       *Deliverer
	project string
	kickc   chan struct{} // buffered 1: the project appended events
	// pendingAt are the positions at which pending last found events
	// waiting (nil: none known); run's alone.
	pendingAt map[string]string
}

func (w *worker) kick() {
	select {
	case w.kickc <- struct{}{}:
	default:
	}
}

// storeCtx bounds one store call.
func (w *worker) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, w.d.opts.StoreTimeout)
}

// run returns when the project is caught up (and its lease given up), or
// when ctx ends.
func (w *worker) run(ctx context.Context) {
	retry := newBackoff(50*time.Millisecond, 2*time.Second)
	for ctx.Err() == nil {
		pending, err := w.pending(ctx)
		w.d.opts.Logger.Debug("webhooks: project checked", "project_id", w.project, "pending", pending, "err", err)
		if err == nil && !pending {
			return
		}
		var fence int64
		taken := time.Now()
		if err == nil {
			sctx, cancel := w.storeCtx(ctx)
			fence, err = w.d.ds.LeaseDelivery(sctx, w.project, w.d.opts.Owner, 0, w.d.opts.Lease)
			cancel()
		}
		if err != nil {
			if !retry.wait(ctx) {
				return
			}
			continue
		}
		retry.reset()
		w.d.opts.Logger.Debug("webhooks: lease", "project_id", w.project, "fence", fence)
		if fence == 0 {
			// Another instance delivers: look again in a while (it may
			// die, or be done).
			if !sleep(ctx, w.d.opts.Lease/3) {
				return
			}
			continue
		}
		if w.deliver(ctx, fence, taken) {
			return
		}
	}
}

// pending reports whether some URL has events (or lost history) past its
// acknowledged position; it runs a few at a time across projects. While
// the positions stay those at which it last found events waiting, they
// still are (events are only appended, and a history that moved past a
// position is pending too): then it reads no events, so that a standby
// waiting on a stuck project does not read its backlog again and again.
func (w *worker) pending(ctx context.Context) (bool, error) {
	select {
	case w.d.sem <- struct{}{}:
		defer func() { <-w.d.sem }()
	case <-ctx.Done():
		return false, ctx.Err()
	}
	sctx, cancel := w.storeCtx(ctx)
	defer cancel()
	pos, err := w.d.ds.DeliveryPositions(sctx, w.project)
	if err != nil {
		return false, err
	}
	if w.pendingAt != nil && maps.Equal(pos, w.pendingAt) {
		return true, nil
	}
	w.pendingAt = nil
	checked := map[string]bool{}
	for _, url := range w.d.opts.URLs {
		after := positionOf(pos, url)
		if checked[after] {
			continue
		}
		checked[after] = true
		evs, err := w.d.st.Events(sctx, w.project, after)
		if errors.Is(err, store.ErrHistoryGone) || (err == nil && len(evs) > 0) {
			w.pendingAt = pos
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
	return false, nil
}

func positionOf(pos map[string]string, url string) string {
	if id, ok := pos[url]; ok {
		return id
	}
	return filelock.InitialEventID
}

// deliver runs the URL cursors while the lease with fence, taken at
// taken, is held. It
// returns true when the project went idle (the lease is given up), false
// when the lease was lost or ctx ended.
func (w *worker) deliver(ctx context.Context, fence int64, taken time.Time) bool {
	d := w.d
	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stop := func() { cancel(); wg.Wait() }
	release := func() {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.StoreTimeout)
		_ = d.ds.ReleaseDelivery(rctx, w.project, d.opts.Owner, fence)
		rcancel()
	}
	validUntil := taken.Add(d.opts.Lease)
	held := newHeldUntil(validUntil)

	sctx, scancel := w.storeCtx(ctx)
	pos, err := d.ds.DeliveryPositions(sctx, w.project)
	scancel()
	if err != nil {
		stop()
		release()
		return false
	}
	lost := make(chan struct{}, len(d.opts.URLs))
	var active atomic.Int64 // unix nanos of the last event or hint
	active.Store(time.Now().UnixNano())
	cursors := make([]*cursor, len(d.opts.URLs))
	for i, url := range d.opts.URLs {
		c := &cursor{w: w, url: url, fence: fence, after: positionOf(pos, url),
			kickc: make(chan struct{}, 1), lost: lost, active: &active, held: held}
		cursors[i] = c
		wg.Go(func() { c.run(lctx) })
	}
	renew := time.NewTicker(d.opts.Lease / 3)
	defer renew.Stop()
	expire := time.NewTimer(time.Until(validUntil))
	defer expire.Stop()
	for {
		select {
		case <-ctx.Done():
			stop()
			release()
			return false
		case <-lost:
			stop()
			return false
		case <-expire.C: // not renewed in time: it may be another's by now
			stop()
			return false
		case <-w.kickc:
			active.Store(time.Now().UnixNano())
			for _, c := range cursors {
				c.kick()
			}
		case <-renew.C:
			start := time.Now()
			sctx, scancel := w.storeCtx(ctx)
			_, err := d.ds.LeaseDelivery(sctx, w.project, d.opts.Owner, fence, d.opts.Lease)
			scancel()
			switch {
			case errors.Is(err, store.ErrLeaseLost):
				stop()
				return false
			case err != nil:
				continue // expire ends the delivery unless a renewal succeeds
			}
			validUntil = start.Add(d.opts.Lease)
			held.set(validUntil)
			expire.Reset(time.Until(validUntil))
			idle := time.Since(time.Unix(0, active.Load())) >= d.opts.IdleAfter
			for _, c := range cursors {
				idle = idle && c.caughtUp.Load()
			}
			if idle {
				stop()
				release()
				return true
			}
		}
	}
}

// sleep waits for d or ctx; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
