package redistest

import (
	"context"
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
