package redis_test

import (
	"testing"

	"filelock"
	"filelock/internal/redistest"
	"filelock/store/redis"
	"filelock/store/storetest"
)

// TestPingRefusesReadOnly: a Redis that answers PING but refuses writes (a
// replica) is not ready (SPEC §3 /readyz); the same Redis as a master is.
func TestPingRefusesReadOnly(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	s := redis.New(rdb, storetest.Opts(), redistest.Prefix(t))
	ctx := t.Context()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping of a master = %v", err)
	}
	if err := rdb.Do(ctx, "REPLICAOF", "127.0.0.1", "1").Err(); err != nil { // a master that is never there
		t.Fatal(err)
	}
	err := s.Ping(ctx)
	if filelock.ErrorCode(err) != filelock.EUnavailable {
		t.Fatalf("Ping of a read-only replica = %v, want store_unavailable", err)
	}
	if err := rdb.Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after REPLICAOF NO ONE = %v", err)
	}
}
