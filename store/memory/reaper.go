package memory

import (
	"container/heap"
	"context"
	"time"

	"filelock"
)

// Due work of the reaper, one item per key, ordered by time.
const (
	dueLock       = iota // a lock's expires_at
	dueLease             // a connection's lease
	dueDisconnect        // a user's disconnect release
	dueIdle              // a project's state may be forgotten
)

// IdleAfter is how long a project with no lock and no live connection keeps
// its state (history, counter) after its last event. Forgetting it is safe:
// its next event seeds the counter from the clock again, above every earlier
// token and id, and a stream resuming from an old id gets a snapshot.
const IdleAfter = time.Hour

type dueKey struct {
	kind    int
	project string
	key     string // file, connection id or user
}

func lockKey(project, file string) dueKey       { return dueKey{dueLock, project, file} }
func leaseKey(project, connID string) dueKey    { return dueKey{dueLease, project, connID} }
func disconnectKey(project, user string) dueKey { return dueKey{dueDisconnect, project, user} }
func idleKey(project string) dueKey             { return dueKey{dueIdle, project, ""} }

type dueItem struct {
	key   dueKey
	at    time.Time
	index int
}

// dueQueue is a min-heap of due items indexed by key.
type dueQueue struct {
	items []*dueItem
	byKey map[dueKey]*dueItem
}

func newDueQueue() dueQueue { return dueQueue{byKey: map[dueKey]*dueItem{}} }

func (q *dueQueue) Len() int           { return len(q.items) }
func (q *dueQueue) Less(i, j int) bool { return q.items[i].at.Before(q.items[j].at) }
func (q *dueQueue) Swap(i, j int) {
	q.items[i], q.items[j] = q.items[j], q.items[i]
	q.items[i].index, q.items[j].index = i, j
}
func (q *dueQueue) Push(x any) {
	it := x.(*dueItem)
	it.index = len(q.items)
	q.items = append(q.items, it)
}
func (q *dueQueue) Pop() any {
	it := q.items[len(q.items)-1]
	q.items[len(q.items)-1] = nil
	q.items = q.items[:len(q.items)-1]
	return it
}

// schedule sets the key's due time, waking the runners when it becomes the
// earliest. Called with s.mu held.
func (s *Store) schedule(k dueKey, at time.Time) {
	q := &s.due
	earliest := q.Len() == 0 || at.Before(q.items[0].at)
	if it := q.byKey[k]; it != nil {
		it.at = at
		heap.Fix(q, it.index)
	} else {
		it = &dueItem{key: k, at: at}
		q.byKey[k] = it
		heap.Push(q, it)
	}
	if earliest {
		close(s.wake)
		s.wake = make(chan struct{})
	}
}

// cancel drops the key's due item, if any. Called with s.mu held.
func (s *Store) cancel(k dueKey) {
	if it := s.due.byKey[k]; it != nil {
		heap.Remove(&s.due, it.index)
		delete(s.due.byKey, k)
	}
}

// Run implements store.Store: it sleeps until the earliest due item (a
// lock's expires_at, a lease, a disconnect release), carries out what is
// due, and returns nil when ctx ends or the store is closed. Several Runs
// may share a store; each item is carried out once.
func (s *Store) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil
		}
		now := time.Now()
		for s.due.Len() > 0 && !s.due.items[0].at.After(now) {
			it := heap.Pop(&s.due).(*dueItem)
			delete(s.due.byKey, it.key)
			s.fire(it.key, now)
		}
		wait := time.Hour
		if s.due.Len() > 0 {
			wait = s.due.items[0].at.Sub(now)
		}
		wake := s.wake
		s.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-s.done:
			return nil
		case <-wake:
		case <-timer.C:
		}
	}
}

// fire carries out one due item. Called with s.mu held.
func (s *Store) fire(k dueKey, now time.Time) {
	p := s.projects[k.project]
	if p == nil {
		return
	}
	switch k.kind {
	case dueLock:
		s.live(p, p.locks[k.key], now)
	case dueLease:
		if c := p.conns[k.key]; c != nil && !c.lease.IsZero() && !now.Before(c.lease) {
			s.drop(p, k.key, now)
		}
	case dueIdle:
		if len(p.locks) == 0 && len(p.conns) == 0 {
			delete(s.projects, p.id)
		} else {
			s.schedule(k, now.Add(s.idleAfter))
		}
	case dueDisconnect:
		if f, ok := p.held[k.key]; ok && p.present[k.key] == 0 {
			// A lock that expired meanwhile goes as expired, as in the Redis store.
			if l := s.live(p, p.locks[f], now); l != nil {
				s.release(p, l, filelock.ReasonDisconnected)
			}
		}
	}
}
