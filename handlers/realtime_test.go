package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"filelock/handlers"
	"filelock/internal/redistest"
	"filelock/store"
	"filelock/store/memory"
	redisstore "filelock/store/redis"
)

// rtOptions are lock rules with short periods, so that expiry and the
// disconnect release happen within a test.
func rtOptions() store.Options {
	o := store.DefaultOptions()
	o.MinTTL = 200 * time.Millisecond
	o.DisconnectGrace = 300 * time.Millisecond
	return o
}

// rtConfig is a Config over st with short realtime periods.
func rtConfig(st store.Store, o store.Options) handlers.Config {
	return handlers.Config{Store: st, Options: o, SSEKeepalive: time.Second, WSPingInterval: 200 * time.Millisecond,
		WSIdleTimeout: 3 * time.Second, StreamWriteTimeout: 2 * time.Second,
		PresenceLease: 2 * time.Second, PresenceRefresh: 200 * time.Millisecond}
}

var projectSeq atomic.Int64

func newProject() string {
	return fmt.Sprintf("rt-%d-%d", time.Now().UnixNano()%1e6, projectSeq.Add(1))
}

// memoryInstances is one server on a memory store.
func memoryInstances(t *testing.T, o store.Options, tweak func(*handlers.Config)) []*server {
	st := running(t, memory.New(o))
	cfg := rtConfig(st, o)
	if tweak != nil {
		tweak(&cfg)
	}
	return []*server{startServer(t, cfg)}
}

// redisInstances is two servers, each with its own store and client, on
// one private Redis.
func redisInstances(t *testing.T, rs *redistest.Server, o store.Options, tweak func(*handlers.Config)) []*server {
	prefix := redistest.Prefix(t)
	var out []*server
	for range 2 {
		st := running(t, redisstore.New(goredis.NewClient(rs.Options()), o, prefix))
		cfg := rtConfig(st, o)
		if tweak != nil {
			tweak(&cfg)
		}
		out = append(out, startServer(t, cfg))
	}
	return out
}

// subscriber is one client of any transport, for comparing what each saw.
type subscriber struct {
	name string
	log  *eventLog
}

// subscribeAll opens an SSE stream, a WebSocket and a Socket.IO socket to
// project on every instance, checking that each starts with a snapshot.
func subscribeAll(t *testing.T, srvs []*server, project string) []subscriber {
	t.Helper()
	var subs []subscriber
	for i, s := range srvs {
		sse := openSSE(t, s.url+"/events/"+project, nil)
		if sse.res.StatusCode != http.StatusOK || sse.first != "retry: 2000" {
			t.Fatalf("sse: status %d first line %q", sse.res.StatusCode, sse.first)
		}
		for k, v := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
			if got := sse.res.Header.Get(k); got != v {
				t.Fatalf("sse header %s = %q, want %q", k, got, v)
			}
		}
		ws := dialWS(t, s.url).start()
		r := ws.call("join_project", map[string]any{"project_id": project, "user_id": "watcher-ws-" + strconv.Itoa(i)})
		if r["ok"] != true || r["project_id"] != project || r["event_id"] == nil || r["locks"] == nil || r["users"] == nil {
			t.Fatalf("ws join reply %v", r)
		}
		sio := dialSIO(t, s.url)
		r = sio.call("join_project", map[string]any{"project_id": project, "user_id": "watcher-sio-" + strconv.Itoa(i)})
		if r["ok"] != true || r["project_id"] != project || r["locks"] == nil {
			t.Fatalf("sio join reply %v", r)
		}
		subs = append(subs, subscriber{fmt.Sprintf("sse@%d", i), sse.log}, subscriber{fmt.Sprintf("ws@%d", i), ws.log},
			subscriber{fmt.Sprintf("sio@%d", i), sio.log})
	}
	for _, sub := range subs {
		evs := sub.log.waitFor(t, sub.name+" snapshot", func(e wireEvent) bool { return true })
		if evs.Name != "snapshot" {
			t.Fatalf("%s: first event %s, want snapshot", sub.name, evs.Name)
		}
	}
	return subs
}

// after returns the events of l after event id from (snapshots excluded),
// rendered for comparison.
func after(l *eventLog, from uint64) []string {
	var out []string
	for _, e := range l.all() {
		id, _ := strconv.ParseUint(e.eventID(), 10, 64)
		if e.Name == "snapshot" || id <= from {
			continue
		}
		out = append(out, rendered(e))
	}
	return out
}

// runScript plays acquire, switch, unlock, expiry, force and disconnect
// through the instances and checks that every subscriber on every instance
// saw the same events, once each, in the same order, with the same ids.
func runScript(t *testing.T, srvs []*server) {
	project := newProject()
	subs := subscribeAll(t, srvs, project)
	a, b := srvs[0], srvs[len(srvs)-1]
	start, _ := strconv.ParseUint(a.status(project).LastEventID, 10, 64)
	for _, sub := range subs { // every subscriber is live up to start
		sub.log.waitFor(t, sub.name+" up to start", func(e wireEvent) bool {
			id, _ := strconv.ParseUint(e.eventID(), 10, 64)
			return id >= start
		})
	}

	a.lock(project, "a.jpg", "u1")
	var sw lockReply
	b.post("/lock", map[string]any{"project_id": project, "file": "b.jpg", "user_id": "u1", "release_previous": true}).ok(t, &sw)
	a.post("/unlock", map[string]any{"project_id": project, "file": "b.jpg", "user_id": "u1"}).ok(t, nil)
	b.post("/lock", map[string]any{"project_id": project, "file": "c.jpg", "user_id": "u2", "ttl_seconds": 0.2}).ok(t, nil)
	subs[0].log.waitFor(t, "expiry", func(e wireEvent) bool { return e.str("reason") == "expired" })
	a.lock(project, "d.jpg", "u3")
	b.post("/unlock", map[string]any{"project_id": project, "file": "d.jpg", "user_id": "u4", "force": true}).ok(t, nil)
	ws := dialWS(t, b.url).start()
	ws.call("join_project", map[string]any{"project_id": project, "user_id": "u5"})
	if r := ws.call("lock", map[string]any{"project_id": project, "file": "e.jpg"}); r["ok"] != true || r["acquired"] != true {
		t.Fatalf("ws lock reply %v", r)
	}
	ws.conn.Close()
	want := []string{"lock_acquired a.jpg u1 ", "lock_released a.jpg u1 switched", "lock_acquired b.jpg u1 ",
		"lock_released b.jpg u1 unlocked", "lock_acquired c.jpg u2 ", "lock_released c.jpg u2 expired",
		"lock_acquired d.jpg u3 ", "lock_released d.jpg u3 forced", "user_joined  u5 ", "lock_acquired e.jpg u5 ",
		"user_left  u5 ", "lock_released e.jpg u5 disconnected"}
	subs[0].log.waitFor(t, "the disconnect release", func(e wireEvent) bool { return e.str("reason") == "disconnected" })
	// The store's log is the reference: the script's events, nothing else.
	logged := a.storeEvents(t, project, start)
	if got := summaries(logged); !slices.Equal(got, want) {
		t.Fatalf("store logged %q, want %q", got, want)
	}
	ref := make([]string, len(logged))
	for i, e := range logged {
		ref[i] = rendered(e)
	}
	last := logged[len(logged)-1].eventID()
	for _, sub := range subs {
		sub.log.waitEventID(t, last)
		if got := after(sub.log, start); !slices.Equal(got, ref) {
			t.Errorf("%s saw\n%q\nthe store logged\n%q", sub.name, got, ref)
		}
	}
}

func TestRealtimeScriptMemory(t *testing.T) {
	runScript(t, memoryInstances(t, rtOptions(), nil))
}

func TestRealtimeScriptRedisTwoInstances(t *testing.T) {
	rs := redistest.Start(t)
	runScript(t, redisInstances(t, rs, rtOptions(), nil))
}

// TestSSEResume: an id in the history replays exactly what was missed
// (header or query); an id out of the history, or unknown, gives a snapshot.
func TestSSEResume(t *testing.T) {
	o := rtOptions()
	o.History = 6
	for name, srvs := range map[string]func() []*server{
		"memory": func() []*server { return memoryInstances(t, o, nil) },
		"redis":  func() []*server { return redisInstances(t, redistest.Start(t), o, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			srvs := srvs()
			a, b := srvs[0], srvs[len(srvs)-1]
			project := newProject()
			a.lock(project, "f1", "u1")
			a.lock(project, "f2", "u2")
			mark := a.status(project).LastEventID
			a.lock(project, "f3", "u3")
			a.lock(project, "f4", "u4")
			m, _ := strconv.ParseUint(mark, 10, 64)
			for i, header := range []bool{true, false} {
				var c *sseClient
				if header {
					c = openSSE(t, b.url+"/events/"+project, http.Header{"Last-Event-Id": {mark}})
				} else {
					c = openSSE(t, b.url+"/events/"+project+"?last_event_id="+mark, nil)
				}
				f := "g" + strconv.Itoa(i)
				a.lock(project, f, "v"+strconv.Itoa(i)) // live after the replay
				live := a.status(project).LastEventID
				c.log.waitEventID(t, live)
				// What was missed, then the live event: the store's log after mark.
				logged := a.storeEvents(t, project, m)
				want := []string{"lock_acquired f3 u3 ", "lock_acquired f4 u4 "}
				if i == 1 {
					want = append(want, "lock_acquired g0 v0 ")
				}
				want = append(want, fmt.Sprintf("lock_acquired %s v%d ", f, i))
				if got := summaries(logged); !slices.Equal(got, want) || logged[len(logged)-1].eventID() != live {
					t.Fatalf("store logged %q after %s, want %q ending with %s", names(logged), mark, want, live)
				}
				var ref []string
				for _, e := range logged {
					ref = append(ref, rendered(e))
				}
				if got := after(c.log, 0); !slices.Equal(got, ref) || c.log.all()[0].Name == "snapshot" {
					t.Fatalf("resume from %s (header %v): %v\n%q\nthe store logged\n%q", mark, header, names(c.log.all()), got, ref)
				}
				c.close()
			}
			// out of the window (history 6) and unknown ids give a fresh snapshot
			for _, id := range []string{"1", "999999", "x"} {
				c := openSSE(t, b.url+"/events/"+project, http.Header{"Last-Event-Id": {id}})
				e := c.log.waitFor(t, "snapshot", func(wireEvent) bool { return true })
				st := a.status(project)
				if e.Name != "snapshot" || e.eventID() != st.LastEventID || e.ID != st.LastEventID {
					t.Fatalf("resume from %s: first event %v, status %v", id, e, st)
				}
				if locks, _ := e.Data["locks"].([]any); len(locks) != len(st.Locks) {
					t.Fatalf("snapshot locks %v, status %v", e.Data["locks"], st.Locks)
				}
				c.close()
			}
		})
	}
}

func atoi(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

// TestPubSubKilledLosesNothing kills the Pub/Sub connections of both
// instances mid-stream: subscribers on the other instance still see every
// event, in order, once.
func TestPubSubKilledLosesNothing(t *testing.T) {
	rs := redistest.Start(t)
	srvs := redisInstances(t, rs, rtOptions(), nil)
	a, b := srvs[0], srvs[1]
	project := newProject()
	sse := openSSE(t, b.url+"/events/"+project, nil)
	ws := dialWS(t, b.url).start()
	ws.call("join_project", map[string]any{"project_id": project, "user_id": "w"})
	admin := rs.Client(t)
	const n = 60
	for i := range n {
		if i == n/3 || i == 2*n/3 {
			if err := admin.Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
				t.Fatal(err)
			}
		}
		f := "f" + strconv.Itoa(i)
		a.lock(project, f, "u1")
		a.post("/unlock", map[string]any{"project_id": project, "file": f, "user_id": "u1"}).ok(t, nil)
	}
	last, _ := strconv.ParseUint(a.status(project).LastEventID, 10, 64)
	var want []string
	for i := range n {
		f := "f" + strconv.Itoa(i)
		want = append(want, "lock_acquired "+f+" u1 ", "lock_released "+f+" u1 unlocked")
	}
	lockChanges(t, a, project, 0, want)
	for name, l := range map[string]*eventLog{"sse": sse.log, "ws": ws.log} {
		l.waitEventID(t, strconv.FormatUint(last, 10))
		evs := l.all()
		if evs[0].Name != "snapshot" {
			t.Fatalf("%s: first event %s, want snapshot", name, evs[0].Name)
		}
		for _, e := range evs[1:] {
			if e.Name == "snapshot" {
				t.Fatalf("%s: a snapshot mid-stream, the stream was restarted: %v", name, names(evs))
			}
		}
		from, _ := strconv.ParseUint(evs[0].eventID(), 10, 64)
		sameAsStore(t, name, l, a, project, from, last)
	}
}
