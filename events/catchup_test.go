package events

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A lost notice of a project's last event is revealed by no later event;
// the periodic check against the store delivers it anyway.
func TestLostLastEventHealsByCheck(t *testing.T) {
	st := newFakeStore(100)
	h := New(st, Options{Queue: 16, RetryEvery: 10 * time.Millisecond, CheckEvery: 20 * time.Millisecond})
	t.Cleanup(func() { h.Close() })
	s, err := h.Subscribe(context.Background(), "p", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st.setLose(true)
	lost := st.append("p", "lost")
	st.setLose(false)
	if ev := reader(s).next(t); ev.Seq != lost.Seq {
		t.Fatalf("got %d, want the lost %d", ev.Seq, lost.Seq)
	}
}

// A catch-up that brings more events than the subscribers' queues hold
// gives them a snapshot instead of dropping them all at once; they go on
// live from it.
func TestCatchUpLargerThanQueueGivesSnapshot(t *testing.T) {
	st := newFakeStore(100)
	h := newHub(t, st, 4)
	var subs []*Subscription
	for range 3 {
		s, err := h.Subscribe(context.Background(), "p", "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		subs = append(subs, s)
	}
	st.setLose(true)
	for i := 1; i <= 20; i++ {
		st.append("p", strconv.Itoa(i))
	}
	st.setLose(false)
	st.resync("p")
	var got []*Frame
	for _, s := range subs {
		fr := reader(s).take(t)
		if fr == nil {
			t.Fatalf("dropped: %v", s.Err())
		}
		if !isSnapshotFrame(fr) || fr.Event.Seq != st.nth("p", 20) {
			t.Fatalf("got %+v, want a snapshot at %d", fr.Event, st.nth("p", 20))
		}
		got = append(got, fr)
	}
	if got[0] != got[1] || got[1] != got[2] {
		t.Error("the subscribers got different snapshot frames")
	}
	end := st.append("p", "live").Seq
	for _, s := range subs {
		if ev := reader(s).next(t); ev.Seq != end {
			t.Fatalf("after the snapshot got %d, want %d", ev.Seq, end)
		}
	}
}

// One project's slow catch-up does not hold up another's, nor live events.
func TestCatchUpsRunBesideEachOther(t *testing.T) {
	st := newFakeStore(100)
	h := newHub(t, st, 16)
	release := make(chan struct{})
	defer close(release)
	blocked := make(chan struct{})
	var once sync.Once
	st.beforeEvents = func(id string) {
		if id == "a" {
			once.Do(func() { close(blocked) })
			<-release
		}
	}
	a, err := h.Subscribe(context.Background(), "a", "")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := h.Subscribe(context.Background(), "b", "")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st.setLose(true)
	st.append("a", "lost")
	st.setLose(false)
	st.resync("a")
	select {
	case <-blocked:
	case <-time.After(wait):
		t.Fatal("a's catch-up never started")
	}
	rb := reader(b)
	st.setLose(true)
	st.append("b", "lost")
	st.setLose(false)
	st.append("b", "gap") // b's catch-up, while a's hangs
	for i := 1; i <= 2; i++ {
		if ev := rb.next(t); ev.Seq != st.nth("b", i) {
			t.Fatalf("b got %d want %d", ev.Seq, st.nth("b", i))
		}
	}
	st.append("b", "live")
	if ev := rb.next(t); ev.Seq != st.nth("b", 3) {
		t.Fatalf("b live got %d", ev.Seq)
	}
}

// At most Options.CatchUps catch-ups run at once, and each project's run
// one at a time.
func TestCatchUpsBounded(t *testing.T) {
	st := newFakeStore(100)
	h := New(st, Options{Queue: 16, RetryEvery: 10 * time.Millisecond, CatchUps: 2})
	t.Cleanup(func() { h.Close() })
	var running, peak atomic.Int32
	gate := make(chan struct{})
	var opened sync.Once
	open := func() { opened.Do(func() { close(gate) }) }
	defer open()
	st.beforeEvents = func(string) {
		n := running.Add(1)
		for {
			m := peak.Load()
			if n <= m || peak.CompareAndSwap(m, n) {
				break
			}
		}
		<-gate
		running.Add(-1)
	}
	var subs []*rd
	for i := range 6 {
		s, err := h.Subscribe(context.Background(), "p"+strconv.Itoa(i), "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		subs = append(subs, reader(s))
	}
	st.setLose(true)
	for i := range 6 {
		st.append("p"+strconv.Itoa(i), "lost")
	}
	st.setLose(false)
	for range 3 {
		st.resync("")
	}
	eventually(t, "two catch-ups to start", func() bool { return running.Load() == 2 })
	open()
	for i, r := range subs {
		if ev := r.next(t); ev.Seq != st.nth("p"+strconv.Itoa(i), 1) {
			t.Fatalf("p%d got %d", i, ev.Seq)
		}
	}
	if p := peak.Load(); p != 2 {
		t.Fatalf("peak concurrent catch-ups %d, want 2", p)
	}
}

// Ids jump forward (the fake's do): an event follows the last one when its
// Prev is that Seq, so live events that chain cost no catch-up.
func TestJumpingIdsNeedNoCatchUp(t *testing.T) {
	st := newFakeStore(100)
	h := newHub(t, st, 64)
	s, err := h.Subscribe(context.Background(), "p", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := reader(s)
	for i := 1; i <= 30; i++ {
		ev := st.append("p", strconv.Itoa(i))
		if got := r.next(t); got.Seq != ev.Seq {
			t.Fatalf("got %d want %d", got.Seq, ev.Seq)
		}
	}
	if st.nth("p", 2) == st.nth("p", 1)+1 {
		t.Fatal("the fake's ids do not jump")
	}
	st.mu.Lock()
	calls := st.eventsCalls
	st.mu.Unlock()
	if calls != 0 {
		t.Fatalf("%d catch-ups for events that chain", calls)
	}
}
