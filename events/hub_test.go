package events

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
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

// rd reads a subscription's live frames one at a time.
type rd struct {
	s   *Subscription
	buf []*Frame
	err error // the end, once Take reported it
}

func reader(s *Subscription) *rd { return &rd{s: s} }

// take waits for the next live frame; nil once the subscription ended.
func (r *rd) take(t *testing.T) *Frame {
	t.Helper()
	for len(r.buf) == 0 {
		if r.err != nil {
			return nil
		}
		select {
		case <-r.s.Ready():
		case <-time.After(wait):
			t.Fatal("no event")
		}
		r.buf, r.err = r.s.Take(r.buf)
	}
	fr := r.buf[0]
	r.buf = r.buf[1:]
	return fr
}

// next receives the next live event or fails.
func (r *rd) next(t *testing.T) filelock.Event {
	t.Helper()
	fr := r.take(t)
	if fr == nil {
		t.Fatalf("subscription ended: %v", r.err)
	}
	return fr.Event
}

// pending takes what is queued without waiting.
func (r *rd) pending() []*Frame {
	var out []*Frame
	out, r.err = r.s.Take(append(out, r.buf...))
	r.buf = nil
	return out
}

// isSnapshot reports whether the subscription started from a snapshot.
func isSnapshot(s *Subscription) bool {
	return len(s.Initial) > 0 && s.Initial[0].Event.Type == filelock.EventSnapshot
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
	if len(s.Initial) != 1 || !isSnapshot(s) || s.Initial[0].Event.Seq != st.nth("p", 2) {
		t.Fatalf("initial = %+v", s.Initial)
	}
	r := reader(s)
	for i := 3; i <= 6; i++ {
		st.append("p", "u"+strconv.Itoa(i))
		if ev := r.next(t); ev.Seq != st.nth("p", i) || ev.User != "u"+strconv.Itoa(i) {
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
	id := func(i int) string { return strconv.FormatUint(st.nth("p", i), 10) }

	s, err := h.Subscribe(ctx, "p", id(5)) // 6,7,8 are in history
	if err != nil {
		t.Fatal(err)
	}
	if isSnapshot(s) || len(s.Initial) != 3 || s.Initial[0].Event.Seq != st.nth("p", 6) || s.Initial[2].Event.Seq != st.nth("p", 8) {
		t.Fatalf("replay = %+v", s.Initial)
	}
	s.Close()

	s, err = h.Subscribe(ctx, "p", id(8)) // up to date
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Initial) != 0 {
		t.Fatalf("replay = %+v", s.Initial)
	}
	st.append("p", "x")
	if ev := reader(s).next(t); ev.Seq != st.nth("p", 9) {
		t.Fatalf("live = %+v", ev)
	}
	s.Close()

	between := strconv.FormatUint(st.nth("p", 7)+1, 10) // in the window, but not an id of the project
	if between == id(8) {
		t.Fatal("the fake's ids do not jump")
	}
	for _, id := range []string{id(1), between, "99999", "abc", "-1"} { // fallen out, unknown, malformed
		s, err = h.Subscribe(ctx, "p", id)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Initial) != 1 || !isSnapshot(s) || s.Initial[0].Event.Seq != st.last("p") {
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
// (a gap: its Prev is not the last delivered) or on Resync; repeated
// notices are delivered once.
func TestLostRepeatedAndResync(t *testing.T) {
	st := newFakeStore(100)
	h := newHub(t, st, 64)
	s, err := h.Subscribe(context.Background(), "p", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := reader(s)
	st.setLose(true)
	st.append("p", "1")
	st.append("p", "2")
	st.setLose(false)
	st.append("p", "3") // gap: 1 and 2 come from the log
	for i := 1; i <= 3; i++ {
		if ev := r.next(t); ev.Seq != st.nth("p", i) {
			t.Fatalf("got %d want %d", ev.Seq, st.nth("p", i))
		}
	}
	st.setLose(true)
	st.append("p", "4")
	st.setLose(false)
	st.resync("")
	if ev := r.next(t); ev.Seq != st.nth("p", 4) {
		t.Fatalf("after resync got %d", ev.Seq)
	}
	st.mu.Lock()
	st.repeat = true
	st.mu.Unlock()
	st.append("p", "5")
	st.append("p", "6")
	for i := 5; i <= 6; i++ {
		if ev := r.next(t); ev.Seq != st.nth("p", i) {
			t.Fatalf("got %d want %d", ev.Seq, st.nth("p", i))
		}
	}
	if extra := r.pending(); len(extra) != 0 {
		t.Fatalf("duplicate delivered: %+v", extra[0].Event)
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
	rf := reader(fast)
	for i := 1; i <= 20; i++ {
		st.append("p", "u")
		if ev := rf.next(t); ev.Seq != st.nth("p", i) {
			t.Fatalf("fast got %d want %d", ev.Seq, st.nth("p", i))
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
	// What was queued is still there, in order, with the reason.
	q, err := slow.Take(nil)
	if !errors.Is(err, ErrLagging) || len(q) != 4 || q[0].Event.Seq != st.nth("p", 1) || q[3].Event.Seq != st.nth("p", 4) {
		t.Fatalf("queued = %d frames, err %v", len(q), err)
	}
}

// TestQueueCostsNothingUntilUsed: a subscriber's queue is allocated as
// events arrive, grows to the configured size, and is given back once a
// burst has been taken.
func TestQueueCostsNothingUntilUsed(t *testing.T) {
	st := newFakeStore(1000)
	h := newHub(t, st, 100)
	s, err := h.Subscribe(context.Background(), "p", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	capOf := func() int {
		s.qmu.Lock()
		defer s.qmu.Unlock()
		return cap(s.q)
	}
	if c := capOf(); c != 0 {
		t.Fatalf("idle queue capacity %d", c)
	}
	for i := 1; i <= 100; i++ {
		st.append("p", "u")
	}
	eventually(t, "100 queued", func() bool {
		s.qmu.Lock()
		defer s.qmu.Unlock()
		return len(s.q) == 100
	})
	if c := capOf(); c != 100 {
		t.Fatalf("full queue capacity %d, want the limit 100", c)
	}
	q, err := s.Take(nil)
	if err != nil || len(q) != 100 {
		t.Fatalf("took %d, %v", len(q), err)
	}
	if c := capOf(); c != 0 {
		t.Fatalf("capacity after taking a burst: %d", c)
	}
}

// TestFramesSharedAndEncodedOnce: every subscriber gets the same frame, and
// a format encodes it once however many subscribers ask.
func TestFramesSharedAndEncodedOnce(t *testing.T) {
	st := newFakeStore(10)
	h := newHub(t, st, 16)
	var calls atomic.Int64
	f := NewFormat("test", func(ev *filelock.Event) ([]byte, error) {
		calls.Add(1)
		return []byte(ev.User + "/" + ev.ID()), nil
	})
	g := NewFormat("other", func(ev *filelock.Event) ([]byte, error) { return []byte("x"), nil })
	var subs []*rd
	for range 20 {
		s, err := h.Subscribe(context.Background(), "p", "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		subs = append(subs, reader(s))
	}
	st.append("p", "ann")
	frames := make([]*Frame, len(subs))
	for i, r := range subs {
		frames[i] = r.take(t)
	}
	var wg sync.WaitGroup
	for _, fr := range frames {
		if fr != frames[0] {
			t.Fatal("subscribers got different frames of one event")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := fr.Bytes(f)
			if err != nil || string(b) != "ann/"+fr.Event.ID() {
				t.Errorf("bytes %q, %v", b, err)
			}
			if b, _ := fr.Bytes(g); string(b) != "x" {
				t.Errorf("other format %q", b)
			}
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("encoded %d times", n)
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
	s2, err := h.Subscribe(context.Background(), "p", strconv.FormatUint(st.nth("p", 1), 10)) // 2 fell out
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if !isSnapshot(s2) || s2.Initial[0].Event.Seq != st.nth("p", 5) {
		t.Fatalf("initial = %+v", s2.Initial)
	}
	st.append("p", "u")
	if ev := reader(s2).next(t); ev.Seq != st.nth("p", 6) {
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
	<-s.Ready()
	if _, err := s.Take(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("take: %v", err)
	}
	if !errors.Is(s.Err(), ErrClosed) {
		t.Fatalf("err = %v", s.Err())
	}
	s.Close()
	if _, err := h.Subscribe(context.Background(), "p", ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("subscribe after close: %v", err)
	}
}

// follow checks that s's stream (Initial, then live frames) is the store's
// log, gap-free and in order, from where it starts up to the event whose
// Seq is end; a snapshot in the stream restarts it at the snapshot's Seq.
// It returns an error describing the first violation.
func follow(st *fakeStore, s *Subscription, after uint64, end uint64) error {
	_, err := followOrEnd(st, s, after, func() uint64 { return end }, false)
	return err
}

// liveSnapshots counts the snapshots followOrEnd saw after Initial.
var liveSnapshots atomic.Int64

// followOrEnd is follow; with mayEnd, a stream the hub ends before end (it
// fell behind, the history is gone) is no violation: reached then says
// whether it got to end. end() is the Seq to reach (MaxUint64 while not
// known yet).
func followOrEnd(st *fakeStore, s *Subscription, after uint64, end func() uint64, mayEnd bool) (reached bool, _ error) {
	order := map[uint64]uint64{} // Seq -> Prev, of every event of the log
	known, prev := 0, uint64(0)  // how many of the log's events order holds; the last one
	refresh := func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		all := st.all[s.ProjectID]
		for _, seq := range all[known:] {
			order[seq] = prev
			prev = seq
		}
		known = len(all)
	}
	refresh()
	last := after
	live := false
	check := func(fr *Frame) error {
		ev := fr.Event
		if ev.Type == filelock.EventSnapshot {
			if live {
				liveSnapshots.Add(1)
			}
			last = ev.Seq
			return nil
		}
		if _, ok := order[ev.Seq]; !ok { // appended since
			refresh()
		}
		if order[ev.Seq] != last {
			return fmt.Errorf("got %d (after %d) after %d", ev.Seq, order[ev.Seq], last)
		}
		last = ev.Seq
		return nil
	}
	for _, fr := range s.Initial {
		if err := check(fr); err != nil {
			return false, fmt.Errorf("initial: %w", err)
		}
	}
	live = true
	var buf []*Frame
	for last < end() {
		select {
		case <-s.Ready():
		case <-time.After(wait):
			return false, fmt.Errorf("stuck at %d", last)
		}
		var err error
		buf, err = s.Take(buf[:0])
		for _, fr := range buf {
			if e := check(fr); e != nil {
				return false, fmt.Errorf("live: %w", e)
			}
		}
		if err != nil && last < end() {
			if mayEnd && !errors.Is(err, ErrClosed) {
				return false, nil
			}
			return false, fmt.Errorf("dropped at %d: %v", last, err)
		}
	}
	return true, nil
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
	var end atomic.Uint64
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
		end.Store(st.append("p", "end").Seq) // notified: closes any gap
	}()
	endSeq := func() uint64 {
		<-stopWriter
		return end.Load()
	}
	for g := 0; g < 40; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
			after := ""
			var from uint64
			if g%2 == 1 {
				st.mu.Lock()
				all := st.all["p"]
				if n := len(all); n > 0 {
					from = all[max(0, n-1-r.IntN(min(n, 50)))]
				}
				st.mu.Unlock()
				after = strconv.FormatUint(from, 10)
			}
			s, err := h.Subscribe(ctx, "p", after)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			if err := follow(st, s, from, endSeq()); err != nil {
				errs <- fmt.Errorf("sub %d (after %q): %v", g, after, err)
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
	if s.Initial[0].Event.Seq != 0 {
		t.Fatalf("initial = %+v", s.Initial)
	}
	if ev := reader(s).next(t); ev.Seq != st.nth("p", 1) || ev.User != "lost" {
		t.Fatalf("got %+v", ev)
	}
}

func isSnapshotFrame(fr *Frame) bool { return fr.Event.Type == filelock.EventSnapshot }

// TestSubscribedFormatsEncodedAhead: the hub encodes an event, before it
// wakes anyone, in the formats the project's subscribers named and in no
// other; a format stops being encoded ahead with its last subscriber.
func TestSubscribedFormatsEncodedAhead(t *testing.T) {
	st := newFakeStore(10)
	h := newHub(t, st, 16)
	var named, other atomic.Int64
	f := NewFormat("named", func(ev *filelock.Event) ([]byte, error) { named.Add(1); return []byte("n"), nil })
	g := NewFormat("other", func(ev *filelock.Event) ([]byte, error) { other.Add(1); return []byte("o"), nil })
	sf1, err := h.Subscribe(context.Background(), "p", "", f)
	if err != nil {
		t.Fatal(err)
	}
	sf2, err := h.Subscribe(context.Background(), "p", "", f)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := h.Subscribe(context.Background(), "p", "")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	r1, r2, rp := reader(sf1), reader(sf2), reader(plain)
	st.append("p", "ann")
	fr := rp.take(t)
	if n := named.Load(); n != 1 {
		t.Fatalf("named format encoded %d times before any read, want 1", n)
	}
	if n := other.Load(); n != 0 {
		t.Fatalf("a format nobody named was encoded %d times", n)
	}
	if b, _ := fr.Bytes(f); string(b) != "n" || named.Load() != 1 {
		t.Fatalf("bytes %q after %d encodings", b, named.Load())
	}
	if b, _ := fr.Bytes(g); string(b) != "o" || other.Load() != 1 {
		t.Fatalf("other format %q after %d encodings", b, other.Load())
	}
	r1.take(t)
	r2.take(t)

	sf1.Close() // one reader of f is left
	st.append("p", "bob")
	rp.take(t)
	r2.take(t)
	if n := named.Load(); n != 2 {
		t.Fatalf("named format encoded %d times after two events, want 2", n)
	}
	sf2.Close()
	sf2.Close() // idempotent: f's count must not go below zero
	st.append("p", "cy")
	rp.take(t)
	if n := named.Load(); n != 2 {
		t.Fatalf("format without subscribers still encoded ahead (%d)", n)
	}
	h.mu.Lock()
	left := len(h.projects["p"].formats)
	h.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d format counts left", left)
	}
}
