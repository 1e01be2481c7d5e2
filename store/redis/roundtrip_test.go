package redis_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"filelock/internal/redistest"
	"filelock/store"
	"filelock/store/redis"
	"filelock/store/storetest"
)

// roundTrips counts the client's round trips to Redis (a command or a
// pipeline each).
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (r *roundTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmds)
	}
}

// TestOneRoundTrip: a lock operation costs one round trip to Redis,
// registration for the reaper included.
func TestOneRoundTrip(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	var rt roundTrips
	rdb.AddHook(&rt)
	s := redis.New(rdb, storetest.Opts(), redistest.Prefix(t))
	ctx := t.Context()
	warm := func() { // scripts Redis does not know yet are sent once in full
		_, _ = s.Acquire(ctx, store.AcquireRequest{ProjectID: "w", File: "a", User: "u"})
		_, _ = s.Heartbeat(ctx, "w", "u")
		_, _ = s.Claim(ctx, store.ClaimRequest{ProjectID: "w", Files: []string{"a"}, User: "u"})
		_ = s.Connect(ctx, "w", "u", "c", time.Minute)
		_ = s.Disconnect(ctx, "w", "c")
		_, _ = s.Release(ctx, store.ReleaseRequest{ProjectID: "w", File: "a", User: "u"})
	}
	warm()
	for _, o := range []struct {
		name string
		op   func() error
	}{
		{"Acquire", func() error {
			_, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "a", User: "u"})
			return err
		}},
		{"Heartbeat", func() error { _, err := s.Heartbeat(ctx, "p", "u"); return err }},
		{"Claim", func() error {
			_, err := s.Claim(ctx, store.ClaimRequest{ProjectID: "p", Files: []string{"b", "c"}, User: "u"})
			return err
		}},
		{"Connect", func() error { return s.Connect(ctx, "p", "u", "c1", time.Minute) }},
		{"Disconnect", func() error { return s.Disconnect(ctx, "p", "c1") }},
		{"Release", func() error {
			_, err := s.Release(ctx, store.ReleaseRequest{ProjectID: "p", File: "b", User: "u"})
			return err
		}},
	} {
		before := rt.n.Load()
		if err := o.op(); err != nil {
			t.Fatalf("%s: %v", o.name, err)
		}
		if n := rt.n.Load() - before; n != 1 {
			t.Errorf("%s took %d round trips, want 1", o.name, n)
		}
	}
}
