package redis_test

import (
	"context"
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

// subscribedFeed opens a Feed of s, closed in Cleanup, subscribed to projects.
func subscribedFeed(tb testing.TB, s store.Store, projects ...string) store.Feed {
	tb.Helper()
	f, err := s.Feed(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = f.Close() })
	for _, p := range projects {
		if err := f.Subscribe(tb.Context(), p); err != nil {
			tb.Fatalf("Subscribe(%s): %v", p, err)
		}
	}
	return f
}

// waitNotice waits for a notice matching ok.
func waitNotice(t *testing.T, f store.Feed, ok func(store.Notice) bool) store.Notice {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case n, open := <-f.Notices():
			if !open {
				t.Fatal("Notices closed")
			}
			if ok(n) {
				return n
			}
		case <-timeout:
			t.Fatal("no matching notice within 10s")
		}
	}
}

func isResync(p string) func(store.Notice) bool {
	return func(n store.Notice) bool { return n.Resync && (n.ProjectID == p || n.ProjectID == "") }
}

func isEvent(typ string) func(store.Notice) bool {
	return func(n store.Notice) bool { return !n.Resync && n.Event.Type == typ }
}

// TestFeedResyncAfterKill: when the Pub/Sub connection is killed, the Feed
// resubscribes, says Resync for each project, and delivers events again.
func TestFeedResyncAfterKill(t *testing.T) {
	srv := redistest.Start(t) // private: CLIENT KILL TYPE pubsub hits every feed
	rdb := srv.Client(t)
	s := redis.New(rdb, storetest.Opts(), redistest.Prefix(t))
	ctx := t.Context()
	f := subscribedFeed(t, s, "p1", "p2")
	if n, err := rdb.ClientKillByFilter(ctx, "TYPE", "pubsub").Result(); err != nil || n != 1 {
		t.Fatalf("CLIENT KILL TYPE pubsub = %d, %v; want 1 killed", n, err)
	}
	// Both projects must be resynced: by a notice of their own or by one
	// for every project.
	owed := map[string]bool{"p1": true, "p2": true}
	for len(owed) > 0 {
		n := waitNotice(t, f, func(n store.Notice) bool { return n.Resync })
		if n.ProjectID == "" {
			clear(owed)
		}
		delete(owed, n.ProjectID)
	}
	if _, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p2", File: "a", User: "u"}); err != nil {
		t.Fatal(err)
	}
	n := waitNotice(t, f, isEvent(filelock.EventLockAcquired))
	if n.ProjectID != "p2" || n.Event.Lock.File != "a" || n.Event.Lock.User != "u" {
		t.Fatalf("notice after resubscription: %+v", n)
	}
}

// TestOutage: while Redis is down every call fails fast with
// store_unavailable; when it comes back empty the feed resyncs and event
// ids and tokens keep going up.
func TestOutage(t *testing.T) {
	srv := redistest.Start(t)
	s := redis.New(srv.Client(t), storetest.Opts(), redistest.Prefix(t))
	ctx := t.Context()
	f := subscribedFeed(t, s, "p")
	before, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "a", User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	waitNotice(t, f, isEvent(filelock.EventLockAcquired))

	srv.Stop()
	calls := map[string]func(context.Context) error{
		"Ping": s.Ping,
		"Acquire": func(ctx context.Context) error {
			_, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "b", User: "v"})
			return err
		},
		"Status": func(ctx context.Context) error { _, err := s.Status(ctx, "p"); return err },
		"Events": func(ctx context.Context) error { _, err := s.Events(ctx, "p", "0"); return err },
		"Connect": func(ctx context.Context) error {
			return s.Connect(ctx, "p", "u", "c1", time.Second)
		},
	}
	for name, call := range calls {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		start := time.Now()
		err := call(cctx)
		cancel()
		if code := filelock.ErrorCode(err); code != filelock.EUnavailable {
			t.Errorf("%s while Redis is down: %v (code %s), want store_unavailable", name, err, code)
		}
		t.Logf("%s down: %v in %v", name, err, time.Since(start))
		if d := time.Since(start); d > 2500*time.Millisecond {
			t.Errorf("%s took %v while Redis is down", name, d)
		}
	}

	srv.Start()
	waitNotice(t, f, isResync("p"))
	deadline := time.Now().Add(10 * time.Second)
	var after store.AcquireResult
	for {
		if after, err = s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "a", User: "u2"}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Acquire after restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	if after.Lock.Token <= before.Lock.Token {
		t.Fatalf("token after Redis came back empty = %d, not above %d", after.Lock.Token, before.Lock.Token)
	}
	if _, err := s.Events(ctx, "p", fmt.Sprint(before.Lock.Token)); !errors.Is(err, store.ErrHistoryGone) {
		t.Fatalf("Events after an id of the lost history: %v, want ErrHistoryGone", err)
	}
	n := waitNotice(t, f, isEvent(filelock.EventLockAcquired))
	if n.Event.Lock.Token != after.Lock.Token {
		t.Fatalf("notice after restart: %+v", n)
	}
}
