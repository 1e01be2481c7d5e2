package redis_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"filelock"
	"filelock/internal/redistest"
	"filelock/store"
	"filelock/store/redis"
	"filelock/store/storetest"
)

// On a Sentinel topology (a primary, a replica, three sentinels), through
// go-redis's failover client (redis.NewUniversalClient with MasterName),
// the store behaves as on one server.

// TestConformanceSentinel runs the conformance suite over a Sentinel
// topology, each store with a failover client and a key prefix of its own.
func TestConformanceSentinel(t *testing.T) {
	topo := redistest.StartSentinel(t)
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store {
		s := redis.New(topo.Client(t), opts, redistest.Prefix(t))
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// TestSentinelFailoverKeepsLocks: after the master is killed and the
// replica (in sync) promoted, the lock is still held, tokens go on growing,
// and the lock expires with its event, delivered through the new master.
func TestSentinelFailoverKeepsLocks(t *testing.T) {
	topo := redistest.StartSentinel(t)
	rdb := topo.Client(t)
	opts := storetest.Opts()
	opts.MaxTTL = time.Minute
	s := redis.New(rdb, opts, redistest.Prefix(t))
	ctx := t.Context()
	runCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Run(runCtx) })
	t.Cleanup(func() { stop(); wg.Wait() })
	f := subscribedFeed(t, s, "p")

	r, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "f", User: "u1", TTL: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	waitNotice(t, f, isEvent(filelock.EventLockAcquired))
	if n, err := rdb.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT = %d, %v: the replica is not in sync", n, err)
	}
	if _, took, err := topo.KillMaster(ctx); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("failover took %v", took)
	}
	// The failover client finds the new master; the lock survived.
	var st filelock.Status
	deadline := time.Now().Add(20 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err = s.Status(cctx, "p")
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Status not back after the failover: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(st.Locks) != 1 || st.Locks[0].Token != r.Lock.Token {
		t.Fatalf("after the failover locks %+v, want u1's token %d", st.Locks, r.Lock.Token)
	}
	// A new acquisition has a larger token; a short lock expires with its
	// event within the bound.
	r2, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "g", User: "u2", TTL: opts.MinTTL})
	if err != nil || r2.Lock.Token <= r.Lock.Token {
		t.Fatalf("Acquire after the failover = %+v, %v; want a token above %d", r2.Lock, err, r.Lock.Token)
	}
	n := waitNotice(t, f, func(n store.Notice) bool {
		return !n.Resync && n.Event.Type == filelock.EventLockReleased && n.Event.Lock.File == "g"
	})
	if lag := time.Since(r2.Lock.ExpiresAt); n.Event.Reason != filelock.ReasonExpired || lag > 3*time.Second {
		t.Fatalf("release %+v %v after expires_at, want expired within the bound", n.Event, lag)
	}
}
