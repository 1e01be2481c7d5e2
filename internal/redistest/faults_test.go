package redistest

import (
	"context"
	"testing"
	"time"
)

// TestSnapshotRestartFrom: a restart from a snapshot brings back what was
// saved and loses what came after.
func TestSnapshotRestartFrom(t *testing.T) {
	s := Start(t)
	c := s.Client(t)
	ctx := t.Context()
	if err := c.Set(ctx, "old", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	rdb, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "new", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.RestartFrom(rdb); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Exists(ctx, "old", "new").Result(); err != nil || n != 1 {
		t.Fatalf("after RestartFrom EXISTS old new = %d, %v; want 1", n, err)
	}
	if n, _ := c.Exists(ctx, "old").Result(); n != 1 {
		t.Fatal("the snapshot's key is gone")
	}
	// A plain restart is empty again, even though a dump.rdb was written.
	s.Stop()
	s.Start()
	if n, err := c.Exists(ctx, "old").Result(); err != nil || n != 0 {
		t.Fatalf("after Start EXISTS old = %d, %v; want an empty server", n, err)
	}
}

// TestPauseFreezeKillPubSub: a paused server answers after the pause; a
// frozen one not until thawed; KillPubSub closes subscriptions.
func TestPauseFreezeKillPubSub(t *testing.T) {
	s := Start(t)
	c := s.Client(t)
	ctx := t.Context()
	if err := s.Pause(ctx, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 200*time.Millisecond {
		t.Fatalf("SET during a 300ms pause answered after %v", d)
	}
	if err := s.Freeze(); err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := c.Ping(fctx).Err()
	cancel()
	if err == nil {
		t.Fatal("PING answered while frozen")
	}
	if err := s.Thaw(); err != nil {
		t.Fatal(err)
	}
	ps := c.Subscribe(ctx, "ch")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.KillPubSub(ctx); err != nil || n != 1 {
		t.Fatalf("KillPubSub = %d, %v; want 1", n, err)
	}
}
