package handlers_test

import (
	"context"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"filelock"
	"filelock/handlers"
	"filelock/internal/redistest"
)

// Redis outages (SPEC §8): every request is answered 503 store_unavailable
// within the store timeout, /readyz fails and recovers, nothing panics, no
// goroutines pile up, and subscribers on both instances miss no event.

// outageSetup is two instances on a private Redis, with a lease shorter than the outage (so leases lapse and the
// refresher must record the connections again) and a grace long enough
// for that to happen before a release.
func outageSetup(t *testing.T) (*redistest.Server, []*server) {
	rs := redistest.Start(t)
	o := rtOptions()
	o.DisconnectGrace = 5 * time.Second
	srvs := redisInstances(t, rs, o, func(c *handlers.Config) { c.PresenceLease = time.Second })
	return rs, srvs
}

// during fires REST calls at both instances until d has passed and checks
// that each is answered 503 store_unavailable within 2.5 s; it returns the
// slowest answer.
func during(t *testing.T, srvs []*server, d time.Duration) time.Duration {
	t.Helper()
	var (
		mu      sync.Mutex
		slowest time.Duration
		n       int
		wg      sync.WaitGroup
	)
	end := time.Now().Add(d)
	for i := range 8 { // concurrent callers: a pile-up would show
		wg.Go(func() {
			s := srvs[i%len(srvs)]
			for j := 0; time.Now().Before(end); j++ {
				r := requests[j%len(requests)]
				start := time.Now()
				res := s.do(r.method, r.path, r.body)
				took := time.Since(start)
				if res.status != http.StatusServiceUnavailable {
					t.Errorf("%s %s during the outage: %d %s", r.method, r.path, res.status, res.body)
					return
				}
				res.fail(t, http.StatusServiceUnavailable, filelock.EUnavailable)
				if took > 2500*time.Millisecond {
					t.Errorf("%s %s answered after %v", r.method, r.path, took)
				}
				mu.Lock()
				slowest, n = max(slowest, took), n+1
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("outage: %d requests answered 503, slowest after %v, %d goroutines", n, slowest, runtime.NumGoroutine())
	return slowest
}

// waitReady polls /readyz of every instance until it answers 200.
func waitReady(t *testing.T, srvs []*server) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, s := range srvs {
		for s.do(http.MethodGet, "/readyz", "").status != http.StatusOK {
			if time.Now().After(deadline) {
				t.Fatal("/readyz not 200 within 15s of Redis coming back")
			}
			time.Sleep(20 * time.Millisecond) // poll interval
		}
	}
}

// settleGoroutines waits until the goroutine count is back near baseline.
func settleGoroutines(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline+15 {
			t.Logf("goroutines: %d before the outage, %d after", baseline, n)
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before the outage, still %d after:\n%s", baseline, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
}

// lockChanges checks that the store logged exactly the lock changes want
// (as summaries renders them) after event from; presence events, which
// lapsing leases may add, are left out.
func lockChanges(t *testing.T, s *server, project string, from uint64, want []string) {
	t.Helper()
	var got []string
	for _, e := range s.storeEvents(t, project, from) {
		if strings.HasPrefix(e.Name, "lock_") {
			got = append(got, summaries([]wireEvent{e})[0])
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("store logged the lock changes\n%q\nwant\n%q", got, want)
	}
}

// afterChanges are the lock changes of the four after*.jpg rounds.
func afterChanges() []string {
	var out []string
	for i := range 4 {
		f := "after" + strconv.Itoa(i) + ".jpg"
		out = append(out, "lock_acquired "+f+" u2 ", "lock_released "+f+" u2 unlocked")
	}
	return out
}

func lastID(t *testing.T, s *server, project string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s.status(project).LastEventID, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOutageRedisHangs: Redis stops answering for 5 s (CLIENT PAUSE ALL)
// and comes back with its data. SSE and WebSocket streams on both
// instances stay open and then get every event, the one appended just
// before the outage while the Pub/Sub connections were down included; the
// lock of a connected user is kept; presence is whole again.
func TestOutageRedisHangs(t *testing.T) {
	rs, srvs := outageSetup(t)
	a, b := srvs[0], srvs[1]
	project := newProject()
	holder := lockedBy(t, a, project, "holder", "held.jpg")
	token := a.status(project).Locks[0].Token
	type sub struct {
		name string
		log  *eventLog
	}
	var subs []sub
	for i, s := range srvs {
		sse := openSSE(t, s.url+"/events/"+project+"?user_id=sse-"+strconv.Itoa(i), nil)
		ws := dialWS(t, s.url).start()
		if r := ws.call("join_project", map[string]any{"project_id": project, "user_id": "ws-" + strconv.Itoa(i)}); r["ok"] != true {
			t.Fatalf("join: %v", r)
		}
		subs = append(subs, sub{"sse@" + strconv.Itoa(i), sse.log}, sub{"ws@" + strconv.Itoa(i), ws.log})
	}
	from := lastID(t, a, project)
	for _, s := range subs {
		s.log.waitEventID(t, strconv.FormatUint(from, 10))
	}
	a.lock(project, "before.jpg", "u1")
	baseline := runtime.NumGoroutine()

	// Cut the Pub/Sub connections, append an event while they reconnect,
	// then freeze Redis.
	admin := goredis.NewClient(rs.Options())
	t.Cleanup(func() { _ = admin.Close() })
	ctx := context.Background()
	if err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	b.post("/unlock", map[string]any{"project_id": project, "file": "before.jpg", "user_id": "u1"}).ok(t, nil)
	if err := admin.Do(ctx, "CLIENT", "PAUSE", "5000", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	slowest := during(t, srvs, 2500*time.Millisecond)
	waitReady(t, srvs)
	t.Logf("hang: ready again %v after the pause started; slowest 503 %v", time.Since(paused), slowest)

	// After recovery: events from both instances reach every subscriber.
	for i := range 4 {
		s := srvs[i%2]
		f := "after" + strconv.Itoa(i) + ".jpg"
		s.lock(project, f, "u2")
		s.post("/unlock", map[string]any{"project_id": project, "file": f, "user_id": "u2"}).ok(t, nil)
	}
	last := lastID(t, b, project)
	lockChanges(t, a, project, from, append([]string{"lock_acquired before.jpg u1 ", "lock_released before.jpg u1 unlocked"}, afterChanges()...))
	for _, s := range subs {
		sameAsStore(t, s.name, s.log, a, project, from, last)
		select {
		case <-s.log.ended:
			t.Fatalf("%s: stream ended during the outage: %v", s.name, s.log.err)
		default:
		}
	}
	for _, e := range holder.log.all() {
		if e.Name == "lock_released" && e.str("file") == "held.jpg" {
			t.Fatalf("held lock released: %v", e.Data)
		}
	}
	st := a.status(project)
	if len(st.Locks) != 1 || st.Locks[0].Token != token || st.Locks[0].User != "holder" {
		t.Fatalf("locks after the outage %+v, want holder's with token %d", st.Locks, token)
	}
	// Presence is whole: every live connection's user is present.
	wantUsers := []string{"holder", "sse-0", "sse-1", "ws-0", "ws-1"}
	deadline := time.Now().Add(rtWait)
	for !slices.Equal(a.status(project).Users, wantUsers) {
		if time.Now().After(deadline) {
			t.Fatalf("users %v, want %v", a.status(project).Users, wantUsers)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	settleGoroutines(t, baseline)
}

// TestOutageRedisRestartsEmpty: Redis is gone for 3 s and comes back
// empty. Requests are answered 503 meanwhile; afterwards tokens and event
// ids keep going up (I3), streams whose history is gone end and resume
// from their last id with a fresh snapshot, then every live event in order;
// presence is recorded again.
func TestOutageRedisRestartsEmpty(t *testing.T) {
	rs, srvs := outageSetup(t)
	a, b := srvs[0], srvs[1]
	project := newProject()
	holder := lockedBy(t, a, project, "holder", "held.jpg")
	before := a.status(project)
	sseA := openSSE(t, a.url+"/events/"+project+"?user_id=watcher", nil)
	sseB := openSSE(t, b.url+"/events/"+project, nil)
	wsB := dialWS(t, b.url).start()
	wsB.call("join_project", map[string]any{"project_id": project, "user_id": "ws-b"})
	from := lastID(t, a, project)
	for _, l := range []*eventLog{sseA.log, sseB.log, wsB.log} {
		l.waitEventID(t, strconv.FormatUint(from, 10))
	}
	baseline := runtime.NumGoroutine()

	rs.Stop()
	stopped := time.Now()
	slowest := during(t, srvs, 3*time.Second)
	rs.Start()
	waitReady(t, srvs)
	t.Logf("restart: ready again %v after the stop; slowest 503 %v", time.Since(stopped), slowest)

	// Fencing tokens never go backwards, through the HTTP API.
	r := b.lock(project, "new.jpg", "u1")
	if r.Lock.Token <= before.Locks[0].Token || r.Lock.Token <= int64(from) {
		t.Fatalf("token after Redis came back empty %d, before %d (last event %d)", r.Lock.Token, before.Locks[0].Token, from)
	}
	// The streams of the lost history end; each client resumes from its last id.
	for name, l := range map[string]*eventLog{"sse@a": sseA.log, "sse@b": sseB.log, "ws@b": wsB.log, "holder": holder.log} {
		select {
		case <-l.ended:
		case <-time.After(rtWait):
			t.Fatalf("%s: stream not ended after its history was lost", name)
		}
	}
	evs := sseB.log.all()
	resume := evs[len(evs)-1].ID
	c := openSSE(t, a.url+"/events/"+project, http.Header{"Last-Event-Id": {resume}})
	snap := c.log.waitFor(t, "snapshot", func(wireEvent) bool { return true })
	if snap.Name != "snapshot" {
		t.Fatalf("resume after Redis came back empty: first event %s, want snapshot", snap.Name)
	}
	ws := dialWS(t, b.url).start()
	if r := ws.call("join_project", map[string]any{"project_id": project, "user_id": "holder"}); r["ok"] != true {
		t.Fatalf("rejoin: %v", r)
	}
	relock := ws.call("lock", map[string]any{"project_id": project, "file": "held.jpg"})
	lk, _ := relock["lock"].(map[string]any)
	if tok, _ := lk["token"].(float64); relock["ok"] != true || int64(tok) <= r.Lock.Token {
		t.Fatalf("relock: %v, want a token above %d", relock, r.Lock.Token)
	}
	mark, _ := strconv.ParseUint(snap.eventID(), 10, 64)
	for i := range 4 {
		s := srvs[i%2]
		f := "after" + strconv.Itoa(i) + ".jpg"
		s.lock(project, f, "u2")
		s.post("/unlock", map[string]any{"project_id": project, "file": f, "user_id": "u2"}).ok(t, nil)
	}
	last := lastID(t, a, project)
	lockChanges(t, a, project, mark, append([]string{"lock_acquired held.jpg holder "}, afterChanges()...))
	sameAsStore(t, "resumed sse", c.log, a, project, mark, last)
	if got := a.status(project).Users; !slices.Contains(got, "holder") {
		t.Fatalf("users %v after the rejoin", got)
	}
	settleGoroutines(t, baseline)
}
