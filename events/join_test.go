package events

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStalledFirstReaderMissesNothing is issue 8 defect 1: X subscribes and
// reads the store's status at event 1, then stalls; events 2-4 happen; Y
// subscribes, reads 4 and becomes the project's delivery base; event 5
// reaches Y and is queued for X. When X finishes, its stream must go on
// with 2, 3, 4, 5: not jump from 1 to 5.
func TestStalledFirstReaderMissesNothing(t *testing.T) {
	st := newFakeStore(100)
	h := newHub(t, st, 16)
	ctx := context.Background()
	st.append("p", "1")

	var calls atomic.Int32
	xRead, release := make(chan struct{}), make(chan struct{})
	st.afterStatus = func() {
		if calls.Add(1) == 1 { // X's read: stall once it has seen event 1
			close(xRead)
			<-release
		}
	}
	type result struct {
		s   *Subscription
		err error
	}
	xc := make(chan result, 1)
	go func() {
		s, err := h.Subscribe(ctx, "p", "")
		xc <- result{s, err}
	}()
	select {
	case <-xRead:
	case <-time.After(wait):
		t.Fatal("X never read the store")
	}
	for i := 2; i <= 4; i++ {
		st.append("p", strconv.Itoa(i))
	}
	eventually(t, "the hub to read 2-4", func() bool { return len(st.feed.ch) == 0 })

	y, err := h.Subscribe(ctx, "p", "")
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	if y.Initial[0].Event.Seq != st.nth("p", 4) {
		t.Fatalf("Y's snapshot at %d, want %d", y.Initial[0].Event.Seq, st.nth("p", 4))
	}
	st.append("p", "5")
	if ev := reader(y).next(t); ev.Seq != st.nth("p", 5) { // so 5 is queued for X too
		t.Fatalf("Y got %d", ev.Seq)
	}

	close(release)
	var x result
	select {
	case x = <-xc:
	case <-time.After(wait):
		t.Fatal("X's subscribe never returned")
	}
	if x.err != nil {
		t.Fatal(x.err)
	}
	defer x.s.Close()
	if x.s.Initial[0].Event.Seq != st.nth("p", 1) {
		t.Fatalf("X's snapshot at %d, want %d", x.s.Initial[0].Event.Seq, st.nth("p", 1))
	}
	end := st.append("p", "6").Seq
	if err := follow(st, x.s, 0, end); err != nil {
		t.Fatalf("X: %v", err)
	}
}

// TestManyJoinAtOnce: many subscribers join at once while events flow,
// some of them stalled in their store read by random amounts; each one's
// stream (Initial, then live) must be the store's log from where it starts,
// gap-free and in order, or restart from a snapshot.
func TestManyJoinAtOnce(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for round := range 3 {
		st := newFakeStore(2000)
		h := newHub(t, st, 4096)
		ctx := context.Background()
		var stalls atomic.Int64
		r0 := rand.New(rand.NewPCG(seed, uint64(round)))
		var rmu sync.Mutex
		st.afterStatus = func() {
			rmu.Lock()
			d := time.Duration(r0.IntN(4000)) * time.Microsecond
			rmu.Unlock()
			stalls.Add(1)
			time.Sleep(d) // the stall being tested: a slow store read, not a wait for a condition
		}
		const total, subs = 800, 60
		stop := make(chan struct{})
		var end atomic.Uint64
		go func() {
			defer close(stop)
			for i := 1; i <= total; i++ {
				st.append("p", strconv.Itoa(i))
				if i%3 == 0 {
					time.Sleep(100 * time.Microsecond)
				}
			}
			end.Store(st.append("p", "end").Seq)
		}()
		var wg sync.WaitGroup
		errs := make(chan error, subs)
		start := make(chan struct{})
		for g := range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				s, err := h.Subscribe(ctx, "p", "")
				if err != nil {
					errs <- err
					return
				}
				defer s.Close()
				<-stop
				if err := follow(st, s, 0, end.Load()); err != nil {
					errs <- fmt.Errorf("round %d sub %d: %v", round, g, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			return
		}
	}
}

// TestManyJoinLossySmallQueues: the same crowd, joining while the feed
// loses bursts of notices (healed by the next gap or a Resync) longer
// than the queues, so that catch-ups overflow them: every stream is still the
// log without a hole, restarted by snapshots, or ends (the subscriber
// resumes); most reach the end.
func TestManyJoinLossySmallQueues(t *testing.T) {
	liveSnapshots.Store(0)
	st := newFakeStore(300)
	h := New(st, Options{Queue: 64, RetryEvery: 5 * time.Millisecond}) // losses heal by gaps and Resync
	t.Cleanup(func() { h.Close() })
	ctx := context.Background()
	const total, subs = 1500, 50
	stop := make(chan struct{})
	var end atomic.Uint64
	go func() {
		defer close(stop)
		for i := 1; i <= total; i++ {
			st.mu.Lock()
			st.lose = i%400 < 100 // bursts of 100 lost notices: catch-ups beyond the queue
			st.repeat = i%53 < 2
			st.mu.Unlock()
			st.append("p", strconv.Itoa(i))
			if i%400 == 0 {
				st.resync("p")
			}
			time.Sleep(100 * time.Microsecond) // a steady flow a subscriber can follow
		}
		st.setLose(false)
		end.Store(st.append("p", "end").Seq)
	}()
	var wg sync.WaitGroup
	var reached atomic.Int32
	errs := make(chan error, subs)
	for g := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(g*37%1000) * time.Microsecond) // spread the joins over the run
			s, err := h.Subscribe(ctx, "p", "")
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			endSeq := func() uint64 {
				select {
				case <-stop:
					return end.Load()
				default:
					return math.MaxUint64
				}
			}
			ok, err := followOrEnd(st, s, 0, endSeq, true)
			if err != nil {
				errs <- fmt.Errorf("sub %d: %v", g, err)
			}
			if ok {
				reached.Add(1)
			} else {
				t.Logf("sub %d ended: %v", g, s.Err())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := reached.Load(); n < subs/2 {
		t.Errorf("only %d of %d subscribers reached the end", n, subs)
	}
	if liveSnapshots.Load() == 0 {
		t.Error("no catch-up overflowed a queue: the test did not test what it says")
	}
}
