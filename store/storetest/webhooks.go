package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"filelock/store"
)

// RunDeliveries runs the conformance suite of the webhook delivery state
// (store.Deliveries) against the stores newStore makes, which must
// implement it.
func RunDeliveries(t *testing.T, newStore func(t *testing.T, opts store.Options) store.Store) {
	f := func(t *testing.T) (store.Store, store.Deliveries) {
		s := newStore(t, Opts())
		d, ok := s.(store.Deliveries)
		if !ok {
			t.Fatalf("%T does not implement store.Deliveries", s)
		}
		return s, d
	}
	t.Run("Lease", func(t *testing.T) { t.Parallel(); testLease(t, f) })
	t.Run("LeaseRace", func(t *testing.T) { t.Parallel(); testLeaseRace(t, f) })
	t.Run("Positions", func(t *testing.T) { t.Parallel(); testPositions(t, f) })
	t.Run("Projects", func(t *testing.T) { t.Parallel(); testWebhookProjects(t, f) })
	t.Run("Watch", func(t *testing.T) { t.Parallel(); testWatch(t, f) })
}

type deliveriesFactory func(t *testing.T) (store.Store, store.Deliveries)

func lease(t *testing.T, d store.Deliveries, project, owner string, fence int64, ttl time.Duration) int64 {
	t.Helper()
	got, err := d.LeaseDelivery(t.Context(), project, owner, fence, ttl)
	if err != nil {
		t.Fatalf("LeaseDelivery(%s, %s, %d): %v", project, owner, fence, err)
	}
	return got
}

func positions(t *testing.T, d store.Deliveries, project string) map[string]string {
	t.Helper()
	m, err := d.DeliveryPositions(t.Context(), project)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A lease has one owner at a time; renewing needs its fence; it lapses by
// itself; every new lease gets a larger fence; only the holder acks.
func testLease(t *testing.T, newStore deliveriesFactory) {
	_, d := newStore(t)
	ctx := t.Context()
	const ttl = 800 * time.Millisecond
	fa := lease(t, d, "p", "a", 0, ttl)
	if fa <= 0 {
		t.Fatalf("free lease: fence %d, want > 0", fa)
	}
	if f := lease(t, d, "p", "b", 0, ttl); f != 0 {
		t.Fatalf("lease held by a: b got fence %d, want 0", f)
	}
	if f := lease(t, d, "p", "a", 0, ttl); f != fa {
		t.Fatalf("a takes its own lease again: fence %d, want %d", f, fa)
	}
	if f := lease(t, d, "p", "a", fa, ttl); f != fa {
		t.Fatalf("renew: fence %d, want %d", f, fa)
	}
	if _, err := d.LeaseDelivery(ctx, "p", "a", fa+1, ttl); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("renew with a wrong fence: %v, want ErrLeaseLost", err)
	}
	if _, err := d.LeaseDelivery(ctx, "p", "b", fa, ttl); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("renew by another owner: %v, want ErrLeaseLost", err)
	}
	if f := lease(t, d, "q", "b", 0, ttl); f <= 0 {
		t.Fatalf("another project's lease is free: fence %d", f)
	}
	if err := d.AckDelivery(ctx, "p", "a", fa, "http://r/1", "10"); err != nil {
		t.Fatal(err)
	}
	if err := d.AckDelivery(ctx, "p", "b", fa, "http://r/1", "11"); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("ack by a non-holder: %v, want ErrLeaseLost", err)
	}

	// a stops renewing: the lease lapses, b takes it with a larger fence,
	// and a, paused meanwhile, can neither renew nor ack over b.
	var fb int64
	deadline := time.Now().Add(pollTimeout)
	for fb == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("lease of %v still held after %v", ttl, pollTimeout)
		}
		time.Sleep(20 * time.Millisecond) // polling for the lapse, a condition of the store's clock
		fb = lease(t, d, "p", "b", 0, ttl)
	}
	if fb <= fa {
		t.Fatalf("new lease fence %d, want > %d", fb, fa)
	}
	if _, err := d.LeaseDelivery(ctx, "p", "a", fa, ttl); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("renew of a lapsed lease: %v, want ErrLeaseLost", err)
	}
	if err := d.AckDelivery(ctx, "p", "a", fa, "http://r/1", "99"); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("ack with the old fence: %v, want ErrLeaseLost", err)
	}
	if got := positions(t, d, "p")["http://r/1"]; got != "10" {
		t.Fatalf("position %q after a stale ack, want 10", got)
	}
	// A stale release leaves b's lease alone; b's own release frees it.
	if err := d.ReleaseDelivery(ctx, "p", "a", fa); err != nil {
		t.Fatal(err)
	}
	if f := lease(t, d, "p", "c", 0, ttl); f != 0 {
		t.Fatalf("after a stale release, c got fence %d, want 0", f)
	}
	if err := d.ReleaseDelivery(ctx, "p", "b", fb); err != nil {
		t.Fatal(err)
	}
	fc := lease(t, d, "p", "c", 0, ttl)
	if fc <= fb {
		t.Fatalf("after release, c got fence %d, want > %d", fc, fb)
	}
	if _, err := d.LeaseDelivery(ctx, "p", "b", fb, ttl); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("renew of a released lease: %v, want ErrLeaseLost", err)
	}
}

// Many owners race for one free lease: exactly one gets it.
func testLeaseRace(t *testing.T, newStore deliveriesFactory) {
	_, d := newStore(t)
	const n = 20
	fences := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			f, err := d.LeaseDelivery(t.Context(), "p", fmt.Sprint("owner", i), 0, time.Minute)
			if err != nil {
				t.Error(err)
			}
			fences[i] = f
		})
	}
	wg.Wait()
	won := 0
	for _, f := range fences {
		if f != 0 {
			won++
		}
	}
	if won != 1 {
		t.Fatalf("%d owners got the lease (fences %v), want 1", won, fences)
	}
}

// Positions are per project and URL, set as acked, kept across leases.
func testPositions(t *testing.T, newStore deliveriesFactory) {
	_, d := newStore(t)
	ctx := t.Context()
	if got := positions(t, d, "p"); len(got) != 0 {
		t.Fatalf("positions of a new project: %v, want none", got)
	}
	f := lease(t, d, "p", "a", 0, time.Minute)
	urls := []string{"http://127.0.0.1:1/a", "http://127.0.0.1:1/b?x=1&y={2}"}
	for i, id := range []string{"1764578000000001", "1764578000000007"} {
		if err := d.AckDelivery(ctx, "p", "a", f, urls[i], id); err != nil {
			t.Fatal(err)
		}
	}
	// Set as given, also below the previous position.
	if err := d.AckDelivery(ctx, "p", "a", f, urls[1], "0"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{urls[0]: "1764578000000001", urls[1]: "0"}
	if got := positions(t, d, "p"); !mapsEqual(got, want) {
		t.Fatalf("positions %v, want %v", got, want)
	}
	if got := positions(t, d, "q"); len(got) != 0 {
		t.Fatalf("another project's positions: %v, want none", got)
	}
	if err := d.ReleaseDelivery(ctx, "p", "a", f); err != nil {
		t.Fatal(err)
	}
	f2 := lease(t, d, "p", "b", 0, time.Minute)
	if got := positions(t, d, "p"); !mapsEqual(got, want) {
		t.Fatalf("positions after a handover %v, want %v", got, want)
	}
	if err := d.AckDelivery(ctx, "p", "b", f2, urls[0], "1764578000000009"); err != nil {
		t.Fatal(err)
	}
	if got := positions(t, d, "p")[urls[0]]; got != "1764578000000009" {
		t.Fatalf("position %q, want 1764578000000009", got)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Every project with events is listed once; projects of other stores and
// projects without events are not.
func testWebhookProjects(t *testing.T, newStore deliveriesFactory) {
	s, d := newStore(t)
	other, _ := newStore(t)
	lock(t, other, "elsewhere", "f", "u")
	want := []string{"a", "b.c", "d-e_f"}
	for _, p := range want {
		lock(t, s, p, "f1", "u1")
		lock(t, s, p, "f2", "u2")
	}
	_ = status(t, s, "no-events")
	got, err := d.WebhookProjects(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("WebhookProjects %v, want %v", got, want)
	}
}

// A watch hints projects appended to after it started, new ones included.
func testWatch(t *testing.T, newStore deliveriesFactory) {
	s, d := newStore(t)
	lock(t, s, "old", "f", "u")
	w, err := d.WatchProjects(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	waitHint := func(project string) {
		t.Helper()
		timeout := time.After(pollTimeout)
		for {
			select {
			case h, ok := <-w:
				if !ok {
					t.Fatal("watch closed")
				}
				if h == project {
					return
				}
				if h == "" { // a rescan must find it
					all, err := d.WebhookProjects(t.Context())
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Contains(all, project) {
						t.Fatalf("hint \"\" but WebhookProjects %v lacks %s", all, project)
					}
					return
				}
			case <-timeout:
				t.Fatalf("no hint of %s within %v", project, pollTimeout)
			}
		}
	}
	lock(t, s, "new", "f", "u")
	waitHint("new")
	lock(t, s, "old", "g", "u2")
	waitHint("old")
	lock(t, s, "new", "g", "u2")
	waitHint("new")
}
