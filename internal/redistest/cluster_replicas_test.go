package redistest

import (
	"context"
	"testing"
	"time"
)

// TestClusterKillMaster: the replica of a killed master takes its slots
// over; the cluster client reaches the key again.
func TestClusterKillMaster(t *testing.T) {
	t0 := time.Now()
	c := StartClusterReplicas(t)
	t.Logf("cluster with replicas up in %v", time.Since(t0))
	cl := c.Client(t)
	ctx := t.Context()
	if err := cl.Set(ctx, "{p}k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	before, err := c.MasterOf(ctx, "{p}k")
	if err != nil {
		t.Fatal(err)
	}
	took, err := c.KillMaster(ctx, "{p}k", nil)
	if err != nil {
		t.Fatal(err)
	}
	after, err := c.MasterOf(ctx, "{p}k")
	if err != nil || after == before {
		t.Fatalf("master of the key after KillMaster: %v, %v (was %s)", after, err, before.Addr)
	}
	t.Logf("failover took %v", took)
	deadline := time.Now().Add(15 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		err := cl.Set(cctx, "{p}k2", "v", 0).Err()
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster client not back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
