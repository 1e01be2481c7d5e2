package memory

import (
	"context"
	"sync"

	"filelock/store"
)

// feedQueue bounds the notices a feed holds for a slow reader; past it, the
// queued notices are dropped for one Resync notice of every project.
const feedQueue = 4096

// Feed implements store.Store. Delivery never blocks the store: each feed
// queues notices and a goroutine of its own hands them to the reader.
func (s *Store) Feed(ctx context.Context) (store.Feed, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	f := &feed{
		s:        s,
		out:      make(chan store.Notice, 64),
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		exited:   make(chan struct{}),
		projects: map[string]bool{},
	}
	s.feeds[f] = struct{}{}
	go f.pump()
	return f, nil
}

type feed struct {
	s        *Store
	out      chan store.Notice
	kick     chan struct{}
	done     chan struct{}
	exited   chan struct{}
	once     sync.Once
	projects map[string]bool // guarded by s.mu

	mu     sync.Mutex
	queue  []store.Notice
	resync bool
}

// push queues n without blocking; on overflow it drops the queue and asks
// the reader to resync.
func (f *feed) push(n store.Notice) {
	f.mu.Lock()
	if len(f.queue) >= feedQueue {
		clear(f.queue)
		f.queue = f.queue[:0]
		f.resync = true
	}
	f.queue = append(f.queue, n)
	f.mu.Unlock()
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// pump hands queued notices to the reader until Close.
func (f *feed) pump() {
	defer close(f.exited)
	defer close(f.out)
	var batch []store.Notice
	for {
		select {
		case <-f.kick:
		case <-f.done:
			return
		}
		f.mu.Lock()
		batch, f.queue = f.queue, batch[:0]
		resync := f.resync
		f.resync = false
		f.mu.Unlock()
		if resync {
			batch = append([]store.Notice{{Resync: true}}, batch...)
		}
		for _, n := range batch {
			select {
			case f.out <- n:
			case <-f.done:
				return
			}
		}
		clear(batch)
	}
}

func (f *feed) Subscribe(ctx context.Context, projectID string) error {
	if err := f.s.begin(ctx); err != nil {
		return err
	}
	defer f.s.mu.Unlock()
	if _, open := f.s.feeds[f]; !open {
		return store.Unavailable(errFeedClosed)
	}
	subs := f.s.subs[projectID]
	if subs == nil {
		subs = map[*feed]struct{}{}
		f.s.subs[projectID] = subs
	}
	subs[f] = struct{}{}
	f.projects[projectID] = true
	return nil
}

func (f *feed) Unsubscribe(ctx context.Context, projectID string) error {
	if err := f.s.begin(ctx); err != nil {
		return err
	}
	defer f.s.mu.Unlock()
	f.unsubscribe(projectID)
	return nil
}

func (f *feed) unsubscribe(projectID string) {
	delete(f.projects, projectID)
	if subs := f.s.subs[projectID]; subs != nil {
		delete(subs, f)
		if len(subs) == 0 {
			delete(f.s.subs, projectID)
		}
	}
}

func (f *feed) Notices() <-chan store.Notice { return f.out }

// Close ends the feed and closes Notices; it is safe to call more than once.
func (f *feed) Close() error {
	f.once.Do(func() {
		f.s.mu.Lock()
		for p := range f.projects {
			f.unsubscribe(p)
		}
		delete(f.s.feeds, f)
		f.s.mu.Unlock()
		close(f.done)
	})
	<-f.exited
	return nil
}
