// Package memory is the in-process store.Store: one instance, nothing
// survives a restart (SPEC §8). All state sits behind one mutex; every
// change appends its event in the same critical section, and feeds are fed
// without blocking it.
package memory

import (
	"context"
	"errors"
	"sync"
	"time"

	"filelock"
	"filelock/store"
)

var (
	_ store.Store     = (*Store)(nil)
	_ store.Immediate = (*Store)(nil)
)

var (
	errClosed     = errors.New("memory store closed")
	errFeedClosed = errors.New("feed closed")
)

// Immediate reports true: a call takes the store's mutex for a bounded,
// in-memory step and never blocks on anything else.
func (s *Store) Immediate() bool { return true }

// Store is the in-process store. Create it with New.
type Store struct {
	opts      store.Options
	idleAfter time.Duration    // IdleAfter; shorter in tests
	wall      func() time.Time // seeds event seqs; time.Now but in tests

	mu       sync.Mutex
	closed   bool
	top      uint64 // the highest Seq handed out, in any project
	projects map[string]*project
	subs     map[string]map[*feed]struct{} // project → subscribed feeds
	feeds    map[*feed]struct{}
	due      dueQueue
	wake     chan struct{} // closed (and replaced) when the next due time moves earlier
	done     chan struct{} // closed by Close
}

// project is the state of one project.
type project struct {
	id      string
	base    uint64 // Seq before the first event (unix µs at the first event)
	seq     uint64 // Seq of the newest event; 0 before the first
	hist    []filelock.Event
	locks   map[string]*lock  // by file
	held    map[string]string // user → file
	conns   map[string]*conn  // connection id → connection
	present map[string]int    // user → live connections
}

// lock is a held lock with its deadline: the instant of its ExpiresAt on
// the monotonic clock, so a step of the wall clock neither frees a lock
// early nor keeps it late.
type lock struct {
	filelock.Lock
	deadline time.Time // carries time.Now's monotonic reading
}

// setExpiry sets the lock's ExpiresAt to now + ttl (millisecond precision,
// like the wire format) and its deadline to that instant.
func (l *lock) setExpiry(now time.Time, ttl time.Duration) {
	l.ExpiresAt = stamp(now).Add(ttl)
	l.deadline = now.Add(l.ExpiresAt.Sub(now)) // Sub by the wall clock; Add keeps now's monotonic reading
}

type conn struct {
	user  string
	lease time.Time // zero: no lease
}

// New returns an empty store. Zero fields of opts take the defaults
// (store.Options.WithDefaults).
func New(opts store.Options) *Store {
	opts = opts.WithDefaults()
	return &Store{
		opts:      opts,
		idleAfter: IdleAfter,
		wall:      time.Now,
		projects:  map[string]*project{},
		subs:      map[string]map[*feed]struct{}{},
		feeds:     map[*feed]struct{}{},
		due:       newDueQueue(),
		wake:      make(chan struct{}),
		done:      make(chan struct{}),
	}
}

// begin checks the context and the store and takes the lock; the caller
// defers s.mu.Unlock.
func (s *Store) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return store.Unavailable(err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.Unavailable(errClosed)
	}
	return nil
}

// project returns the project, creating it when create is set (else nil).
func (s *Store) project(id string, create bool) *project {
	p := s.projects[id]
	if p == nil && create {
		p = &project{id: id, locks: map[string]*lock{}, held: map[string]string{}, conns: map[string]*conn{}, present: map[string]int{}}
		s.projects[id] = p
	}
	return p
}

// stamp is a lock timestamp: UTC, millisecond precision like the wire format.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// Ping reports store_unavailable once the store is closed.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	s.mu.Unlock()
	return nil
}

// Close ends Run, closes every feed and makes every later call fail with
// store_unavailable. It is safe to call more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	feeds := make([]*feed, 0, len(s.feeds))
	for f := range s.feeds {
		feeds = append(feeds, f)
	}
	s.mu.Unlock()
	for _, f := range feeds {
		_ = f.Close()
	}
	return nil
}
