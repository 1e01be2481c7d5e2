package redis

import (
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"filelock"
	"filelock/internal/redistest"
	"filelock/store"
)

// TestClusterScriptSentOnce: a script whose reply is lost (here: the read
// times out while it runs) is not sent again, neither alone nor in a
// pipeline; a ClusterClient resends commands after a lost reply unless
// they are NoRetry.
func TestClusterScriptSentOnce(t *testing.T) {
	c := redistest.SharedCluster(t)
	opts := c.Options()
	opts.ReadTimeout = 100 * time.Millisecond
	cl := goredis.NewClusterClient(opts)
	t.Cleanup(func() { _ = cl.Close() })
	rdb := c.Client(t)
	// Counts its runs, then keeps its node busy past the read timeout.
	slow := newScript(`redis.call('INCR', KEYS[1])
local function ms() local t = redis.call('TIME'); return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000 end
local t0 = ms()
while ms() - t0 < 300 do end
return 1`)
	s := New(cl, store.Options{}, redistest.Prefix(t))
	ctx := t.Context()
	for _, tc := range []struct {
		name  string
		calls []*call
	}{
		{"EVAL", []*call{{script: slow, keys: []string{s.prefix + "{once}a"}}}}, // the node does not know it yet
		{"EVALSHA", []*call{{script: slow, keys: []string{s.prefix + "{once}b"}}}},
		{"pipeline", []*call{{script: newScript("return 1"), keys: []string{s.prefix + "{other}"}},
			{script: slow, keys: []string{s.prefix + "{once}c"}}}},
	} {
		err := s.run(ctx, tc.calls...)
		if code := filelock.ErrorCode(err); code != filelock.EUnavailable {
			t.Fatalf("%s: a read timeout gave %v (code %s), want store_unavailable", tc.name, err, code)
		}
		key := tc.calls[len(tc.calls)-1].keys[0]
		if n, err := rdb.Get(ctx, key).Int(); err != nil || n != 1 {
			t.Errorf("%s: the script ran %d times (%v), want once", tc.name, n, err)
		}
	}
}
