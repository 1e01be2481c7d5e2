package events

import (
	"context"
	"errors"
	"math"
	"time"

	"filelock"
	"filelock/store"
)

// run is the hub's one reader: it applies the feed's notices and, every
// CheckEvery, schedules a check of every project, until the hub closes.
// It never calls the store itself: catch-ups run in their own workers.
func (h *Hub) run(f store.Feed) {
	defer h.wg.Done()
	check := time.NewTicker(h.opts.CheckEvery)
	defer check.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case n, ok := <-f.Notices():
			if !ok {
				return
			}
			h.notice(n)
		case <-check.C:
			h.checkAll()
		}
	}
}

// checkAll schedules a catch-up of every project with a delivery base: an
// event whose notice was lost and that no later event reveals (the
// project's last one) is then delivered within CheckEvery. A catch-up that
// finds nothing new costs one Store.Events call.
func (h *Hub) checkAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, p := range h.projects {
		if p.known {
			h.scheduleLocked(id)
		}
	}
}

// notice applies one notice of the feed.
func (h *Hub) notice(n store.Notice) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n.Resync {
		if n.ProjectID == "" {
			for id := range h.projects {
				h.resyncLocked(id)
			}
		} else {
			h.resyncLocked(n.ProjectID)
		}
		return
	}
	id := n.ProjectID
	if id == "" {
		id = n.Event.ProjectID
	}
	if p := h.projects[id]; p != nil {
		h.deliverLocked(p, n.Event, false)
	}
}

// resyncLocked applies a Resync of the project: a catch-up, also for a
// project whose first subscriber is still reading the store (no delivery
// base yet): what was lost may be newer than the base it will set, so it
// catches up once it is ready.
func (h *Hub) resyncLocked(id string) {
	if p := h.projects[id]; p != nil && !p.known {
		p.seen = math.MaxUint64
	}
	h.scheduleLocked(id)
}

// scheduleLocked marks a project for catch-up and starts workers.
func (h *Hub) scheduleLocked(id string) {
	h.pending[id] = true
	h.dispatchLocked()
}

// dispatchLocked starts a catch-up worker for pending projects that have
// none, while fewer than CatchUps run. A pending project whose worker runs
// is taken up by that worker when it is done.
func (h *Hub) dispatchLocked() {
	for id := range h.pending {
		if h.running >= h.opts.CatchUps || h.closed {
			return
		}
		p := h.projects[id]
		if p == nil || !p.known {
			delete(h.pending, id) // the next ready subscriber sets the base
			continue
		}
		if p.busy {
			continue
		}
		delete(h.pending, id)
		p.busy = true
		h.running++
		h.wg.Add(1)
		go h.worker(p)
	}
}

// worker catches p up until it is no longer pending, then lets another
// project have its slot. A failed store call is retried after RetryEvery.
func (h *Hub) worker(p *project) {
	defer h.wg.Done()
	for {
		ok := h.catchUp(p)
		h.mu.Lock()
		if !ok {
			time.AfterFunc(h.opts.RetryEvery, func() {
				h.mu.Lock()
				defer h.mu.Unlock()
				if h.projects[p.id] == p {
					h.scheduleLocked(p.id)
				}
			})
		}
		if ok && h.pending[p.id] && h.projects[p.id] == p && p.known && !h.closed {
			delete(h.pending, p.id)
			h.mu.Unlock()
			continue
		}
		p.busy = false
		h.running--
		h.dispatchLocked()
		h.mu.Unlock()
		return
	}
}

// deliverLocked hands ev to the project's subscribers if it is the next
// event: a live event is the next one when its Prev is the last Seq
// delivered (ids need not be consecutive); a duplicate is ignored, a gap
// schedules a catch-up. A caught-up event (from Store.Events after the last
// one delivered) is the next one by definition. The event is wrapped in one
// Frame shared by every subscriber, so each wire format encodes it once; the
// formats its subscribers read are encoded before any of them is woken.
func (h *Hub) deliverLocked(p *project, ev filelock.Event, caughtUp bool) {
	if !p.known {
		p.seen = max(p.seen, ev.Seq)
		return
	}
	if ev.Seq <= p.last {
		return
	}
	if ev.Prev != p.last && !caughtUp {
		h.scheduleLocked(p.id)
		return
	}
	if ev.ProjectID == "" {
		ev.ProjectID = p.id
	}
	fr := &Frame{Event: ev, after: p.last}
	for _, f := range h.opts.Formats {
		_, _ = fr.Bytes(f)
	}
	for _, u := range p.formats {
		_, _ = fr.Bytes(u.f)
	}
	p.last = ev.Seq
	for s := range p.subs {
		if !s.ready {
			// Still in Subscribe: a frame that does not fit leaves a hole,
			// which Subscribe sees and repairs by a rewind.
			s.push(fr, h.opts.Queue)
			continue
		}
		if ev.Seq <= s.after {
			continue
		}
		s.after = ev.Seq
		if !s.push(fr, h.opts.Queue) {
			h.dropLocked(p, s, ErrLagging)
		}
	}
}

// catchUp reads the project's events after the last one delivered and
// delivers them. It reports false when a store call failed and must be
// retried later.
func (h *Hub) catchUp(p *project) bool {
	h.mu.Lock()
	if h.projects[p.id] != p || !p.known {
		h.mu.Unlock()
		return true
	}
	last := p.last
	h.mu.Unlock()

	ctx, cancel := context.WithTimeout(h.ctx, h.opts.StoreTimeout)
	evs, err := h.st.Events(ctx, p.id, filelock.Event{Seq: last}.ID())
	cancel()

	var snap *Frame // a snapshot for the subscribers the catch-up would overflow
	for {
		h.mu.Lock()
		switch {
		case h.projects[p.id] != p || !p.known:
			// gone or reset meanwhile: the next ready subscriber sets the base
		case p.last < last:
			h.pending[p.id] = true // rewound meanwhile: read again
		case errors.Is(err, store.ErrHistoryGone):
			for s := range p.subs {
				if s.ready {
					h.dropLocked(p, s, ErrResync)
				}
			}
			h.forgetLocked(p)
		case err != nil:
			h.mu.Unlock()
			if h.ctx.Err() == nil {
				h.log.Warn("events: catch-up failed", "project_id", p.id, "err", err)
			}
			return false
		case snap == nil && h.overflowsLocked(p, evs):
			h.mu.Unlock()
			if snap, err = h.snapshot(p.id); err != nil {
				if h.ctx.Err() == nil {
					h.log.Warn("events: catch-up snapshot failed", "project_id", p.id, "err", err)
				}
				return false
			}
			continue // decide again with the snapshot at hand
		default:
			// Live events may have been delivered meanwhile (p.last >
			// last): those in evs are duplicates, the rest follow on.
			if snap != nil {
				h.resetOverflowedLocked(p, evs, snap)
			}
			for _, ev := range evs {
				h.deliverLocked(p, ev, true)
			}
		}
		h.mu.Unlock()
		return true
	}
}

// overflowsLocked reports whether delivering evs would overflow the queue of
// one of p's ready subscribers.
func (h *Hub) overflowsLocked(p *project, evs []filelock.Event) bool {
	if len(evs) == 0 {
		return false
	}
	for s := range p.subs {
		if s.ready && s.queued()+owed(s.after, evs) > h.opts.Queue {
			return true
		}
	}
	return false
}

// owed is how many of evs come after Seq after.
func owed(after uint64, evs []filelock.Event) int {
	n := 0
	for i := len(evs) - 1; i >= 0 && evs[i].Seq > after; i-- {
		n++
	}
	return n
}

// resetOverflowedLocked gives each ready subscriber that cannot take evs the
// snapshot instead: its queue is replaced by the snapshot, which stands for
// every event up to the snapshot's Seq, and it goes on live from there. A
// snapshot older than evs (a store that went back) cannot stand for them:
// those subscribers are dropped (ErrLagging) and resume.
func (h *Hub) resetOverflowedLocked(p *project, evs []filelock.Event, snap *Frame) {
	newest := evs[len(evs)-1].Seq
	for s := range p.subs {
		if !s.ready || s.queued()+owed(s.after, evs) <= h.opts.Queue {
			continue
		}
		if snap.Event.Seq < newest {
			h.dropLocked(p, s, ErrLagging)
			continue
		}
		s.replace(snap)
		s.after = max(s.after, snap.Event.Seq)
	}
}

// snapshot reads the project's state as a snapshot frame.
func (h *Hub) snapshot(projectID string) (*Frame, error) {
	ctx, cancel := context.WithTimeout(h.ctx, h.opts.StoreTimeout)
	defer cancel()
	st, err := h.st.Status(ctx, projectID)
	if err != nil {
		return nil, err
	}
	return &Frame{Event: filelock.SnapshotEvent(st)}, nil
}
