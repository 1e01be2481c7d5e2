package redis_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"filelock"
	"filelock/internal/redistest"
	"filelock/store"
	"filelock/store/redis"
	"filelock/store/storetest"
)

// TestResumeFromZeroAfterHistoryLost: a reader saw the project empty
// (last_event_id "0"); then its counter and history are lost (expired
// after a day of heartbeats only, or evicted) while a lock or a
// connection lives on. Resuming from "0" must not answer "no event since"
// (I6): it is ErrHistoryGone, so the reader takes a snapshot.
func TestResumeFromZeroAfterHistoryLost(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	prefix := redistest.Prefix(t)
	s := redis.New(rdb, storetest.Opts(), prefix)
	ctx := t.Context()
	lose := func(p string) {
		t.Helper()
		if err := rdb.Del(ctx, prefix+"meta:{"+p+"}", prefix+"events:{"+p+"}").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if evs, err := s.Events(ctx, "new", filelock.InitialEventID); err != nil || len(evs) != 0 {
		t.Fatalf("Events of a new project from 0 = %v, %v; want none", evs, err)
	}
	if _, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "locked", File: "f", User: "u", TTL: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	lose("locked")
	if _, err := s.Heartbeat(ctx, "locked", "u"); err != nil {
		t.Fatal(err)
	}
	if evs, err := s.Events(ctx, "locked", filelock.InitialEventID); !errors.Is(err, store.ErrHistoryGone) {
		t.Fatalf("Events from 0 after the history of a locked project was lost = %v, %v; want ErrHistoryGone", evs, err)
	}
	if err := s.Connect(ctx, "present", "u", "c1", time.Minute); err != nil {
		t.Fatal(err)
	}
	lose("present")
	if evs, err := s.Events(ctx, "present", filelock.InitialEventID); !errors.Is(err, store.ErrHistoryGone) {
		t.Fatalf("Events from 0 after the history of a project with a connection was lost = %v, %v; want ErrHistoryGone", evs, err)
	}
}

// TestIdleTimeRestartedByLocksAndRefresh: the counter and history of a
// project expire a day after it was last active, where a heartbeat, a
// renewal and a connection refresh count as activity, not a day after its
// last event.
func TestIdleTimeRestartedByLocksAndRefresh(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	prefix := redistest.Prefix(t)
	s := redis.New(rdb, storetest.Opts(), prefix)
	ctx := t.Context()
	keys := []string{prefix + "meta:{p}", prefix + "events:{p}"}
	if _, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "f", User: "u", TTL: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := s.Connect(ctx, "p", "u", "c1", time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, op := range map[string]func() error{
		"Heartbeat": func() error { _, err := s.Heartbeat(ctx, "p", "u"); return err },
		"renewal": func() error {
			_, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "p", File: "f", User: "u", TTL: 5 * time.Second})
			return err
		},
		"Refresh": func() error { return s.Refresh(ctx, "p", []store.Conn{{ID: "c1", User: "u"}}, time.Minute) },
	} {
		for _, k := range keys {
			if err := rdb.PExpire(ctx, k, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if err := op(); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if ttl := rdb.PTTL(ctx, k).Val(); ttl < 23*time.Hour {
				t.Errorf("after a %s, %s expires in %v, want a day", name, k, ttl)
			}
		}
	}
}

// TestOldVersionEvents: stream entries of the previous version (no p, the
// seq of the event before) are read with Prev 0, not as an error, so a
// reader catches up or takes a snapshot.
func TestOldVersionEvents(t *testing.T) {
	rdb := redistest.Shared(t).Client(t)
	prefix := redistest.Prefix(t)
	s := redis.New(rdb, storetest.Opts(), prefix)
	ctx := t.Context()
	for i, js := range []string{`{"t":"user_joined","s":"1","u":"a"}`, `{"t":"user_left","s":"2","u":"a"}`} {
		if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: prefix + "events:{p}", ID: fmt.Sprint(i+1, "-0"), Values: []any{"e", js}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.HSet(ctx, prefix+"meta:{p}", "seq", "2").Err(); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Events(ctx, "p", "1")
	if err != nil || len(evs) != 1 || evs[0].Seq != 2 || evs[0].Prev != 0 || evs[0].Type != filelock.EventUserLeft {
		t.Fatalf("Events after an old-version event = %+v, %v; want user_left 2 with Prev 0", evs, err)
	}
}
