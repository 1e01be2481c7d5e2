package check_test

import (
	"context"
	"fmt"

	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"filelock/internal/check"
	"filelock/internal/redistest"
)

// The faults, each a real change to a real process on loopback.

// randDur returns a duration in [lo, hi).
func (r *rig) randDur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.rng.Int64N(int64(hi-lo)))
}

// pause: CLIENT PAUSE ALL for 0.5–2s; commands queue meanwhile.
var pause = fault{"redis-pause", func(ctx context.Context, r *rig) (check.Fault, error) {
	d := r.randDur(500*time.Millisecond, 2*time.Second)
	f := check.Fault{Start: time.Now()}
	if err := r.redis.Pause(ctx, d); err != nil {
		return f, err
	}
	time.Sleep(d) // the fault lasts d: the workload runs into it meanwhile
	f.End = time.Now()
	return f, nil
}}

// killPubSub closes the Pub/Sub connections of the given servers; the
// fault lasts until as many connections hold subscriptions as before
// (on a Cluster they may come back on other nodes).
func killPubSub(servers func(r *rig) []*redistest.Server) fault {
	return fault{"pubsub-kill", func(ctx context.Context, r *rig) (check.Fault, error) {
		f := check.Fault{Start: time.Now()}
		all := func() int {
			n := 0
			for _, srv := range servers(r) {
				n += max(subscribers(ctx, srv), 0)
			}
			return n
		}
		before := all()
		for _, srv := range servers(r) {
			if _, err := srv.KillPubSub(ctx); err != nil {
				return f, err
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		for all() < before {
			if time.Now().After(deadline) {
				return f, fmt.Errorf("Pub/Sub connections not back within 20s (%d of %d)", all(), before)
			}
			time.Sleep(20 * time.Millisecond)
		}
		f.End = time.Now()
		return f, nil
	}}
}

// subscribers returns how many connections of srv hold subscriptions.
func subscribers(ctx context.Context, srv *redistest.Server) int {
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr, MaxRetries: -1})
	defer c.Close()
	list, err := c.ClientList(ctx).Result()
	if err != nil {
		return -1
	}
	n := 0
	for _, line := range strings.Split(list, "\n") {
		for _, field := range strings.Fields(line) {
			k, v, _ := strings.Cut(field, "=")
			if (k == "sub" || k == "psub" || k == "ssub") && v != "0" {
				n++
				break
			}
		}
	}
	return n
}

// killRestart: Redis killed (SIGKILL) and started again, empty.
var killRestart = fault{"redis-kill-restart", func(ctx context.Context, r *rig) (check.Fault, error) {
	return r.lossy(ctx, func() error {
		r.redis.Stop()
		r.redis.Start()
		return nil
	})
}}

// olderRDB: a snapshot is taken, the workload goes on for a while, then
// Redis restarts from the snapshot: the writes since are lost.
var olderRDB = fault{"redis-older-rdb", func(ctx context.Context, r *rig) (check.Fault, error) {
	start := time.Now()
	rdb, err := r.redis.Snapshot(ctx)
	if err != nil {
		return check.Fault{}, err
	}
	r.load(500*time.Millisecond, 1500*time.Millisecond)
	f, err := r.lossy(ctx, func() error { return r.redis.RestartFrom(rdb) })
	f.Start = start
	return f, err
}}

// evict: maxmemory just above what is used, volatile-lru, and filler keys
// until Redis has evicted some keys; then back to no limit. Any key with a
// TTL may go (filelock's counters and histories too), so it counts as a
// fault that may lose writes.
var evict = fault{"redis-evict", func(ctx context.Context, r *rig) (check.Fault, error) {
	c := goredis.NewClient(&goredis.Options{Addr: r.redis.Addr, MaxRetries: -1})
	defer c.Close()
	return r.lossy(ctx, func() error {
		used, err := infoInt(ctx, c, "memory", "used_memory")
		if err != nil {
			return err
		}
		evicted, _ := infoInt(ctx, c, "stats", "evicted_keys")
		if err := r.redis.SetConfig(ctx, "maxmemory-policy", "volatile-lru", "maxmemory", strconv.FormatInt(used+512<<10, 10)); err != nil {
			return err
		}
		defer func() {
			_ = r.redis.SetConfig(context.Background(), "maxmemory", "0", "maxmemory-policy", "noeviction")
		}()
		filler := strings.Repeat("x", 4096)
		for i := 0; ; i++ {
			_ = c.Set(ctx, fmt.Sprintf("filler:%d", i), filler, time.Minute).Err()
			if n, _ := infoInt(ctx, c, "stats", "evicted_keys"); n > evicted+200 || i > 5000 {
				return nil
			}
		}
	})
}}

func infoInt(ctx context.Context, c *goredis.Client, section, key string) (int64, error) {
	info, err := c.Info(ctx, section).Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO %s has no %s", section, key)
}

// deleteLocks: half of the lock keys are deleted under the running
// workload, as an eviction of just those keys would. SPEC I7: no lock may
// be released early because of it, so the model allows no loss.
var deleteLocks = fault{"lock-keys-deleted", func(ctx context.Context, r *rig) (check.Fault, error) {
	c := goredis.NewClient(&goredis.Options{Addr: r.redis.Addr, MaxRetries: -1})
	defer c.Close()
	f := check.Fault{Start: time.Now()}
	keys, err := c.Keys(ctx, r.prefix+"lock:*").Result()
	if err != nil {
		return f, err
	}
	for _, k := range keys {
		if r.rng.IntN(2) == 0 {
			if err := c.Del(ctx, k).Err(); err != nil {
				return f, err
			}
		}
	}
	f.End = time.Now()
	return f, nil
}}

// instanceKill: one filelockd instance killed with SIGKILL mid-operation,
// started again after 0.3–1s. With the memory store the instance is the
// store: everything is lost.
var instanceKill = fault{"instance-kill", func(ctx context.Context, r *rig) (check.Fault, error) {
	in := r.inst[r.rng.IntN(len(r.inst))]
	f := check.Fault{Start: time.Now()}
	in.Kill()
	time.Sleep(r.randDur(300*time.Millisecond, time.Second)) // the instance stays down that long
	if r.memory {
		lf, err := r.lossy(ctx, in.Start)
		lf.Start = f.Start
		return lf, err
	}
	if err := in.Start(); err != nil {
		return f, err
	}
	f.End = time.Now()
	return f, r.waitReady(ctx)
}}

// measured are the recovery figures of the failover faults, logged.
type measured struct {
	promoted, requestsBack, expiryBack, expiryDelay time.Duration
	err                                             error
}

func (m measured) String() string {
	if m.err != nil {
		return fmt.Sprintf("promoted in %v, requests back after %v; expiry: %v", m.promoted, m.requestsBack, m.err)
	}
	return fmt.Sprintf("promoted in %v, requests back after %v, expiry event back after %v (%v past expires_at)",
		m.promoted.Round(time.Millisecond), m.requestsBack.Round(time.Millisecond), m.expiryBack.Round(time.Millisecond), m.expiryDelay.Round(time.Millisecond))
}

// failover measures a failover: it takes a probe lock of ttl (to expire
// during the failover), then kill, which calls killed right after the
// master dies. It returns how long the promotion took (kill's answer),
// when requests were back on every instance and when the probe lock's
// expiry event arrived, all from the kill.
func (r *rig) failover(ctx context.Context, name string, ttl time.Duration, kill func(killed func()) (time.Duration, error)) (measured, error) {
	p := newProbe(ctx, r, name)
	defer p.close()
	var m measured
	l, err := p.lock(ctx, "probe.jpg", ttl)
	if err != nil {
		return m, err
	}
	var at time.Time
	back := make(chan error, 1)
	var backAt time.Time
	killed := func() {
		at = time.Now()
		go func() {
			t, err := p.requestsBack(ctx)
			backAt = t
			back <- err
		}()
	}
	if m.promoted, err = kill(killed); err != nil {
		return m, err
	}
	if at.IsZero() {
		return m, fmt.Errorf("%s: the kill never marked its moment", name)
	}
	if err := <-back; err != nil {
		return m, err
	}
	m.requestsBack = backAt.Sub(at)
	rel, reason, err := p.released(l.Token, 30*time.Second)
	if err == nil && reason != "expired" {
		err = fmt.Errorf("probe lock released %s", reason)
	}
	m.err = err
	m.expiryBack, m.expiryDelay = rel.Sub(at), rel.Sub(l.ExpiresAt)
	if l.ExpiresAt.Before(at) {
		m.err = fmt.Errorf("the probe lock expired %v before the kill", at.Sub(l.ExpiresAt))
	}
	return m, nil
}

// sentinelFailover: the replica misses the writes of 0.5–1.5s of load,
// then the master is killed and the sentinels promote the replica.
var sentinelFailover = fault{"sentinel-failover-lagging-replica", func(ctx context.Context, r *rig) (check.Fault, error) {
	f := check.Fault{Loss: true, Start: time.Now()}
	var ferr error
	paused := false
	// The probe lock is taken before the replica freezes (so it survives)
	// and outlives the writes the replica misses (at most 1.5s).
	m, err := r.failover(ctx, "sentinel", 3*time.Second, func(killed func()) (time.Duration, error) {
		_, took, err := r.sentinel.FailoverLosingWrites(ctx, func() {
			r.load(500*time.Millisecond, 1500*time.Millisecond) // these writes reach the master only
			r.w.Pause()
			paused = true
		}, killed)
		return took, err
	})
	if err == nil {
		if err = r.waitReady(ctx); err == nil {
			ferr = r.w.Resync(ctx)
		}
	}
	if paused {
		r.w.Resume()
	}
	f.End = time.Now()
	r.t.Logf("measure: sentinel failover: %v", m)
	if err != nil {
		return f, err
	}
	return f, ferr
}}

// clusterMasterKill: the master of one project's slot is killed; its
// replica takes over.
var clusterMasterKill = clusterKill("cluster-master-kill", func(r *rig) string { return "{" + r.w.Run + "-cluster}" })

// clusterReaperKill: the master of the slot of the key tag {reaper} (where
// the expiry index of every project once lived, issue 8) is killed while
// the workload runs, so locks are taken during the failover. Replication
// had all the time of the load before, so this counts as a fault that
// loses nothing: every lock taken meanwhile must still expire with its
// event.
var clusterReaperKill = fault{"cluster-reaper-slot-master-kill", func(ctx context.Context, r *rig) (check.Fault, error) {
	f := check.Fault{Start: time.Now()}
	m, err := r.failover(ctx, "reaper", time.Second, func(killed func()) (time.Duration, error) {
		return r.cluster.KillMaster(ctx, "{reaper}", killed)
	})
	r.t.Logf("measure: cluster {reaper} slot failover under load: %v", m)
	if err == nil {
		err = r.waitReady(ctx)
	}
	f.End = time.Now()
	return f, err
}}

func clusterKill(name string, key func(r *rig) string) fault {
	return fault{name, func(ctx context.Context, r *rig) (check.Fault, error) {
		var m measured
		var err error
		f, lerr := r.lossy(ctx, func() error {
			m, err = r.failover(ctx, "cluster", time.Second, func(killed func()) (time.Duration, error) {
				return r.cluster.KillMaster(ctx, key(r), killed)
			})
			return err
		})
		r.t.Logf("measure: %s failover: %v", name, m)
		return f, lerr
	}}
}
