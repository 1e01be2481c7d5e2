package events

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"filelock"
)

const wait = 10 * time.Second

func newHub(t *testing.T, st *fakeStore, queue int) *Hub {
	t.Helper()
	h := New(st, Options{Queue: queue, RetryEvery: 10 * time.Millisecond})
	t.Cleanup(func() { h.Close() })
	return h
}

// next receives the next live event of s or fails.
func next(t *testing.T, s *Subscription) filelock.Event {
	t.Helper()
	select {
	case ev, ok := <-s.C:
		if !ok {
			t.Fatalf("subscription ended: %v", s.Err())
		}
		return ev
	case <-time.After(wait):
		t.Fatal("no event")
	}
	return filelock.Event{}
}

// eventually polls cond until it holds or fails the test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestSnapshotThenLive(t *testing.T) {
	st := newFakeStore(100)
	st.append("p", "a")
	st.append("p", "b")
	h := newHub(t, st, 16)
	s, err := h.Subscribe(context.Background(), "p", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Initial) != 1 || s.Initial[0].Type != filelock.EventSnapshot || s.Initial[0].Seq != 2 || s.Replayed {
		t.Fatalf("initial = %+v", s.Initial)
	}
	for i := 3; i <= 6; i++ {
		st.append("p", "u"+strconv.Itoa(i))
		if ev := next(t, s); ev.Seq != uint64(i) || ev.User != "u"+strconv.Itoa(i) {
			t.Fatalf("event %d = %+v", i, ev)
		}
	}
}

func TestResume(t *testing.T) {
	st := newFakeStore(5)
	for i := 0; i < 8; i++ {
		st.append("p", "u")
	}
	h := newHub(t, st, 16)
	ctx := context.Background()

	s, err := h.Subscribe(ctx, "p", "5") // 6,7,8 are in history
	if err != nil {
		t.Fatal(err)
	}
	if !s.Replayed || len(s.Initial) != 3 || s.Initial[0].Seq != 6 || s.Initial[2].Seq != 8 {
		t.Fatalf("replay = %+v", s.Initial)
	}
	s.Close()

	s, err = h.Subscribe(ctx, "p", "8") // up to date
	if err != nil {
		t.Fatal(err)
	}
	if !s.Replayed || len(s.Initial) != 0 {
		t.Fatalf("replay = %+v", s.Initial)
	}
	st.append("p", "x")
	if ev := next(t, s); ev.Seq != 9 {
		t.Fatalf("live = %+v", ev)
	}
	s.Close()

	for _, id := range []string{"1", "99", "abc", "-1"} { // fallen out, unknown, malformed
		s, err = h.Subscribe(ctx, "p", id)
		if err != nil {
			t.Fatal(err)
		}
		if s.Replayed || len(s.Initial) != 1 || s.Initial[0].Type != filelock.EventSnapshot || s.Initial[0].Seq != 9 {
			t.Fatalf("resume %q: %+v", id, s.Initial)
		}
		s.Close()
	}
}

func TestFeedSubscriptionFollowsSubscribers(t *testing.T) {
	st := newFakeStore(10)
	h := newHub(t, st, 16)
	ctx := context.Background()
	a, err := h.Subscribe(ctx, "p", "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Subscribe(ctx, "p", "")
	if err != nil {
		t.Fatal(err)
	}
	if n := st.subscribed("p"); n != 1 {
		t.Fatalf("feed subscriptions = %d, want 1", n)
	}
	a.Close()
	if n := st.subscribed("p"); n != 1 {
		t.Fatalf("after one close: feed subscriptions = %d, want 1", n)
	}
	b.Close()
	if n := st.subscribed("p"); n != 0 {
		t.Fatalf("after last close: feed subscriptions = %d, want 0", n)
	}
	if p, n := h.Stats(); p != 0 || n != 0 {
		t.Fatalf("stats = %d, %d", p, n)
	}
	if _, err := h.Subscribe(ctx, "bad/id", ""); filelock.ErrorCode(err) != filelock.EInvalid {
		t.Fatalf("bad project id: %v", err)
	}
}

// TestLostRepeatedAndResync: lost notices are caught up on the next one
// (a gap) or on Resync; repeated notices are delivered once.
func TestLostRepeatedAndResync(t *testing.T) {
	st := newFakeStore(100)
	h := newHub(t, st, 64)
	s, err := h.Subscribe(context.Background(), "p", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st.setLose(true)
	st.append("p", "1")
	st.append("p", "2")
	st.setLose(false)
	st.append("p", "3") // gap: 1 and 2 come from the log
	for i := 1; i <= 3; i++ {
		if ev := next(t, s); ev.Seq != uint64(i) {
			t.Fatalf("got %d want %d", ev.Seq, i)
		}
	}
	st.setLose(true)
	st.append("p", "4")
	st.setLose(false)
	st.resync("")
	if ev := next(t, s); ev.Seq != 4 {
		t.Fatalf("after resync got %d", ev.Seq)
	}
	st.mu.Lock()
	st.repeat = true
	st.mu.Unlock()
	st.append("p", "5")
	st.append("p", "6")
	for i := 5; i <= 6; i++ {
		if ev := next(t, s); ev.Seq != uint64(i) {
			t.Fatalf("got %d want %d", ev.Seq, i)
		}
	}
	select {
	case ev := <-s.C:
		t.Fatalf("duplicate delivered: %+v", ev)
	default:
	}
}

func TestLaggingSubscriberDropped(t *testing.T) {
	st := newFakeStore(100)
	h := newHub(t, st, 4)
	ctx := context.Background()
	slow, err := h.Subscribe(ctx, "p", "")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast, err := h.Subscribe(ctx, "p", "")
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	for i := 1; i <= 20; i++ {
		st.append("p", "u")
		if ev := next(t, fast); ev.Seq != uint64(i) {
			t.Fatalf("fast got %d want %d", ev.Seq, i)
		}
	}
	select {
	case <-slow.Done():
	case <-time.After(wait):
		t.Fatal("slow subscriber not dropped")
	}
	if !errors.Is(slow.Err(), ErrLagging) {
		t.Fatalf("err = %v", slow.Err())
	}
	n := 0
	for range slow.C { // what was queued is still there, then the channel is closed
		n++
	}
	if n != 4 {
		t.Fatalf("queued = %d, want 4", n)
	}
}

func TestHistoryGoneDropsForResync(t *testing.T) {
	st := newFakeStore(3)
	h := newHub(t, st, 64)
	s, err := h.Subscribe(context.Background(), "p", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st.setLose(true)
	for i := 0; i < 5; i++ {
		st.append("p", "u")
	}
	st.setLose(false)
	st.resync("p")
	select {
	case <-s.Done():
	case <-time.After(wait):
		t.Fatal("not dropped")
	}
	if !errors.Is(s.Err(), ErrResync) {
		t.Fatalf("err = %v", s.Err())
	}
	// A new subscriber starts over from a snapshot and goes on live.
	s2, err := h.Subscribe(context.Background(), "p", "1") // 2 fell out
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Replayed || s2.Initial[0].Seq != 5 {
		t.Fatalf("initial = %+v", s2.Initial)
	}
	st.append("p", "u")
	if ev := next(t, s2); ev.Seq != 6 {
		t.Fatalf("got %d", ev.Seq)
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	st := newFakeStore(10)
	h := New(st, Options{})
	s, err := h.Subscribe(context.Background(), "p", "")
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	if _, ok := <-s.C; ok {
		t.Fatal("channel still open")
	}
	if !errors.Is(s.Err(), ErrClosed) {
		t.Fatalf("err = %v", s.Err())
	}
	s.Close()
	if _, err := h.Subscribe(context.Background(), "p", ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("subscribe after close: %v", err)
	}
}

// TestConcurrentSubscribersSeeEveryEventOnce races subscribers that come
// and go (fresh or resuming) against a writer and a feed that loses and
// repeats notices: each must see a gap-free, duplicate-free sequence from
// where it started to the end.
func TestConcurrentSubscribersSeeEveryEventOnce(t *testing.T) {
	const total = 3000
	st := newFakeStore(500)
	h := newHub(t, st, 4096)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	stopWriter := make(chan struct{})
	go func() { // the writer, with bursts of lost and repeated notices
		defer close(stopWriter)
		for i := 1; i <= total; i++ {
			st.mu.Lock()
			st.lose = i%97 < 5
			st.repeat = i%89 < 3
			st.mu.Unlock()
			st.append("p", strconv.Itoa(i))
			if i%500 == 0 {
				st.resync("")
			}
			if i%7 == 0 {
				time.Sleep(50 * time.Microsecond)
			}
		}
		st.setLose(false)
		st.append("p", "end") // total+1, notified: closes any gap
	}()
	for g := 0; g < 40; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
			after := ""
			if g%2 == 1 {
				st.mu.Lock()
				cur := st.seqs["p"]
				st.mu.Unlock()
				after = strconv.FormatUint(cur-uint64(r.IntN(int(min(cur, 50))+1)), 10)
			}
			s, err := h.Subscribe(ctx, "p", after)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			var last uint64
			for i, ev := range s.Initial {
				if i == 0 && ev.Type == filelock.EventSnapshot {
					last = ev.Seq
					continue
				}
				if i == 0 && s.Replayed {
					a, _ := filelock.ParseEventID(after)
					last = a
				}
				if ev.Seq != last+1 {
					errs <- fmt.Errorf("sub %d (after %q): initial %d after %d", g, after, ev.Seq, last)
					return
				}
				last = ev.Seq
			}
			if s.Replayed && len(s.Initial) == 0 {
				last, _ = filelock.ParseEventID(after)
			}
			for last < total+1 {
				select {
				case ev, ok := <-s.C:
					if !ok {
						errs <- fmt.Errorf("sub %d dropped: %v", g, s.Err())
						return
					}
					if ev.Seq != last+1 {
						errs <- fmt.Errorf("sub %d (after %q): live %d after %d", g, after, ev.Seq, last)
						return
					}
					last = ev.Seq
				case <-time.After(wait):
					errs <- fmt.Errorf("sub %d stuck at %d", g, last)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	<-stopWriter
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A Resync noticed while the project's first subscriber reads its snapshot
// (the hub has no delivery base yet) stands for events that may be newer
// than the snapshot: once the subscriber is ready, the hub must catch up.
func TestResyncWhileFirstSubscriberReads(t *testing.T) {
	st := newFakeStore(100)
	h := newHub(t, st, 16)
	st.afterStatus = func() {
		st.afterStatus = nil
		st.setLose(true)
		st.append("p", "lost") // after the snapshot; its notice is lost...
		st.setLose(false)
		st.resync("p") // ...and the feed says so
		st.resync("other")
		// The hub takes the second notice only once it has handled the first.
		eventually(t, "the hub to read the resync", func() bool { return len(st.feed.ch) == 0 })
	}
	s, err := h.Subscribe(context.Background(), "p", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Initial[0].Seq != 0 {
		t.Fatalf("initial = %+v", s.Initial)
	}
	if ev := next(t, s); ev.Seq != 1 || ev.User != "lost" {
		t.Fatalf("got %+v", ev)
	}
}
