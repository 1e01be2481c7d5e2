package redis

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// direct is the set of slots this reaper reaps itself, without a hint:
// the sweep found something due soon in them but could not hint it (the
// slot's hint shard lives on a node that does not answer, as in a Cluster
// failover, while the slot's own node does). So expiry in a slot depends
// on the slot's own node only.
type direct struct {
	mu   sync.Mutex
	due  map[int]int64 // slot -> due ms (Redis time)
	wake chan struct{} // signalled when a slot is added
}

func newDirect() *direct {
	return &direct{due: map[int]int64{}, wake: make(chan struct{}, 1)}
}

// add records that slot has something due at ms (keeps the earlier one).
func (d *direct) add(slot int, ms int64) {
	d.mu.Lock()
	if cur, ok := d.due[slot]; !ok || ms < cur {
		d.due[slot] = ms
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// takeDue removes and returns the slots due by now, and the earliest due
// time of the others (ok false: none).
func (d *direct) takeDue(now int64) (slots []int, next int64, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for slot, ms := range d.due {
		if ms <= now {
			slots = append(slots, slot)
			delete(d.due, slot)
		} else if !ok || ms < next {
			next, ok = ms, true
		}
	}
	return slots, next, ok
}

// directLoop reaps the slots of s.direct when they are due, until ctx ends.
// A slot whose reap finds more due within hintWindow stays in the set (with
// its next due time); one whose reap fails is tried again a tick later.
func (s *Store) directLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := s.redisNow().UnixMilli()
		slots, next, ok := s.direct.takeDue(now)
		wait := reapTick
		if len(slots) > 0 {
			s.reapSlots(ctx, slots) // what they left due soon is back in the set
			wait = reapMinWait
		} else if ok {
			wait = min(wait, max(time.Duration(next-now)*time.Millisecond, reapMinWait))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.direct.wake:
		case <-timer.C:
		}
	}
}

// reapSlots runs the reap script on each slot (one pipelined round trip)
// and puts back into the direct set those with something due within
// hintWindow, or that failed.
func (s *Store) reapSlots(ctx context.Context, slots []int) {
	reaps := make([]*call, len(slots))
	for i, slot := range slots {
		reaps[i] = &call{script: reapScript, keys: []string{s.dueKey(slot)},
			args: []any{s.prefix, s.opts.History, s.opts.DisconnectGrace.Milliseconds(), backstopMargin.Milliseconds(), reapBudget}}
	}
	step(ctx, func(ctx context.Context) { s.pipeline(ctx, reaps...) })
	now := s.redisNow()
	horizon := now.Add(hintWindow).UnixMilli()
	for i, slot := range slots {
		next, ok := s.reapReply(reaps[i])
		if !ok {
			s.direct.add(slot, now.Add(reapTick).UnixMilli())
			continue
		}
		if n, err := strconv.ParseInt(next, 10, 64); err == nil && n >= 0 && n <= horizon {
			s.direct.add(slot, n)
		}
	}
}
