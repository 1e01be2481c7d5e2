package redistest

import (
	"context"
	"testing"
	"time"
)

// TestSentinelFailoverLosingWrites: a write the frozen replica missed is
// gone after the failover; the failover client follows the new master.
func TestSentinelFailoverLosingWrites(t *testing.T) {
	s := StartSentinel(t)
	c := s.Client(t)
	ctx := t.Context()
	if err := c.Set(ctx, "kept", "1", 0).Err(); err != nil {
		t.Fatalf("SET through the failover client: %v", err)
	}
	if err := waitLinkUp(ctx, s.Nodes[1].Addr); err != nil {
		t.Fatal(err)
	}
	// WAIT: the replica has "kept" before it is frozen.
	if n, err := c.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT = %d, %v", n, err)
	}
	m, took, err := s.FailoverLosingWrites(ctx, func() {
		if err := c.Set(ctx, "lost", "1", 0).Err(); err != nil {
			t.Errorf("SET during: %v", err)
		}
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m != s.Nodes[1] {
		t.Fatalf("new master %s, want the replica %s", m.Addr, s.Nodes[1].Addr)
	}
	t.Logf("failover took %v", took)
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		kept, err1 := c.Exists(ctx, "kept").Result()
		lost, err2 := c.Exists(ctx, "lost").Result()
		cancel()
		if err1 == nil && err2 == nil {
			if kept != 1 || lost != 0 {
				t.Fatalf("after the failover kept=%d lost=%d, want 1 and 0", kept, lost)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("failover client not back: %v %v", err1, err2)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.Set(ctx, "after", "1", 0).Err(); err != nil {
		t.Fatalf("SET after the failover: %v", err)
	}
}
