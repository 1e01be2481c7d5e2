package redis_test

import (
	"testing"

	"filelock/internal/redistest"
	"filelock/store"
	"filelock/store/redis"
	"filelock/store/storetest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// newStore is the conformance factory: the shared private redis-server, a
// key prefix of its own per store.
func newStore(tb testing.TB, opts store.Options) *redis.Store {
	srv := redistest.Shared(tb)
	s := redis.New(srv.Client(tb), opts, redistest.Prefix(tb))
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store { return newStore(t, opts) })
	storetest.RunDeliveries(t, func(t *testing.T, opts store.Options) store.Store { return newStore(t, opts) })
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B, opts store.Options) store.Store { return newStore(b, opts) })
}
