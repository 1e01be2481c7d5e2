package events

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"filelock"
	"filelock/store"
)

// Subscription is one local subscriber of a project's events.
//
// Initial holds the frames to send first: a snapshot (when Subscribe was
// given no resume id, or one out of the store's history) or the events
// after the resume id, followed by any event that arrived while Subscribe
// read the store. The live frames then come through Take, in order, each
// once, with no overlap with Initial and no hole between them, until the
// subscription ends: by Close, or because the hub dropped it (Err says
// why). Frames are shared with the project's other subscribers: read them,
// never modify them. Initial starts with a snapshot frame (Event.Type
// snapshot) exactly when no resume id was given or it could not be used; a
// resumed subscription's Initial holds only the replayed events (possibly
// none). A snapshot can also come later, live: when a catch-up brings more
// events than the queue can take, the queue is replaced by a fresh
// snapshot, which stands for every event up to its Seq.
//
// A consumer loops: receive from Ready, Take, send the frames; on Take's
// error, send what it returned and end the stream.
//
// The live queue is empty and unallocated until an event arrives; it grows
// as needed up to Options.Queue frames. A subscriber that would need more is
// dropped (ErrLagging).
type Subscription struct {
	ProjectID string
	Initial   []*Frame

	hub     *Hub
	p       *project
	formats []*Format              // the formats it reads frames in (Subscribe)
	wake    chan struct{}          // one token: frames were queued or the subscription ended
	notify  atomic.Pointer[func()] // set: called instead of a token on wake
	done    chan struct{}          // closed when the subscription ends

	qmu   sync.Mutex
	q     []*Frame // the live queue, oldest first
	err   error    // why it was dropped (guarded by qmu)
	ended bool     // wake and done are settled (guarded by qmu)

	// guarded by hub.mu
	ready bool   // Subscribe has returned; after is the last Seq handed out
	after uint64 // Seq of the last event handed to the subscriber

	closing sync.Once
}

// Ready has a value whenever frames were queued or the subscription ended
// since the last receive from it: receive, then call Take. A receive may
// find nothing new to Take.
func (s *Subscription) Ready() <-chan struct{} { return s.wake }

// Done is closed when the subscription ends (dropped or closed).
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Take appends the queued frames, oldest first, to buf, empties the queue
// and returns buf. err is nil while the subscription is live. Once it has
// ended, Take returns the frames that were still queued (they are in order
// and may be sent) together with the reason: Err when the hub dropped it
// (ErrLagging, ErrResync, ErrClosed), ErrClosed after Close.
func (s *Subscription) Take(buf []*Frame) ([]*Frame, error) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	buf = append(buf, s.q...)
	if cap(s.q) > keepQueue {
		s.q = nil // give a burst's memory back
	} else {
		clear(s.q)
		s.q = s.q[:0]
	}
	if s.ended {
		if s.err != nil {
			return buf, s.err
		}
		return buf, ErrClosed
	}
	return buf, nil
}

// keepQueue is the largest queue capacity a subscriber keeps once drained.
const keepQueue = 8

// Err is why the subscription was dropped: ErrLagging, ErrResync or
// ErrClosed; nil while it is live or after Close.
func (s *Subscription) Err() error {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return s.err
}

// push queues fr; false when the queue already holds limit frames.
func (s *Subscription) push(fr *Frame, limit int) bool {
	s.qmu.Lock()
	if s.ended {
		s.qmu.Unlock()
		return true
	}
	if len(s.q) >= limit {
		s.qmu.Unlock()
		return false
	}
	if len(s.q) == cap(s.q) {
		q := make([]*Frame, len(s.q), min(max(2*cap(s.q), 4), limit))
		copy(q, s.q)
		s.q = q
	}
	s.q = append(s.q, fr)
	s.qmu.Unlock()
	s.signal()
	return true
}

// takeQueued empties the queue and returns what it held.
func (s *Subscription) takeQueued() []*Frame {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	q := s.q
	s.q = nil
	return q
}

func (s *Subscription) signal() {
	if f := s.notify.Load(); f != nil {
		(*f)()
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Notify makes f run, instead of a token on Ready, whenever frames were
// queued or the subscription ended, so that a subscriber needs no
// goroutine of its own while idle; f also runs once when Notify is called.
// f runs inside the hub's delivery: it must return at once (start the
// work, don't do it).
func (s *Subscription) Notify(f func()) {
	s.notify.Store(&f)
	f()
}

// Subscribe registers a subscriber of projectID's events. afterID is the
// resume id ("" for none): when it is still in the store's history, Initial
// replays the events after it; otherwise Initial is a fresh snapshot. Errors
// are the store's (store_unavailable) or ErrClosed; ctx bounds the store
// calls. formats are the wire formats the subscriber reads frames in: while
// it lives, the hub encodes each live event of the project in them before
// it wakes any subscriber (once per event, however many read it); a format
// nobody reads is not encoded ahead (unless it is one of Options.Formats).
// The caller must Close the subscription.
func (h *Hub) Subscribe(ctx context.Context, projectID, afterID string, formats ...*Format) (*Subscription, error) {
	if err := filelock.ValidateProjectID(projectID); err != nil {
		return nil, err
	}
	f, err := h.getFeed(ctx)
	if err != nil {
		return nil, err
	}
	s := &Subscription{ProjectID: projectID, hub: h, formats: formats, wake: make(chan struct{}, 1), done: make(chan struct{})}

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
	p.addSubLocked(s)
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

	initial, base, err := h.read(ctx, projectID, afterID)
	if err != nil {
		s.Close()
		return nil, err
	}

	h.mu.Lock()
	if err := s.Err(); err != nil {
		h.mu.Unlock()
		s.Close()
		return nil, err
	}
	// What the subscriber sends first ends at base; the frames queued since
	// it registered extend it only where they follow on without a hole
	// (each frame records the Seq delivered before it). A queued frame that
	// does not follow on is skipped: the rewind below delivers it again.
	after := base
	for _, fr := range s.takeQueued() {
		if fr.Event.Seq > after && fr.after == after {
			initial = append(initial, fr)
			after = fr.Event.Seq
		}
	}
	switch {
	case !p.known:
		p.known, p.last = true, after
		if p.seen > after {
			h.scheduleLocked(p.id)
		}
	case p.last > after:
		// The hub delivered events after what this subscriber has: rewind
		// and catch up. Subscribers that already have them drop them as
		// duplicates.
		p.last = after
		h.scheduleLocked(p.id)
	}
	s.after = after
	s.ready = true
	h.mu.Unlock()
	s.Initial = initial
	return s, nil
}

// read returns what a new subscriber sends first and the Seq it ends at.
func (h *Hub) read(ctx context.Context, projectID, afterID string) (initial []*Frame, base uint64, err error) {
	cctx, cancel := context.WithTimeout(ctx, h.opts.StoreTimeout)
	defer cancel()
	if seq, ok := filelock.ParseEventID(afterID); ok {
		evs, err := h.st.Events(cctx, projectID, afterID)
		switch {
		case err == nil:
			base = seq
			initial = make([]*Frame, len(evs))
			for i, ev := range evs {
				if ev.ProjectID == "" {
					ev.ProjectID = projectID
				}
				initial[i] = &Frame{Event: ev}
				base = ev.Seq
			}
			return initial, base, nil
		case !errors.Is(err, store.ErrHistoryGone):
			return nil, 0, err
		}
	}
	st, err := h.st.Status(cctx, projectID)
	if err != nil {
		return nil, 0, err
	}
	snap := filelock.SnapshotEvent(st)
	return []*Frame{{Event: snap}}, snap.Seq, nil
}

// Close ends the subscription; the last local subscriber of a project
// unsubscribes it from the feed. Close is idempotent.
func (s *Subscription) Close() {
	s.closing.Do(func() {
		h, p := s.hub, s.p
		h.mu.Lock()
		p.removeSubLocked(s)
		s.end(nil)
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
}

// end settles the subscription once, with reason (nil for Close): Done
// closes and Ready gets its last token. Frames still queued stay for Take.
func (s *Subscription) end(reason error) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.ended {
		return
	}
	s.ended, s.err = true, reason
	close(s.done)
	s.signal()
}

// dropLocked removes a subscriber for reason; it ends.
func (h *Hub) dropLocked(p *project, s *Subscription, reason error) {
	p.removeSubLocked(s)
	s.end(reason)
}

// queued is how many frames wait in the queue.
func (s *Subscription) queued() int {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return len(s.q)
}

// replace empties the queue and queues fr alone.
func (s *Subscription) replace(fr *Frame) {
	s.qmu.Lock()
	if s.ended {
		s.qmu.Unlock()
		return
	}
	clear(s.q)
	s.q = append(s.q[:0], fr)
	s.qmu.Unlock()
	s.signal()
}
