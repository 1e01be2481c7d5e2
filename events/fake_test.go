package events

import (
	"context"
	"strconv"
	"sync"

	"filelock"
	"filelock/store"
)

// fakeStore is an event log with a feed whose notices a test can lose,
// repeat or replace by a Resync; only the methods the hub uses are real.
type fakeStore struct {
	store.Store
	mu      sync.Mutex
	history int
	logs    map[string][]filelock.Event // retained events per project
	seqs    map[string]uint64           // Seq of the project's last event
	all     map[string][]uint64         // Seq of every event ever appended
	subs    map[string]int
	feed    *fakeFeed
	lose    bool // lose notices
	repeat  bool // send every notice twice

	afterStatus  func()          // when set, run by Status after it read the log
	beforeEvents func(id string) // when set, run by Events before it reads the log
	eventsCalls  int             // Events calls so far
}

// seqAfter is the Seq the fake gives the event after prev: ids jump
// forward irregularly (as a store's clock-seeded ids do), so that only Prev
// tells whether two events follow each other.
func seqAfter(prev uint64) uint64 { return prev + 1 + prev%3 }

func newFakeStore(history int) *fakeStore {
	return &fakeStore{history: history, logs: map[string][]filelock.Event{}, seqs: map[string]uint64{},
		all: map[string][]uint64{}, subs: map[string]int{}}
}

type fakeFeed struct {
	st *fakeStore
	ch chan store.Notice
}

func (f *fakeStore) Feed(context.Context) (store.Feed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.feed = &fakeFeed{st: f, ch: make(chan store.Notice, 100000)}
	return f.feed, nil
}

func (f *fakeFeed) Subscribe(_ context.Context, id string) error {
	f.st.mu.Lock()
	defer f.st.mu.Unlock()
	f.st.subs[id]++
	return nil
}

func (f *fakeFeed) Unsubscribe(_ context.Context, id string) error {
	f.st.mu.Lock()
	defer f.st.mu.Unlock()
	f.st.subs[id]--
	return nil
}

func (f *fakeFeed) Notices() <-chan store.Notice { return f.ch }
func (f *fakeFeed) Close() error                 { return nil }

// subscribed reports how many feed subscriptions of id are in effect.
func (f *fakeStore) subscribed(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subs[id]
}

// append adds a user_joined event of user to project id and notifies it.
func (f *fakeStore) append(id, user string) filelock.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	prev := f.seqs[id]
	f.seqs[id] = seqAfter(prev)
	f.all[id] = append(f.all[id], f.seqs[id])
	ev := filelock.Event{Type: filelock.EventUserJoined, ProjectID: id, Seq: f.seqs[id], Prev: prev, User: user}
	log := append(f.logs[id], ev)
	if len(log) > f.history {
		log = log[len(log)-f.history:]
	}
	f.logs[id] = log
	if f.feed != nil && f.subs[id] > 0 && !f.lose {
		f.feed.ch <- store.Notice{ProjectID: id, Event: ev}
		if f.repeat {
			f.feed.ch <- store.Notice{ProjectID: id, Event: ev}
		}
	}
	return ev
}

// resync sends a Resync notice for id ("" for all).
func (f *fakeStore) resync(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.feed.ch <- store.Notice{ProjectID: id, Resync: true}
}

func (f *fakeStore) setLose(v bool) {
	f.mu.Lock()
	f.lose = v
	f.mu.Unlock()
}

func (f *fakeStore) Status(_ context.Context, id string) (filelock.Status, error) {
	f.mu.Lock()
	st := filelock.Status{ProjectID: id, LastEventID: strconv.FormatUint(f.seqs[id], 10)}
	hook := f.afterStatus
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	return st, nil
}

func (f *fakeStore) Events(_ context.Context, id, after string) ([]filelock.Event, error) {
	f.mu.Lock()
	f.eventsCalls++
	hook := f.beforeEvents
	f.mu.Unlock()
	if hook != nil {
		hook(id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	seq, ok := filelock.ParseEventID(after)
	if !ok || seq > f.seqs[id] {
		return nil, store.ErrHistoryGone
	}
	log := f.logs[id]
	for i, ev := range log {
		if ev.Prev == seq {
			return append([]filelock.Event(nil), log[i:]...), nil
		}
	}
	if seq == f.seqs[id] {
		return []filelock.Event{}, nil
	}
	return nil, store.ErrHistoryGone
}

// nth is the Seq of the project's i-th event (from 1).
func (f *fakeStore) nth(id string, i int) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.all[id][i-1]
}

// last is the Seq of the project's last event.
func (f *fakeStore) last(id string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seqs[id]
}
