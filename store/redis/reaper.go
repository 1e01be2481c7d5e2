package redis

import (
	"context"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Reaper tuning.
const (
	// reapTick is the longest a reaper waits before it asks the hint shards
	// for due slots again; it asks sooner when a shard's next due time is
	// nearer (but not sooner than reapMinWait), so expiries are carried out
	// close to their time, in small batches.
	reapTick    = 50 * time.Millisecond
	reapMinWait = 2 * time.Millisecond
	// takeBatch bounds the slots one take of a shard claims.
	takeBatch = 64
	// takeLease is how long a taken slot is left to the reaper that took
	// it: should that reaper die, another one reaps the slot after this.
	takeLease = time.Second
	// reapBudget bounds the items (expiries, leases, disconnect releases)
	// one reap script carries out, so one slot never stalls Redis for long.
	reapBudget = 500
	// sweepPeriod is how long a reaper takes to look at every slot's due
	// index once, hinting those with something due within hintWindow: the
	// bound on how late a lost hint (a hint shard's failover, a failed
	// write) makes an expiry.
	sweepPeriod = time.Second
	// hintWindow: a due time further ahead than this is left to the sweep,
	// which hints it before it comes (a sweep passes every slot at least once
	// in any hintWindow); only a script whose due time may be nearer hints
	// its slot itself. So with lock.min_ttl above it, a lock costs one
	// command.
	hintWindow = 2 * sweepPeriod
	// maxRounds bounds the rounds of reaping before the sweep goes on.
	maxRounds = 100
)

// sweepChunk is how many slots one sweep step (every reapTick) covers.
const sweepChunk = (numSlots*int(reapTick) + int(sweepPeriod) - 1) / int(sweepPeriod)

// Run implements store.Store. Every instance may run it, and the work
// spreads over them: a reaper takes the due slots of every hint shard (a
// taken slot is left to it for takeLease), reaps each one with one atomic
// script that does only what is due, sets the slot's hint to the slot's
// next due time, and waits until the earliest hint (at most reapTick).
// Every round trip is one pipeline for all slots, so a round costs a few
// round trips however much is due. Besides, every reapTick it sweeps
// sweepChunk slots' due indexes (every slot once a sweepPeriod) and hints
// the ones with something due within hintWindow, so nothing registered is
// ever forgotten, and scripts need not hint what is further ahead. It returns nil when ctx
// ends; Redis failures are retried.
func (s *Store) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	cursor := int(time.Now().UnixNano() % numSlots) // instances sweep out of step
	nextSweep := time.Now()
	for {
		wait := reapTick
		for i := 0; i < maxRounds; i++ {
			more, w := s.reapOnce(ctx)
			wait = w
			if !more || ctx.Err() != nil {
				break
			}
		}
		if now := time.Now(); !now.Before(nextSweep) {
			s.sweep(ctx, cursor)
			cursor = (cursor + sweepChunk) % numSlots
			nextSweep = now.Add(reapTick)
		}
		timer.Reset(min(max(wait, reapMinWait), time.Until(nextSweep)+reapMinWait))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
	}
}

// reapOnce takes and reaps the due slots; it reports whether more is due
// at once (a full take, or a reap that ran out of budget), and how long
// until the earliest hint otherwise (at most reapTick).
func (s *Store) reapOnce(ctx context.Context) (bool, time.Duration) {
	takes := make([]*call, hintShards)
	for i := range takes {
		takes[i] = &call{script: takeScript, keys: s.hintKeys(i), args: []any{takeBatch, takeLease.Milliseconds()}}
	}
	s.pipeline(ctx, takes...)
	type taken struct{ slot, ver string }
	var slots []taken
	more := false
	wait := reapTick
	for _, c := range takes {
		a, _ := c.cmd.Val().([]any)
		if len(a) == 0 {
			continue // unreachable shard: retried next round
		}
		if w, _ := a[0].(string); w != "-1" {
			if ms, err := strconv.ParseInt(w, 10, 64); err == nil {
				wait = min(wait, time.Duration(ms)*time.Millisecond)
			}
		}
		a = a[1:]
		for i := 0; i+1 < len(a); i += 2 {
			slot, _ := a[i].(string)
			ver, _ := a[i+1].(string)
			slots = append(slots, taken{slot, ver})
		}
		more = more || len(a)/2 == takeBatch
	}
	if len(slots) == 0 {
		return more, wait
	}
	reaps := make([]*call, len(slots))
	for i, t := range slots {
		n, _ := strconv.Atoi(t.slot)
		reaps[i] = &call{script: reapScript, keys: []string{s.dueKey(n)},
			args: []any{s.prefix, s.opts.History, s.opts.DisconnectGrace.Milliseconds(), backstopMargin.Milliseconds(), reapBudget}}
	}
	s.pipeline(ctx, reaps...)
	settles := make([]*call, 0, len(slots))
	now := time.Now().UnixMilli()
	for i, t := range slots {
		next, ok := reaps[i].cmd.Val().(string)
		if reaps[i].cmd.Err() != nil || !ok {
			continue // stays taken: reaped again after takeLease
		}
		if n, err := strconv.ParseInt(next, 10, 64); err == nil && n >= 0 && n <= now {
			more = true
		}
		slot, _ := strconv.Atoi(t.slot)
		settles = append(settles, &call{script: settleScript, keys: s.hintKeys(slot), args: []any{t.slot, t.ver, next}})
	}
	if len(settles) > 0 {
		s.pipeline(ctx, settles...)
	}
	return more, 0 // the settled hints may be due soon: ask again at once
}

// sweep hints the slots [from, from+sweepChunk) whose due index holds
// something due within hintWindow, with its earliest due time.
func (s *Store) sweep(ctx context.Context, from int) {
	reads := make([]*goredis.ZSliceCmd, sweepChunk)
	_, _ = s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i := range reads {
			reads[i] = p.ZRangeWithScores(ctx, s.dueKey((from+i)%numSlots), 0, 0)
		}
		return nil
	})
	horizon := float64(time.Now().Add(hintWindow).UnixMilli())
	var hints []*call
	for i, c := range reads {
		z, err := c.Result()
		if err != nil || len(z) == 0 || z[0].Score > horizon {
			continue
		}
		slot := (from + i) % numSlots
		hints = append(hints, &call{script: hintScript, keys: s.hintKeys(slot), args: []any{slot, "abs", int64(z[0].Score)}})
	}
	if len(hints) > 0 {
		s.pipeline(ctx, hints...)
	}
}
