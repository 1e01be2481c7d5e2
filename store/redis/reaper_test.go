package redis_test

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
	"filelock/store/redis"
	"filelock/store/storetest"
)

// pair returns two Store instances on one prefix, each with its own client,
// as two server processes would have.
func pair(t testing.TB, opts store.Options) (*redis.Store, *redis.Store) {
	srv := redistest.Shared(t)
	prefix := redistest.Prefix(t)
	return redis.New(srv.Client(t), opts, prefix), redis.New(srv.Client(t), opts, prefix)
}

// runAll runs Run on each store until the test ends.
func runAll(t testing.TB, stores ...*redis.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() { _ = s.Run(ctx) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// TestTwoInstancesExpireOnce: two instances reap the same projects; every
// expired lock is released exactly once and nothing is left behind.
func TestTwoInstancesExpireOnce(t *testing.T) {
	a, b := pair(t, storetest.Opts())
	expireOnce(t, a, b)
}

// expireOnce runs two reapers on each of a and b (instances sharing a
// prefix) and checks that locks in several projects expire exactly once.
func expireOnce(t *testing.T, a, b *redis.Store) {
	t.Helper()
	runAll(t, a, b, a, b) // two reapers per instance as well
	const projects, perProject = 5, 20
	ctx := t.Context()
	for p := range projects {
		for i := range perProject {
			s := []*redis.Store{a, b}[i%2]
			_, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: fmt.Sprint("p", p), File: fmt.Sprint("f", i),
				User: fmt.Sprint("u", i), TTL: time.Duration(100+10*i) * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for p := range projects {
		project := fmt.Sprint("p", p)
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, err := a.Status(ctx, project)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Locks) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d locks not released within 10s", project, len(st.Locks))
			}
			time.Sleep(20 * time.Millisecond) // poll interval
		}
		evs, err := b.Events(ctx, project, filelock.InitialEventID)
		if err != nil {
			t.Fatal(err)
		}
		released := map[string]int{}
		for _, e := range evs {
			if e.Type == filelock.EventLockReleased {
				if e.Reason != filelock.ReasonExpired {
					t.Errorf("%s: %s released with reason %s", project, e.Lock.File, e.Reason)
				}
				released[e.Lock.File]++
			}
		}
		for i := range perProject {
			if n := released[fmt.Sprint("f", i)]; n != 1 {
				t.Errorf("%s: f%d released %d times, want once", project, i, n)
			}
		}
		if len(evs) != 2*perProject {
			t.Errorf("%s: %d events, want %d", project, len(evs), 2*perProject)
		}
	}
}

// TestBackstop: a lock key carries a Redis TTL past expires_at; a lock whose
// key vanished (no instance ran for that long) is still released, once,
// with its holder and token, when the reaper comes back.
func TestBackstop(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	prefix := redistest.Prefix(t)
	s := redis.New(rdb, storetest.Opts(), prefix)
	ctx := t.Context()
	r, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "a", User: "u", TTL: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	key := prefix + "lock:{p}:a"
	pttl, err := rdb.PTTL(ctx, key).Result()
	if err != nil || pttl < time.Second || pttl > time.Second+200*time.Millisecond {
		t.Fatalf("PTTL %s = %v, %v; want expires_at + 1s", key, pttl, err)
	}
	// No instance reaps: the key vanishes by its Redis TTL alone.
	for gone := time.Now().Add(5 * time.Second); rdb.Exists(ctx, key).Val() == 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(gone) {
			t.Fatalf("%s still there after its TTL", key)
		}
	}
	runAll(t, s)
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := s.Events(ctx, "p", fmt.Sprint(r.Lock.Token))
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > 0 {
			e := evs[0]
			if len(evs) != 1 || e.Type != filelock.EventLockReleased || e.Reason != filelock.ReasonExpired ||
				e.Lock.File != "a" || e.Lock.User != "u" || e.Lock.Token != r.Lock.Token {
				t.Fatalf("events after the vanished lock: %+v", evs)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("vanished lock not released within 10s")
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	if _, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "b", User: "u"}); err != nil {
		t.Fatalf("user still bound to the vanished lock: %v", err)
	}
}

// BenchmarkExpiryLag measures how late (by the Redis clock, on this machine)
// a lock_released expired event reaches a Feed after the lock's expires_at,
// with two instances reaping. Reports ms/lag (mean) and max-ms.
func BenchmarkExpiryLag(b *testing.B) {
	opts := storetest.Opts()
	s1, s2 := pair(b, opts)
	runAll(b, s1, s2)
	ctx := b.Context()
	f, err := s2.Feed(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Subscribe(ctx, "lag"); err != nil {
		b.Fatal(err)
	}
	var total, worst time.Duration
	for i := 0; b.Loop(); i++ {
		r, err := s1.Acquire(ctx, store.AcquireRequest{ProjectID: "lag", File: fmt.Sprint("f", i), User: "u", TTL: opts.MinTTL})
		if err != nil {
			b.Fatal(err)
		}
		for {
			n := <-f.Notices()
			if n.Event.Type == filelock.EventLockReleased && n.Event.Lock.Token == r.Lock.Token {
				lag := time.Since(r.Lock.ExpiresAt)
				total += lag
				worst = max(worst, lag)
				break
			}
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/lag")
	b.ReportMetric(float64(worst.Milliseconds()), "max-ms")
}

// TestIdleProjectExpires: a project's counter and history carry a Redis TTL
// of a day from its last event, so Redis forgets idle projects; a project
// forgotten that way still hands out ever larger tokens.
func TestIdleProjectExpires(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	prefix := redistest.Prefix(t)
	s := redis.New(rdb, storetest.Opts(), prefix)
	ctx := t.Context()
	first, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "a", User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{prefix + "meta:{p}", prefix + "events:{p}"} {
		if ttl := rdb.PTTL(ctx, key).Val(); ttl < 23*time.Hour || ttl > 24*time.Hour {
			t.Fatalf("PTTL %s = %v, want about a day", key, ttl)
		}
	}
	if _, err := s.Release(ctx, store.ReleaseRequest{ProjectID: "p", File: "a", User: "u"}); err != nil {
		t.Fatal(err)
	}
	// As if the day had passed.
	if err := rdb.Del(ctx, prefix+"meta:{p}", prefix+"events:{p}").Err(); err != nil {
		t.Fatal(err)
	}
	if keys := rdb.Keys(ctx, prefix+"*{p}*").Val(); len(keys) != 0 {
		t.Fatalf("keys left of an idle project: %v", keys)
	}
	again, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "a", User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if again.Lock.Token <= first.Lock.Token {
		t.Fatalf("token %d after the project was forgotten, not above %d", again.Lock.Token, first.Lock.Token)
	}
}

// deleteHints deletes every reaper hint of the prefix, as a failover of
// the nodes holding them to replicas that missed them would.
func deleteHints(t *testing.T, rdb goredis.UniversalClient, prefix string) {
	t.Helper()
	var mu sync.Mutex // ForEachMaster runs on every master at once
	var keys []string
	collect := func(ctx context.Context, c *goredis.Client) error {
		ks, err := c.Keys(ctx, prefix+"*reaper*").Result()
		mu.Lock()
		keys = append(keys, ks...)
		mu.Unlock()
		return err
	}
	var err error
	if cc, ok := rdb.(*goredis.ClusterClient); ok {
		err = cc.ForEachMaster(t.Context(), collect)
	} else {
		err = collect(t.Context(), rdb.(*goredis.Client))
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("no reaper hint to delete")
	}
	for _, k := range keys {
		if err := rdb.Del(t.Context(), k).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// lostHints: locks registered while the reaper's hints are lost (deleted
// right after the acquisitions) are still released as expired, within the
// sweep's bound, in every project.
func lostHints(t *testing.T, rdb goredis.UniversalClient, projects []string) {
	prefix := redistest.Prefix(t)
	s := redis.New(rdb, storetest.Opts(), prefix)
	ctx := t.Context()
	var locks []filelock.Lock
	for _, p := range projects {
		r, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: p, File: "a", User: "u", TTL: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		locks = append(locks, r.Lock)
	}
	deleteHints(t, rdb, prefix)
	runAll(t, s)
	for i, p := range projects {
		deadline := time.Now().Add(10 * time.Second)
		for {
			evs, err := s.Events(ctx, p, fmt.Sprint(locks[i].Token))
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) > 0 {
				if evs[0].Type != filelock.EventLockReleased || evs[0].Reason != filelock.ReasonExpired {
					t.Fatalf("%s: %+v", p, evs)
				}
				// The sweep's period is 3 s; allow for a loaded machine.
				if lag := time.Since(locks[i].ExpiresAt); lag > 6*time.Second {
					t.Fatalf("%s: released %v after expires_at", p, lag)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: a lock whose reaper hint was lost is never released", p)
			}
			time.Sleep(20 * time.Millisecond) // poll interval
		}
	}
}

func TestLostHints(t *testing.T) {
	lostHints(t, redistest.Shared(t).Client(t), []string{"p1", "p2", "p3"})
}

func TestClusterLostHints(t *testing.T) {
	lostHints(t, redistest.SharedCluster(t).Client(t), spreadProjects(t))
}
