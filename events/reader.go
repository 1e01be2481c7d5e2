package events

import (
	"context"
	"errors"
	"math"
	"time"

	"filelock"
	"filelock/store"
)

// run is the hub's one reader: it applies the feed's notices and catches
// projects up from the store, until the hub closes.
func (h *Hub) run(f store.Feed) {
	defer h.wg.Done()
	var retry <-chan time.Time
	for {
		select {
		case <-h.ctx.Done():
			return
		case n, ok := <-f.Notices():
			if !ok {
				return
			}
			h.notice(n)
		case <-h.kick:
		case <-retry:
			retry = nil
		}
		if !h.catchUp() && retry == nil {
			retry = time.After(h.opts.RetryEvery)
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

// scheduleLocked marks a project for catch-up by the reader.
func (h *Hub) scheduleLocked(id string) {
	h.pending[id] = true
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// deliverLocked hands ev to the project's subscribers if it is the next
// event: a live event is the next one when its Prev is the last Seq
// delivered (ids need not be consecutive); a duplicate is ignored, a gap
// schedules a catch-up. A caught-up event (from Store.Events after the last
// one delivered) is the next one by definition. The event is wrapped in one
// Frame shared by every subscriber, so each wire format encodes it once.
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
	p.last = ev.Seq
	for s := range p.subs {
		if s.ready {
			if ev.Seq <= s.after {
				continue
			}
			s.after = ev.Seq
		}
		if !s.push(fr, h.opts.Queue) {
			h.dropLocked(p, s, ErrLagging)
		}
	}
}

// catchUp reads the pending projects' missed events from the store and
// delivers them. It reports false when a store call failed and must be
// retried later.
func (h *Hub) catchUp() bool {
	for {
		h.mu.Lock()
		var id string
		for id = range h.pending {
			break
		}
		if id == "" {
			h.mu.Unlock()
			return true
		}
		delete(h.pending, id)
		p := h.projects[id]
		if p == nil || !p.known {
			h.mu.Unlock()
			continue
		}
		last := p.last
		h.mu.Unlock()

		ctx, cancel := context.WithTimeout(h.ctx, h.opts.StoreTimeout)
		evs, err := h.st.Events(ctx, id, filelock.Event{Seq: last}.ID())
		cancel()

		h.mu.Lock()
		switch {
		case h.projects[id] != p || !p.known:
			// gone or reset meanwhile: the next ready subscriber sets the base
		case p.last != last:
			h.pending[id] = true // rewound meanwhile: read again
		case errors.Is(err, store.ErrHistoryGone):
			for s := range p.subs {
				if s.ready {
					h.dropLocked(p, s, ErrResync)
				}
			}
			h.forgetLocked(p)
		case err != nil:
			h.pending[id] = true
			h.mu.Unlock()
			if h.ctx.Err() == nil {
				h.log.Warn("events: catch-up failed", "project_id", id, "err", err)
			}
			return false
		default:
			for _, ev := range evs {
				h.deliverLocked(p, ev, true)
			}
		}
		h.mu.Unlock()
	}
}
