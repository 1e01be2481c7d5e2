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

// TestClusterMasterDownExpiryGoesOn: one master of a Cluster is down (as
// until its replica is promoted). Projects whose keys live on the other
// masters but whose slot's hint shard lived on the dead one still expire
// within a second of expires_at (I4): the sweep reaps their slots itself.
func TestClusterMasterDownExpiryGoesOn(t *testing.T) {
	c := redistest.StartCluster(t)
	rdb := c.Client(t)
	ctx := t.Context()
	s := New(rdb, store.Options{DefaultTTL: 3 * time.Second, MinTTL: 100 * time.Millisecond, MaxTTL: time.Minute, History: 100, DisconnectGrace: time.Second}, "x:")
	addr := func(key string) string {
		n, err := rdb.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return n.Options().Addr
	}
	down := addr(s.hintKeys(0)[0]) // a master holding a hint shard
	var projects []string
	for i := 0; len(projects) < 4; i++ {
		if i == 20000 {
			t.Fatal("no project on another master with its hint shard on the dead one")
		}
		p := fmt.Sprint("p", i)
		if addr("{"+p+"}") != down && addr(s.hintKeys(slotOf(p))[0]) == down {
			projects = append(projects, p)
		}
	}
	run, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Run(run) })
	t.Cleanup(func() { stop(); wg.Wait() })

	// Two locks taken before the master dies (the sweep may have hinted
	// them there), two after.
	var locks []filelock.Lock
	take := func(p string) {
		r, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: p, File: "a", User: "u", TTL: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		locks = append(locks, r.Lock)
	}
	take(projects[0])
	take(projects[1])
	_ = rdb.ForEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error {
		if m.Options().Addr == down {
			_ = m.Do(ctx, "SHUTDOWN", "NOSAVE").Err() // the connection drops: no reply
		}
		return nil
	})
	take(projects[2])
	take(projects[3])
	for i, p := range projects {
		for {
			evs, err := s.Events(ctx, p, fmt.Sprint(locks[i].Token))
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) > 0 {
				lag := time.Since(locks[i].ExpiresAt)
				t.Logf("%s: %s %s %v after expires_at", p, evs[0].Type, evs[0].Reason, lag)
				if lag > time.Second {
					t.Errorf("%s: expired %v late while master %s was down (I4: within 1 s)", p, lag, down)
				}
				break
			}
			if time.Since(locks[i].ExpiresAt) > 3*time.Second {
				t.Fatalf("%s: not expired 3 s after expires_at while master %s was down", p, down)
			}
			time.Sleep(10 * time.Millisecond) // poll interval
		}
	}
}
