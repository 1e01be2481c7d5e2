package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"filelock/store"
)

// TestDeliveryStateForgotten: the delivery state of a project the store
// forgot (its lease, fence and positions) goes with it, whether the
// project was acknowledged or only leased; a live project's stays.
func TestDeliveryStateForgotten(t *testing.T) {
	s := New(store.Options{MinTTL: time.Second, DefaultTTL: time.Hour, History: 10})
	s.idleAfter = 50 * time.Millisecond
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go s.Run(ctx)
	for _, p := range []string{"acked", "leased", "busy"} {
		if _, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: p, File: "a", User: "u"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"acked", "leased"} {
		if _, err := s.Release(ctx, store.ReleaseRequest{ProjectID: p, File: "a", User: "u"}); err != nil {
			t.Fatal(err)
		}
	}
	fa, err := s.LeaseDelivery(ctx, "acked", "a", 0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AckDelivery(ctx, "acked", "a", fa, "http://r/1", "1"); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseDelivery(ctx, "acked", "a", fa); err != nil {
		t.Fatal(err)
	}
	// A lease that lapses without an acknowledgement (its instance died).
	if _, err := s.LeaseDelivery(ctx, "leased", "b", 0, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	fb, err := s.LeaseDelivery(ctx, "busy", "a", 0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AckDelivery(ctx, "busy", "a", fb, "http://r/1", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WatchProjects(ctx); err != nil { // forgets as it watches
		t.Fatal(err)
	}
	kept := func() (gone, busy int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		d := s.state()
		for _, m := range []map[string]bool{keys(d.leases), keys(d.fences), keys(d.positions)} {
			gone += len(m)
			if m["busy"] {
				gone--
				busy++
			}
		}
		return gone, busy
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		gone, busy := kept()
		if busy != 3 {
			t.Fatalf("%d of the live project's lease, fence and positions kept, want 3", busy)
		}
		if gone == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.mu.Lock()
			d := s.state()
			msg := fmt.Sprintf("leases %v, fences %v, positions %v", d.leases, d.fences, d.positions)
			s.mu.Unlock()
			t.Fatalf("forgotten projects still have delivery state: %s", msg)
		}
		time.Sleep(20 * time.Millisecond) // polling: forgetting follows the store's idle timer
	}
}

func keys[V any](m map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}
