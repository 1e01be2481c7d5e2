// Package events fans the store's event log out to the live subscribers of
// one instance (SPEC §1 I6, §5).
//
// A Hub keeps one reader per project that has local subscribers: it
// subscribes the project on the store's Feed when the first local subscriber
// arrives and unsubscribes it when the last one leaves. Every subscriber gets
// the project's events once each, in the order the store applied them: the
// hub tracks the last Seq it delivered per project, delivers a notice whose
// Prev is the last Seq delivered, drops duplicates, and catches up from Store.Events on
// a gap, a Resync notice, and every Options.CheckEvery for every project
// (so that a lost last event is noticed within seconds). One goroutine per
// hub reads notices; catch-ups run beside it, one at a time per project and
// at most Options.CatchUps at once. A catch-up that brings more events than
// a subscriber's queue can take gives that subscriber a fresh snapshot
// instead. Subscribers never touch the store after Subscribe returns.
//
// Each event becomes one immutable Frame shared by all its subscribers; a
// transport encodes it through Frame.Bytes with its own Format, so an event
// is encoded once per wire format, not once per subscriber. Each subscriber
// has a bounded queue (Options.Queue frames, allocated as it fills). A subscriber
// that falls further behind is dropped: it ends and Err says why;
// the transport disconnects it and the client resumes from its last event id.
package events

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"filelock/store"
)

// ErrLagging is the reason a subscriber whose queue overflowed was dropped.
var ErrLagging = errors.New("events: subscriber fell behind")

// ErrResync is the reason subscribers are dropped when the events they are
// owed have left the store's history: they resume with a fresh snapshot.
var ErrResync = errors.New("events: history gone, resubscribe")

// ErrClosed is the reason subscribers are dropped when the hub closes.
var ErrClosed = errors.New("events: hub closed")

// Options tune a Hub.
type Options struct {
	Queue        int           // per-subscriber queue, limits.send_queue (DefaultQueue)
	StoreTimeout time.Duration // bound on each store call (store.CallTimeout)
	RetryEvery   time.Duration // how soon a failed catch-up is retried (500ms)
	CheckEvery   time.Duration // how often every project's position is checked against the store (5s)
	CatchUps     int           // catch-ups running at once, over all projects (8)
	// Formats are encoded by the hub as each event arrives, before any
	// subscriber is woken, so that subscribers only read the shared bytes
	// (no encoding, no waiting on one another), whether or not a
	// subscriber reads them; so are the formats the project's subscribers
	// named in Subscribe. Other formats are encoded on first use by
	// Frame.Bytes.
	Formats []*Format
	Logger  *slog.Logger
}

// Hub is the per-instance fan-out of project events. Its methods are safe
// for concurrent use.
type Hub struct {
	st   store.Store
	opts Options
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	feedMu sync.Mutex // guards feed creation
	feed   store.Feed

	mu       sync.Mutex
	projects map[string]*project
	pending  map[string]bool // projects to catch up
	running  int             // catch-up workers running
	closed   bool
}

type project struct {
	id      string
	subs    map[*Subscription]struct{}
	formats []formatUse // the formats subs named, each with its number of subscribers
	known   bool        // last is the base of delivery
	last    uint64      // Seq of the last event delivered (when known)
	seen    uint64      // highest Seq noticed while !known (MaxUint64 after a Resync)
	busy    bool        // a catch-up worker runs for it
	feedOn  bool        // guarded by feedMu
	feedMu  sync.Mutex
}

// formatUse is a format and how many of a project's subscribers read it.
type formatUse struct {
	f *Format
	n int
}

// addSubLocked registers s as a subscriber of p.
func (p *project) addSubLocked(s *Subscription) {
	p.subs[s] = struct{}{}
	for _, f := range s.formats {
		i := 0
		for i < len(p.formats) && p.formats[i].f != f {
			i++
		}
		if i == len(p.formats) {
			p.formats = append(p.formats, formatUse{f: f})
		}
		p.formats[i].n++
	}
}

// removeSubLocked unregisters s, if it is a subscriber of p; a format no
// subscriber reads any more is no longer encoded ahead.
func (p *project) removeSubLocked(s *Subscription) {
	if _, ok := p.subs[s]; !ok {
		return
	}
	delete(p.subs, s)
	for _, f := range s.formats {
		for i := range p.formats {
			if p.formats[i].f == f {
				if p.formats[i].n--; p.formats[i].n == 0 {
					p.formats = append(p.formats[:i], p.formats[i+1:]...)
				}
				break
			}
		}
	}
}

// DefaultQueue is the default of Options.Queue (limits.send_queue).
const DefaultQueue = 256

// New returns a hub reading st's event log. Close stops it.
func New(st store.Store, opts Options) *Hub {
	if opts.Queue <= 0 {
		opts.Queue = DefaultQueue
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = store.CallTimeout
	}
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = 500 * time.Millisecond
	}
	if opts.CheckEvery <= 0 {
		opts.CheckEvery = 5 * time.Second
	}
	if opts.CatchUps <= 0 {
		opts.CatchUps = 8
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Hub{st: st, opts: opts, log: opts.Logger, ctx: ctx, cancel: cancel,
		projects: map[string]*project{}, pending: map[string]bool{}}
}

// Close drops every subscriber (ErrClosed), stops the reader and closes the
// feed. It waits for the reader to return.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	for _, p := range h.projects {
		for s := range p.subs {
			h.dropLocked(p, s, ErrClosed)
		}
	}
	h.mu.Unlock()
	h.cancel()
	h.feedMu.Lock()
	f := h.feed
	h.feedMu.Unlock()
	var err error
	if f != nil {
		err = f.Close()
	}
	h.wg.Wait()
	return err
}

// getFeed opens the store's feed on first use and starts the reader.
func (h *Hub) getFeed(ctx context.Context) (store.Feed, error) {
	h.feedMu.Lock()
	defer h.feedMu.Unlock()
	if h.feed != nil {
		return h.feed, nil
	}
	if h.ctx.Err() != nil {
		return nil, ErrClosed
	}
	f, err := h.st.Feed(h.ctx)
	if err != nil {
		return nil, err
	}
	h.feed = f
	h.wg.Add(1)
	go h.run(f)
	return f, nil
}

// Stats reports how many projects have local subscribers and how many
// subscribers there are in all.
func (h *Hub) Stats() (projects, subscribers int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.projects {
		if len(p.subs) > 0 {
			projects++
			subscribers += len(p.subs)
		}
	}
	return
}
