package events

import (
	"context"
	"errors"
	"sync"

	"filelock"
	"filelock/store"
)

// Subscription is one local subscriber of a project's events.
//
// Initial holds the events to send first: the snapshot (when Subscribe was
// given no resume id, or one out of the store's history) or the events
// after the resume id, followed by any event that arrived while Subscribe
// read the store. C then carries the live events in order, each once, with
// no overlap with Initial and no hole between them. C is closed when the
// subscription ends: by Close, or because it was dropped (Err says why).
type Subscription struct {
	ProjectID string
	Initial   []filelock.Event
	// Replayed is true when Initial starts with the events after the resume
	// id rather than a snapshot.
	Replayed bool
	C        <-chan filelock.Event

	hub  *Hub
	p    *project
	ch   chan filelock.Event
	done chan struct{}

	// guarded by hub.mu
	ready   bool   // Subscribe has returned; after is the last Seq handed out
	after   uint64 // Seq of the last event handed to the subscriber
	base0   uint64 // the project's last Seq when the subscriber registered
	contig  bool   // every event after base0 has been queued for it
	err     error  // why it was dropped
	ended   bool   // channels closed
	closing sync.Once
}

// Done is closed when the subscription ends (dropped or closed).
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err is why the subscription was dropped: ErrLagging, ErrResync or
// ErrClosed; nil while it is live or after Close.
func (s *Subscription) Err() error {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.err
}

// Subscribe registers a subscriber of projectID's events. afterID is the
// resume id ("" for none): when it is still in the store's history, Initial
// replays the events after it; otherwise Initial is a fresh snapshot. Errors
// are the store's (store_unavailable) or ErrClosed; ctx bounds the store
// calls. The caller must Close the subscription.
func (h *Hub) Subscribe(ctx context.Context, projectID, afterID string) (*Subscription, error) {
	if err := filelock.ValidateProjectID(projectID); err != nil {
		return nil, err
	}
	f, err := h.getFeed(ctx)
	if err != nil {
		return nil, err
	}
	s := &Subscription{ProjectID: projectID, hub: h, ch: make(chan filelock.Event, h.opts.Queue), done: make(chan struct{})}
	s.C = s.ch

	// Register first, so that every event the hub delivers from now on is
	// queued for the subscriber while it reads the store.
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	p := h.projects[projectID]
	if p == nil {
		p = &project{id: projectID, subs: map[*Subscription]struct{}{}}
		h.projects[projectID] = p
	}
	s.p = p
	p.subs[s] = struct{}{}
	s.base0, s.contig = p.last, p.known
	h.mu.Unlock()

	// The feed must be in effect before the store is read.
	p.feedMu.Lock()
	if !p.feedOn {
		cctx, cancel := context.WithTimeout(ctx, h.opts.StoreTimeout)
		err = f.Subscribe(cctx, projectID)
		cancel()
		if err == nil {
			p.feedOn = true
		}
	}
	p.feedMu.Unlock()
	if err != nil {
		s.Close()
		return nil, err
	}

	initial, base, replayed, err := h.read(ctx, projectID, afterID)
	if err != nil {
		s.Close()
		return nil, err
	}

	h.mu.Lock()
	if s.err != nil {
		err := s.err
		h.mu.Unlock()
		s.Close()
		return nil, err
	}
	switch {
	case !p.known:
		p.known, p.last = true, base
		if p.seen > base {
			h.scheduleLocked(p.id)
		}
	case p.last > base && !(s.contig && s.base0 <= base):
		// The hub delivered events after base that were never queued for
		// this subscriber: rewind and catch up. Subscribers that already
		// have them drop them as duplicates.
		p.last = base
		h.scheduleLocked(p.id)
	}
	s.after = base
	for drained := false; !drained; {
		select {
		case ev := <-s.ch:
			if ev.Seq > s.after {
				initial = append(initial, ev)
				s.after = ev.Seq
			}
		default:
			drained = true
		}
	}
	s.ready = true
	h.mu.Unlock()
	s.Initial, s.Replayed = initial, replayed
	return s, nil
}

// read returns what a new subscriber sends first and the Seq it ends at.
func (h *Hub) read(ctx context.Context, projectID, afterID string) (initial []filelock.Event, base uint64, replayed bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, h.opts.StoreTimeout)
	defer cancel()
	if seq, ok := filelock.ParseEventID(afterID); ok {
		evs, err := h.st.Events(cctx, projectID, afterID)
		switch {
		case err == nil:
			base = seq
			if len(evs) > 0 {
				base = evs[len(evs)-1].Seq
			}
			return evs, base, true, nil
		case !errors.Is(err, store.ErrHistoryGone):
			return nil, 0, false, err
		}
	}
	st, err := h.st.Status(cctx, projectID)
	if err != nil {
		return nil, 0, false, err
	}
	snap := filelock.SnapshotEvent(st)
	return []filelock.Event{snap}, snap.Seq, false, nil
}

// Close ends the subscription; the last local subscriber of a project
// unsubscribes it from the feed. Close is idempotent.
func (s *Subscription) Close() {
	s.closing.Do(func() {
		h, p := s.hub, s.p
		h.mu.Lock()
		delete(p.subs, s)
		s.endLocked()
		h.mu.Unlock()
		h.release(p)
	})
}

// release unsubscribes p from the feed when it has no subscriber left.
func (h *Hub) release(p *project) {
	p.feedMu.Lock()
	defer p.feedMu.Unlock()
	h.mu.Lock()
	empty := len(p.subs) == 0
	h.mu.Unlock()
	if !empty {
		return
	}
	if p.feedOn {
		h.feedMu.Lock()
		f := h.feed
		h.feedMu.Unlock()
		ctx, cancel := context.WithTimeout(h.ctx, h.opts.StoreTimeout)
		if err := f.Unsubscribe(ctx, p.id); err != nil && h.ctx.Err() == nil {
			h.log.Warn("events: unsubscribe failed", "project_id", p.id, "err", err)
		}
		cancel()
		p.feedOn = false
	}
	h.mu.Lock()
	h.forgetLocked(p)
	if len(p.subs) == 0 && h.projects[p.id] == p {
		delete(h.projects, p.id)
	}
	h.mu.Unlock()
}

// forgetLocked drops the project's delivery base: the next subscriber to
// become ready sets a new one.
func (h *Hub) forgetLocked(p *project) {
	p.known, p.seen = false, 0
	for s := range p.subs {
		if !s.ready {
			s.contig = false
		}
	}
}

// endLocked closes the subscriber's channels once.
func (s *Subscription) endLocked() {
	if !s.ended {
		s.ended = true
		close(s.ch)
		close(s.done)
	}
}

// dropLocked removes a subscriber for reason; its channel closes.
func (h *Hub) dropLocked(p *project, s *Subscription, reason error) {
	delete(p.subs, s)
	if !s.ended {
		s.err = reason
		s.endLocked()
	}
}
