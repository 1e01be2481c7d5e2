package memory

import (
	"context"
	"slices"
	"time"

	"filelock"
	"filelock/store"
)

// nextSeq is the Seq the project's next event gets. A project's first event
// (also after the project was forgotten) seeds the sequence from the clock
// (unix µs + 1) but never below the highest Seq the store has handed
// out in any project (s.top), so tokens and ids only grow even when the
// wall clock steps back; ids of another life of the store are unknown to
// this one.
func (s *Store) nextSeq(p *project) uint64 {
	if p.seq == 0 {
		p.base = max(uint64(s.wall().UnixMicro()), s.top)
		p.seq = p.base
	}
	return p.seq + 1
}

// append gives e the project's next Seq, adds it to the bounded history and
// hands it to the project's feeds. Called with s.mu held.
func (s *Store) append(p *project, e filelock.Event) filelock.Event {
	e.Prev = p.seq
	if e.Prev == p.base {
		e.Prev = 0 // the project's first event
	}
	e.Seq = s.nextSeq(p)
	e.ProjectID = p.id
	p.seq = e.Seq
	s.top = max(s.top, e.Seq)
	p.hist = append(p.hist, e)
	s.schedule(idleKey(p.id), time.Now().Add(s.idleAfter))
	if len(p.hist) > s.opts.History {
		p.hist[0] = filelock.Event{}
		p.hist = p.hist[1:]
	}
	n := store.Notice{ProjectID: p.id, Event: e}
	for f := range s.subs[p.id] {
		f.push(n)
	}
	return e
}

// Events implements store.Store.
func (s *Store) Events(ctx context.Context, projectID, afterID string) ([]filelock.Event, error) {
	after, ok := filelock.ParseEventID(afterID)
	if !ok {
		return nil, store.ErrHistoryGone
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	p := s.project(projectID, false)
	if p == nil || p.seq == 0 {
		if after == 0 {
			return []filelock.Event{}, nil
		}
		return nil, store.ErrHistoryGone
	}
	oldest := p.hist[0].Seq
	switch {
	case after == 0:
		after = p.base
	case after <= p.base: // base itself was never an event id
		return nil, store.ErrHistoryGone
	}
	if after > p.seq || after < oldest-1 {
		return nil, store.ErrHistoryGone
	}
	return slices.Clone(p.hist[after-oldest+1:]), nil
}
