package redis_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"filelock"
	"filelock/internal/redistest"
	"filelock/store"
	"filelock/store/redis"
	"filelock/store/storetest"
)

// TestLostWrites: Redis restarts from a snapshot older than its last
// writes. Tokens and event ids still go up past everything handed out
// before (I3), a stream resuming from a lost id gets ErrHistoryGone (so a
// snapshot, I6), and one resuming from an id the snapshot kept gets the
// events after it, each with the Prev of the one before.
func TestLostWrites(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	s := redis.New(rdb, storetest.Opts(), redistest.Prefix(t))
	ctx := t.Context()
	take := func(file, user string) filelock.Lock {
		t.Helper()
		r, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: file, User: user, TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return r.Lock
	}
	for i := range 3 {
		take(fmt.Sprint("kept", i), fmt.Sprint("k", i))
	}
	kept, err := s.Status(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	rdbFile, err := srv.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var lost []filelock.Lock
	for i := range 5 {
		lost = append(lost, take(fmt.Sprint("lost", i), fmt.Sprint("l", i)))
	}
	lostID, err := s.Status(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}

	if err := srv.RestartFrom(rdbFile); err != nil { // as a crash: the writes after the snapshot are gone
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("Redis did not come back")
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	if st, err := s.Status(ctx, "p"); err != nil || st.LastEventID != kept.LastEventID || len(st.Locks) != 3 {
		t.Fatalf("after the restart: %+v, %v; want the snapshot's state as of %s", st, err, kept.LastEventID)
	}
	again := take("lost0", "l0") // a file a lost write had taken
	for _, l := range lost {
		if again.Token <= l.Token {
			t.Fatalf("token %d after the restart, not above lost token %d", again.Token, l.Token)
		}
	}
	for _, id := range []string{lostID.LastEventID, fmt.Sprint(lost[0].Token)} {
		if evs, err := s.Events(ctx, "p", id); !errors.Is(err, store.ErrHistoryGone) {
			t.Fatalf("Events after lost id %s = %v, %v; want ErrHistoryGone", id, evs, err)
		}
	}
	evs, err := s.Events(ctx, "p", kept.LastEventID)
	if err != nil || len(evs) != 1 || evs[0].Lock.Token != again.Token || fmt.Sprint(evs[0].Prev) != kept.LastEventID {
		t.Fatalf("Events after the kept id %s = %+v, %v; want the one new lock_acquired after it", kept.LastEventID, evs, err)
	}
}

// TestFlushAll: after FLUSHALL, tokens and ids still go up and an old id is
// unknown.
func TestFlushAll(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	s := redis.New(rdb, storetest.Opts(), redistest.Prefix(t))
	ctx := t.Context()
	var last filelock.Lock
	for i := range 3 {
		r, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: fmt.Sprint("f", i), User: fmt.Sprint("u", i)})
		if err != nil {
			t.Fatal(err)
		}
		last = r.Lock
	}
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// The SPEC's condition: Redis's clock is not behind the time of the
	// lost writes (here: past their microsecond).
	for {
		now, err := rdb.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if now.UnixMicro() > last.Token {
			break
		}
	}
	r, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "f0", User: "u0"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Lock.Token <= last.Token {
		t.Fatalf("token %d after FLUSHALL, not above %d", r.Lock.Token, last.Token)
	}
	if _, err := s.Events(ctx, "p", fmt.Sprint(last.Token)); !errors.Is(err, store.ErrHistoryGone) {
		t.Fatalf("Events after a flushed id: %v, want ErrHistoryGone", err)
	}
}

// TestFlushSameMillisecond: Redis loses the writes of a moment ago (a
// FLUSHALL right after an acquisition, in the same millisecond): the next
// token and delivery fence are still above the lost ones (I3), since seqs
// are floored by the Redis time in microseconds, not milliseconds.
func TestFlushSameMillisecond(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	s := redis.New(rdb, storetest.Opts(), redistest.Prefix(t))
	ctx := t.Context()
	tokens, fences := 0, 0
	for i := range 200 {
		a, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "f", User: fmt.Sprint("a", i)})
		if err != nil {
			t.Fatal(err)
		}
		fa, err := s.LeaseDelivery(ctx, "p", "o1", 0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		b, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "f", User: fmt.Sprint("b", i)})
		if err != nil {
			t.Fatal(err)
		}
		fb, err := s.LeaseDelivery(ctx, "p", "o2", 0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if b.Lock.Token <= a.Lock.Token {
			tokens++
		}
		if fb <= fa {
			fences++
		}
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if tokens > 0 || fences > 0 {
		t.Errorf("of 200 flushes, %d gave a token and %d a delivery fence not above the lost one", tokens, fences)
	}
}
