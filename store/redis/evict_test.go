package redis_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"filelock"
	"filelock/internal/redistest"
	"filelock/store"
	"filelock/store/redis"
	"filelock/store/storetest"
)

// TestEvictedLockKey: a lock whose key is evicted (here: deleted) while its
// expires_at is ahead is not released early (I7): it still blocks others,
// is listed, can be heartbeated (which writes its key again), and is
// released as expired, with its holder and token, once its time comes.
func TestEvictedLockKey(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	prefix := redistest.Prefix(t)
	s := redis.New(rdb, storetest.Opts(), prefix)
	ctx := t.Context()
	runAll(t, s)
	held, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "a", User: "u1", TTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "b", User: "u2", TTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"a", "b"} {
		if err := rdb.Del(ctx, prefix+"lock:{p}:"+f).Err(); err != nil {
			t.Fatal(err)
		}
	}
	_, err = s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "a", User: "u3"})
	if fe, ok := err.(*filelock.Error); !ok || fe.Code != filelock.EFileLocked || fe.Lock == nil ||
		fe.Lock.User != "u1" || fe.Lock.Token != held.Lock.Token || !fe.Lock.ExpiresAt.Equal(held.Lock.ExpiresAt) {
		t.Fatalf("acquiring an evicted live lock: %v, want file_locked with the holder's lock %+v", err, held.Lock)
	}
	st, err := s.Status(ctx, "p")
	if err != nil || len(st.Locks) != 2 || st.Locks[0].User != "u1" || !st.Locks[0].AcquiredAt.Equal(held.Lock.AcquiredAt) {
		t.Fatalf("status with evicted keys: %+v, %v", st, err)
	}
	hb, err := s.Heartbeat(ctx, "p", "u2")
	if err != nil || hb.Token != other.Lock.Token {
		t.Fatalf("heartbeat of an evicted lock: %+v, %v", hb, err)
	}
	if n := rdb.Exists(ctx, prefix+"lock:{p}:b").Val(); n != 1 {
		t.Fatal("heartbeat did not write the evicted key again")
	}
	evs, err := s.Events(ctx, "p", fmt.Sprint(other.Lock.Token))
	if err != nil || len(evs) != 0 {
		t.Fatalf("events before expiry: %+v, %v", evs, err)
	}
	// At its time, the evicted lock is released as expired, once.
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err = s.Events(ctx, "p", fmt.Sprint(other.Lock.Token))
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("evicted lock never released")
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	e := evs[0]
	if e.Type != filelock.EventLockReleased || e.Reason != filelock.ReasonExpired || e.Lock.File != "a" || e.Lock.User != "u1" || e.Lock.Token != held.Lock.Token {
		t.Fatalf("release of the evicted lock: %+v", e)
	}
	if early := held.Lock.ExpiresAt.Sub(time.Now()); early > 50*time.Millisecond {
		t.Fatalf("evicted lock released %v before its expires_at", early)
	}
}

// TestEvictionWarning: the store warns when Redis's maxmemory-policy could
// evict its keys, and not under noeviction.
func TestEvictionWarning(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	s := redis.New(rdb, storetest.Opts(), redistest.Prefix(t))
	ctx := t.Context()
	if w, err := s.EvictionWarning(ctx); err != nil || w != "" {
		t.Fatalf("under noeviction: %q, %v; want no warning", w, err)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory-policy", "volatile-lru").Err(); err != nil {
		t.Fatal(err)
	}
	if w, err := s.EvictionWarning(ctx); err != nil || !strings.Contains(w, "volatile-lru") || !strings.Contains(w, srv.Addr) {
		t.Fatalf("under volatile-lru: %q, %v; want a warning naming the node and policy", w, err)
	}
	c := redis.New(redistest.SharedCluster(t).Client(t), storetest.Opts(), redistest.Prefix(t))
	if w, err := c.EvictionWarning(ctx); err != nil || w != "" {
		t.Fatalf("cluster under noeviction: %q, %v", w, err)
	}
}

// TestEvictedCounter: a project whose counter key was evicted (it has a
// Redis TTL) still reports its last event id, resumes from it, and hands
// out larger tokens.
func TestEvictedCounter(t *testing.T) {
	srv := redistest.Shared(t)
	rdb := srv.Client(t)
	prefix := redistest.Prefix(t)
	s := redis.New(rdb, storetest.Opts(), prefix)
	ctx := t.Context()
	r, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "a", User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Del(ctx, prefix+"meta:{p}").Err(); err != nil {
		t.Fatal(err)
	}
	st, err := s.Status(ctx, "p")
	if err != nil || st.LastEventID != fmt.Sprint(r.Lock.Token) {
		t.Fatalf("status without the counter: %+v, %v; want last event %d", st, err, r.Lock.Token)
	}
	if evs, err := s.Events(ctx, "p", st.LastEventID); err != nil || len(evs) != 0 {
		t.Fatalf("resume from the last id without the counter: %v, %v", evs, err)
	}
	r2, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "b", User: "v"})
	if err != nil || r2.Lock.Token <= r.Lock.Token {
		t.Fatalf("token after the counter was evicted: %+v, %v; want above %d", r2.Lock, err, r.Lock.Token)
	}
	evs, err := s.Events(ctx, "p", st.LastEventID)
	if err != nil || len(evs) != 1 || evs[0].Prev != uint64(r.Lock.Token) {
		t.Fatalf("events after the evicted counter: %+v, %v", evs, err)
	}
}
