package redis

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"filelock"
	"filelock/internal/redistest"
	"filelock/store"
)

// TestClusterNodePausedExpiryGoesOn: while one Cluster master does not
// answer (paused, as during a failover), locks of projects on the other
// masters, hinted on the other masters, still expire in time: the reaper's
// shards and its sweep are apart, and each step is bounded.
func TestClusterNodePausedExpiryGoesOn(t *testing.T) {
	c := redistest.SharedCluster(t)
	rdb := c.Client(t)
	ctx := t.Context()
	s := New(rdb, store.Options{DefaultTTL: time.Second, MinTTL: 100 * time.Millisecond, MaxTTL: time.Minute, History: 100, DisconnectGrace: time.Second}, redistest.Prefix(t))
	addr := func(key string) string {
		n, err := rdb.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return n.Options().Addr
	}
	paused := addr(s.prefix + "{reaper.sweep}:cursor") // the sweep's cursor and some hint shards live there
	var projects []string
	for i := 0; len(projects) < 3; i++ {
		if i == 5000 {
			t.Fatal("no project away from the paused node")
		}
		p := fmt.Sprint("p", i)
		if addr("{"+p+"}") != paused && addr(s.hintKeys(slotOf(p))[0]) != paused {
			projects = append(projects, p)
		}
	}
	run, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Run(run) })
	t.Cleanup(func() { stop(); wg.Wait() })

	var node *goredis.Client
	_ = rdb.ForEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error {
		if m.Options().Addr == paused {
			node = m
		}
		return nil
	})
	var locks []filelock.Lock
	for _, p := range projects {
		r, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: p, File: "a", User: "u", TTL: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		locks = append(locks, r.Lock)
	}
	if err := node.Do(ctx, "CLIENT", "PAUSE", "3000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // the shared cluster answers again before the next test
		_ = node.Do(context.Background(), "CLIENT", "UNPAUSE").Err()
		for deadline := time.Now().Add(10 * time.Second); node.Ping(context.Background()).Err() != nil; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Error("paused node does not answer again")
				return
			}
		}
	})
	for i, p := range projects {
		for {
			evs, err := s.Events(ctx, p, fmt.Sprint(locks[i].Token))
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) > 0 {
				if lag := time.Since(locks[i].ExpiresAt); lag > 1500*time.Millisecond {
					t.Fatalf("%s: expired %v late while another node was paused", p, lag)
				}
				break
			}
			if time.Since(locks[i].ExpiresAt) > 3*time.Second {
				t.Fatalf("%s: not expired 3 s after expires_at while another node was paused", p)
			}
			time.Sleep(10 * time.Millisecond) // poll interval
		}
	}
}
