package redis

import (
	"context"
	"strconv"
	"sync"
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
	// one reap script carries out, so one slot never stalls Redis for long
	// and a backlog reaches subscribers in bursts their send queues (256
	// events by default) can take.
	reapBudget = 128
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
	// maxRounds bounds the rounds of reaping without a pause.
	maxRounds = 100
)

// sweepChunk is how many slots one sweep step (every reapTick) covers on
// its own (the reapers share the sweep through a cursor in Redis; one that
// cannot reach it sweeps alone).
const sweepChunk = (numSlots*int(reapTick) + int(sweepPeriod) - 1) / int(sweepPeriod)

// redisNow is the reaper's estimate of the Redis clock: the instance's
// clock corrected by the offset the last sweep share measured (due times
// are in Redis time, and the instance's clock may be off it).
func (s *Store) redisNow() time.Time {
	return s.localNow().Add(time.Duration(s.clockOffset.Load()))
}

// Run implements store.Store. Every instance may run it, and the work
// spreads over them. For each hint shard, a loop of its own takes the
// shard's due slots (a taken slot is left to it for takeLease), reaps each
// one with one atomic script that does only what is due, sets the slot's
// hint to the slot's next due time, and waits until the shard's earliest
// hint (at most reapTick); each round is a few pipelined round trips
// however much is due. Another loop sweeps, every reapTick, its share of
// the slots' due indexes (the reapers together sweep every slot once a
// sweepPeriod) and hints the ones with something due within hintWindow, so
// nothing registered is ever forgotten, and scripts need not hint what is
// further ahead. A slot whose hint the sweep could not write (its hint
// shard's node does not answer) is reaped by this reaper itself when due
// (direct.go), so expiry in a slot needs only the slot's own node. The
// loops are apart, and every step is bounded by stepTimeout, so an
// unreachable node (a Cluster failover) holds up only the slots it serves.
// It returns nil when ctx ends; Redis failures are retried.
func (s *Store) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for k := range hintShards {
		wg.Go(func() { s.reapShard(ctx, k) })
	}
	wg.Go(func() { s.sweepLoop(ctx) })
	wg.Go(func() { s.directLoop(ctx) })
	wg.Wait()
	return nil
}

// stepTimeout bounds each step (one pipelined round trip) of the reaper.
const stepTimeout = 500 * time.Millisecond

// step runs f with a context bounded by stepTimeout.
func step(ctx context.Context, f func(context.Context)) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	f(ctx)
}

// sleep waits d; false when ctx ended.
func sleep(ctx context.Context, t *time.Timer, d time.Duration) bool {
	t.Reset(d)
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// reapShard reaps the due slots of hint shard k until ctx ends.
func (s *Store) reapShard(ctx context.Context, k int) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		wait := reapTick
		for i := 0; i < maxRounds && ctx.Err() == nil; i++ {
			more, w := s.reapOnce(ctx, k)
			wait = w
			if !more {
				break
			}
		}
		if !sleep(ctx, timer, max(wait, reapMinWait)) {
			return
		}
	}
}

// sweepLoop sweeps this reaper's share of the slots every reapTick until
// ctx ends.
func (s *Store) sweepLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	cursor := int(s.localNow().UnixNano() % numSlots) // for sweeping alone
	for sleep(ctx, timer, reapTick) {
		var from, n int
		var err error
		step(ctx, func(ctx context.Context) { from, n, err = s.sweepShare(ctx) })
		if err != nil { // the cursor's node is unreachable: sweep alone
			from, n = cursor, sweepChunk
			cursor = (cursor + sweepChunk) % numSlots
		}
		step(ctx, func(ctx context.Context) { s.sweep(ctx, from, n) })
	}
}

// reapOnce takes and reaps the due slots of shard k; it reports whether
// more is due at once (a full take, or a reap that ran out of budget), and
// how long until the shard's earliest hint otherwise (at most reapTick).
func (s *Store) reapOnce(ctx context.Context, k int) (bool, time.Duration) {
	take := &call{script: takeScript, keys: s.hintKeys(k), args: []any{takeBatch, takeLease.Milliseconds()}}
	var err error
	step(ctx, func(ctx context.Context) { err = s.run(ctx, take) })
	if err != nil {
		return false, reapTick // unreachable shard: retried next round
	}
	a, _ := take.cmd.Val().([]any)
	if len(a) == 0 {
		return false, reapTick
	}
	wait := reapTick
	if w, _ := a[0].(string); w != "-1" {
		if ms, err := strconv.ParseInt(w, 10, 64); err == nil {
			wait = min(wait, time.Duration(ms)*time.Millisecond)
		}
	}
	a = a[1:]
	type taken struct{ slot, ver string }
	var slots []taken
	for i := 0; i+1 < len(a); i += 2 {
		slot, _ := a[i].(string)
		ver, _ := a[i+1].(string)
		slots = append(slots, taken{slot, ver})
	}
	if len(slots) == 0 {
		return false, wait
	}
	more := len(slots) == takeBatch
	reaps := make([]*call, len(slots))
	for i, t := range slots {
		n, _ := strconv.Atoi(t.slot)
		reaps[i] = &call{script: reapScript, keys: []string{s.dueKey(n)},
			args: []any{s.prefix, s.opts.History, s.opts.DisconnectGrace.Milliseconds(), backstopMargin.Milliseconds(), reapBudget}}
	}
	step(ctx, func(ctx context.Context) { s.pipeline(ctx, reaps...) })
	settles := make([]*call, 0, len(slots))
	now := s.redisNow().UnixMilli()
	for i, t := range slots {
		next, ok := s.reapReply(reaps[i])
		if !ok {
			continue // stays taken: reaped again after takeLease
		}
		if n, err := strconv.ParseInt(next, 10, 64); err == nil && n >= 0 && n <= now {
			more = true
		}
		settles = append(settles, &call{script: settleScript, keys: s.hintKeys(k), args: []any{t.slot, t.ver, next}})
	}
	if len(settles) > 0 {
		step(ctx, func(ctx context.Context) { s.pipeline(ctx, settles...) })
	}
	return more, 0 // the settled hints may be due soon: ask again at once
}

// sweepShare returns this reaper's share of the sweep: n slots from slot
// from (lua/sweepshare.lua), so that the reapers together sweep every slot
// once a sweepPeriod, whatever their number. The script's reply carries
// the Redis time, which sets the offset of redisNow.
func (s *Store) sweepShare(ctx context.Context) (from, n int, err error) {
	c := &call{script: shareScript, keys: []string{s.prefix + "{reaper.sweep}:cursor"},
		args: []any{2 * sweepChunk, sweepPeriod.Milliseconds(), numSlots}}
	sent := s.localNow()
	if err := s.run(ctx, c); err != nil {
		return 0, 0, err
	}
	got := s.localNow()
	a, _ := c.cmd.Val().([]any)
	if len(a) != 3 {
		return 0, 0, errShort(c)
	}
	f, _ := a[0].(int64)
	m, _ := a[1].(int64)
	if now, ok := a[2].(int64); ok { // Redis time, ms, taken about mid-trip
		mid := sent.Add(got.Sub(sent) / 2)
		s.clockOffset.Store(int64(time.UnixMilli(now).Sub(mid)))
	}
	return int(f), int(m), nil
}

// sweep hints the slots [from, from+n) whose due index holds something due
// within hintWindow, with its earliest due time; a slot whose hint fails
// goes to the direct set, reaped by this reaper when due.
func (s *Store) sweep(ctx context.Context, from, n int) {
	if n <= 0 {
		return
	}
	reads := make([]*goredis.ZSliceCmd, n)
	_, _ = s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i := range reads {
			reads[i] = p.ZRangeWithScores(ctx, s.dueKey((from+i)%numSlots), 0, 0)
		}
		return nil
	})
	horizon := float64(s.redisNow().Add(hintWindow).UnixMilli())
	var hints []*call
	var slots []int
	var dues []int64
	for i, c := range reads {
		z, err := c.Result()
		if err != nil || len(z) == 0 || z[0].Score > horizon {
			continue
		}
		slot := (from + i) % numSlots
		hints = append(hints, &call{script: hintScript, keys: s.hintKeys(slot), args: []any{slot, "abs", int64(z[0].Score)}})
		slots, dues = append(slots, slot), append(dues, int64(z[0].Score))
	}
	if len(hints) == 0 {
		return
	}
	s.pipeline(ctx, hints...)
	for i, h := range hints {
		if h.cmd.Err() != nil {
			s.direct.add(slots[i], dues[i])
		}
	}
}
