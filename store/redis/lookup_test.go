package redis_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"filelock/internal/redistest"
	"filelock/store"
	"filelock/store/redis"
	"filelock/store/storetest"
)

// TestLockLookupCost: the fencing check (Store.Lock) reads the one file's
// lock: the Redis commands it runs do not grow with the project's locks
// (Status, which the check once used, reads them all).
func TestLockLookupCost(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	s := redis.New(rdb, storetest.Opts(), "x:")
	ctx := t.Context()
	const n, k = 2000, 20
	for i := range n {
		if _, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: fmt.Sprint("images/", i, ".jpg"), User: fmt.Sprint("u", i), TTL: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Lock(ctx, "p", "images/7.jpg"); err != nil { // loads the script
		t.Fatal(err)
	}
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range k {
		l, err := s.Lock(ctx, "p", fmt.Sprint("images/", i*97, ".jpg"))
		if err != nil || l.User != fmt.Sprint("u", i*97) {
			t.Fatalf("Lock = %+v, %v", l, err)
		}
	}
	took := time.Since(start) / k
	calls := 0 // commands run, the scripts' own included, but EVALSHA and INFO
	for _, line := range strings.Split(rdb.Info(ctx, "commandstats").Val(), "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok || name == "cmdstat_evalsha" || name == "cmdstat_info" {
			continue
		}
		c, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		calls += c
	}
	t.Logf("%d locks: one Lock takes %v, %d Redis commands", n, took, calls/k)
	if calls > 4*k {
		t.Errorf("one Lock ran %d Redis commands in a project of %d locks, want a handful", calls/k, n)
	}
}
