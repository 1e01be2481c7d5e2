package redistest

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

func TestStartStopStart(t *testing.T) {
	s := Start(t)
	c := s.Client(t)
	ctx := t.Context()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	s.Stop()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered after Stop")
	}
	s.Start()
	deadline := time.Now().Add(5 * time.Second)
	for c.Ping(ctx).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("PING not answered after Start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("after restart EXISTS k = %d, %v; want an empty server", n, err)
	}
	cfg, err := c.ConfigGet(ctx, "save").Result()
	if err != nil || cfg["save"] != "" {
		t.Fatalf("CONFIG GET save = %v, %v; want no persistence", cfg, err)
	}
}

func TestSharedAndPrefix(t *testing.T) {
	a, b := Shared(t), Shared(t)
	if a != b {
		t.Fatal("Shared returned two servers")
	}
	if err := a.Client(t).Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	if p, q := Prefix(t), Prefix(t); p == q || p == "" {
		t.Fatalf("Prefix returned %q and %q", p, q)
	}
}

func TestCluster(t *testing.T) {
	start := time.Now()
	c := StartCluster(t)
	t.Logf("cluster up in %v", time.Since(start))
	if len(c.Addrs()) != 3 {
		t.Fatalf("Addrs = %v, want 3 nodes", c.Addrs())
	}
	cl := c.Client(t)
	ctx := t.Context()
	masters := map[string]bool{}
	for i := range 30 {
		key := fmt.Sprint("k", i)
		if err := cl.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
		m, err := cl.MasterForKey(ctx, key)
		if err != nil {
			t.Fatalf("MasterForKey %s: %v", key, err)
		}
		masters[m.Options().Addr] = true
	}
	if len(masters) != 3 {
		t.Fatalf("30 keys on masters %v, want all 3", masters)
	}
	for _, addr := range c.Addrs() {
		if !masters[addr] {
			t.Fatalf("node %s serves none of 30 keys (masters %v)", addr, masters)
		}
	}
	if v, err := cl.Get(ctx, "k7").Int(); err != nil || v != 7 {
		t.Fatalf("GET k7 = %d, %v", v, err)
	}
}
