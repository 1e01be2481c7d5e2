package webhooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filelock"
	"filelock/internal/redistest"
	"filelock/store"
	"filelock/store/storetest"
	"filelock/webhooks"
)

// Each event is one signed POST to every URL, with the body and headers of
// SPEC §5; presence events are not in the default webhooks.events.
func TestDeliveryFormat(t *testing.T) {
	t.Parallel()
	st := memStore(t, storetest.Opts())
	r1, r2 := newReceiver(t), newReceiver(t)
	start(t, st, testOpts(r1.URL(), r2.URL()))
	ctx := t.Context()
	if err := st.Connect(ctx, "p1", "ann", "c1", time.Minute); err != nil {
		t.Fatal(err)
	}
	a, err := st.Acquire(ctx, store.AcquireRequest{ProjectID: "p1", File: "images/이미지 1.jpg", User: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Release(ctx, store.ReleaseRequest{ProjectID: "p1", File: "images/이미지 1.jpg", User: "ann"}); err != nil {
		t.Fatal(err)
	}
	evs, err := st.Events(ctx, "p1", filelock.InitialEventID)
	if err != nil || len(evs) != 3 {
		t.Fatalf("events %v %v", evs, err)
	}
	acq, rel := evs[1], evs[2]
	for _, r := range []*receiver{r1, r2} {
		r.waitAcked(webhooks.MessageID(acq), webhooks.MessageID(rel))
		hs := r.hooks()
		if len(hs) != 2 {
			t.Fatalf("%d deliveries, want the 2 lock events (no user_joined): %+v", len(hs), hs)
		}
		for i, ev := range []filelock.Event{acq, rel} {
			h := hs[i]
			wantData, _ := json.Marshal(ev)
			var body struct {
				Type      string          `json:"type"`
				Timestamp string          `json:"timestamp"`
				Data      json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(h.Body, &body); err != nil {
				t.Fatal(err)
			}
			if body.Type != ev.Type || string(body.Data) != string(wantData) {
				t.Fatalf("body %s, want type %s and data %s", h.Body, ev.Type, wantData)
			}
			if h.ID != "p1:"+ev.ID() {
				t.Fatalf("webhook-id %s, want p1:%s", h.ID, ev.ID())
			}
			ts, err := strconv.ParseInt(h.Header.Get("webhook-timestamp"), 10, 64)
			if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
				t.Fatalf("webhook-timestamp %q", h.Header.Get("webhook-timestamp"))
			}
			sig := h.Header.Get("webhook-signature")
			if want := webhooks.Sign(mustKey(t), h.ID, ts, h.Body); sig != want || !strings.HasPrefix(sig, "v1,") {
				t.Fatalf("webhook-signature %q, want %q", sig, want)
			}
		}
	}
	if a.Lock.Token != int64(acq.Seq) {
		t.Fatalf("token %d, event %d", a.Lock.Token, acq.Seq)
	}
}

func mustKey(t *testing.T) []byte {
	key, err := decodeSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// A receiver that fails (500), times out, and disappears (closed port),
// then comes back, gets everything, in order, each retry with the same id
// and body; other projects are delivered meanwhile.
func TestReceiverFailures(t *testing.T) {
	t.Parallel()
	st := memStore(t, storetest.Opts())
	r := newReceiver(t)
	res := newResults()
	opts := testOpts(r.URL())
	opts.OnResult = res.add
	start(t, st, opts)

	ids := locker(t, st, "p", 2)
	r.waitAcked(ids...)

	r.mode.Store(mode500)
	more := locker(t, st, "p", 2)
	res.wait(t, webhooks.ResultRejected, 3)

	r.mode.Store(modeHang)
	res.wait(t, webhooks.ResultTimeout, 2) // each timed out and retried

	r.down()
	n := res.count(webhooks.ResultUnreachable)
	res.wait(t, webhooks.ResultUnreachable, n+3)
	gone := locker(t, st, "p", 2)
	r.mode.Store(modeOK)
	r.up()
	all := slices.Concat(ids, more, gone)
	r.waitAcked(all...)
	r.checkOrder()
	r.checkOnce()
	res.wait(t, webhooks.ResultDelivered, len(all))
	if got, want := res.count(webhooks.ResultDelivered), len(all); got != want {
		t.Fatalf("%d results delivered, want %d", got, want)
	}
	if a := r.attemptsOf(more[0]); a < 6 {
		t.Fatalf("%s attempted %d times, want every failure retried", more[0], a)
	}
}

// A project whose receiver keeps failing holds back only its own later
// events: other projects are delivered meanwhile.
func TestOtherProjectsGoOn(t *testing.T) {
	t.Parallel()
	st := memStore(t, storetest.Opts())
	r := newReceiver(t)
	failing := func(id string) bool { return strings.HasPrefix(id, "stuck:") }
	r.failFor.Store(&failing)
	start(t, st, testOpts(r.URL()))
	stuck := locker(t, st, "stuck", 3)
	r.waitAttempts(stuck[0], 2)
	fine := locker(t, st, "fine", 3)
	r.waitAcked(fine...)
	if n := r.attemptsOf(stuck[1]); n != 0 {
		t.Fatalf("%s attempted %d times while %s was not acknowledged", stuck[1], n, stuck[0])
	}
	r.failFor.Store(nil)
	r.waitAcked(stuck...)
	r.checkOrder()
	r.checkOnce()
}

// A restarted deliverer resumes from the first event not acknowledged:
// nothing acknowledged is sent again, nothing appended meanwhile is lost.
func TestRestartResumes(t *testing.T) {
	t.Parallel()
	st := memStore(t, storetest.Opts())
	r := newReceiver(t)
	stop := start(t, st, testOpts(r.URL()))
	first := locker(t, st, "p", 3)
	r.waitAcked(first...)
	stop()
	second := locker(t, st, "p", 3)
	start(t, st, testOpts(r.URL()))
	r.waitAcked(slices.Concat(first, second)...)
	r.checkOrder()
	r.checkOnce()
}

// When the first unacknowledged event has left the history, a snapshot
// (type snapshot, webhook-id <project>:<its event_id>) is delivered in
// its place, and delivery goes on after it.
func TestSnapshotWhenHistoryGone(t *testing.T) {
	t.Parallel()
	opts := storetest.Opts()
	opts.History = 5
	st := memStore(t, opts)
	r := newReceiver(t)
	stop := start(t, st, testOpts(r.URL()))
	first := locker(t, st, "p", 1)
	r.waitAcked(first...)
	stop()
	locker(t, st, "p", 10) // 20 events: far past the history of 5
	if _, err := st.Acquire(t.Context(), store.AcquireRequest{ProjectID: "p", File: "held.jpg", User: "bob"}); err != nil {
		t.Fatal(err)
	}
	status, err := st.Status(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	start(t, st, testOpts(r.URL()))
	snapID := "p:" + status.LastEventID
	r.waitAcked(snapID)
	var snap hook
	for _, h := range r.hooks() {
		if h.ID == snapID {
			snap = h
		}
	}
	var body struct {
		Type string `json:"type"`
		Data struct {
			Locks []filelock.Lock `json:"locks"`
			Users []string        `json:"users"`
		} `json:"data"`
	}
	if err := json.Unmarshal(snap.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Type != filelock.EventSnapshot || len(body.Data.Locks) != 1 || body.Data.Locks[0].File != "held.jpg" || body.Data.Users == nil {
		t.Fatalf("snapshot body %s", snap.Body)
	}
	after := locker(t, st, "p", 2)
	r.waitAcked(after...)
	r.checkOrder()
	r.checkOnce()
	if got := len(r.hooks()); got != len(first)+1+len(after) {
		t.Fatalf("%d deliveries, want %d: the first, the snapshot, the later ones", got, len(first)+1+len(after))
	}
}

// Two deliverers on one store (memory, Redis, Redis Cluster): every event
// is acknowledged exactly once, in order per project, while all is healthy.
func TestTwoDeliverersOnce(t *testing.T) {
	t.Parallel()
	for name, pair := range storePairs() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, b := pair(t)
			r1, r2 := newReceiver(t), newReceiver(t)
			start(t, a, testOpts(r1.URL(), r2.URL()))
			start(t, b, testOpts(r1.URL(), r2.URL()))
			var all []string
			done := make(chan []string)
			for i := range 6 {
				p := fmt.Sprint("proj", i)
				st := a
				if i%2 == 1 {
					st = b
				}
				go func() { done <- locker(t, st, p, 10) }()
			}
			for range 6 {
				all = append(all, <-done...)
			}
			for _, r := range []*receiver{r1, r2} {
				r.waitAcked(all...)
				r.checkOrder()
				r.checkOnce()
				if got := len(r.hooks()); got != len(all) {
					t.Fatalf("%d acknowledged deliveries, want %d", got, len(all))
				}
			}
		})
	}
}

// The delivering instance dies (its store calls stop, no cleanup) while
// it retries: the other, waiting as a standby, takes over once the lease
// lapses and resumes from the first unacknowledged event.
func TestHandoverOnKill(t *testing.T) {
	t.Parallel()
	for name, pair := range storePairs() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sa, sb := pair(t)
			insts := []*cuttable{newCuttable(sa), newCuttable(sb)}
			r := newReceiver(t)
			var kills []func()
			var res []*results
			for _, in := range insts {
				res = append(res, newResults())
				opts := testOpts(r.URL())
				opts.OnResult = res[len(res)-1].add
				kills = append(kills, start(t, in, opts))
			}
			acked := locker(t, sa, "p", 2)
			r.waitAcked(acked...)
			r.mode.Store(mode500)
			pending := locker(t, sb, "p", 2)
			r.waitAttempts(pending[0], 3)
			holder := -1
			for i := range res {
				if res[i].count(webhooks.ResultRejected) > 0 {
					if holder != -1 {
						t.Fatal("both instances delivered the project")
					}
					holder = i
				}
			}
			insts[holder].cut.Store(true)
			kills[holder]()
			other := 1 - holder
			before := res[other].count(webhooks.ResultDelivered)
			r.mode.Store(modeOK)
			r.waitAcked(slices.Concat(acked, pending)...)
			res[other].wait(t, webhooks.ResultDelivered, before+len(pending))
			r.checkOrder()
			r.checkOnce() // the acknowledged ones were not sent again
		})
	}
}

// Redis down for a while (the server stopped, then started again, empty):
// delivery resumes once it is back.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	st, _ := redisPair(t, srv, storetest.Opts())
	r := newReceiver(t)
	seen := &counting{Store: st, Deliveries: st.(store.Deliveries)}
	start(t, seen, testOpts(r.URL()))
	before := locker(t, st, "p", 2)
	r.waitAcked(before...)
	srv.Stop()
	down := seen.failed.Load()
	deadline := time.Now().Add(waitFor)
	for seen.failed.Load() < down+2 { // the deliverer found the store down, twice
		if time.Now().After(deadline) {
			t.Fatalf("no store call of the deliverer failed within %v of Redis stopping", waitFor)
		}
		time.Sleep(20 * time.Millisecond) // polling the deliverer's own pace
	}
	srv.Start()
	after := locker(t, st, "p", 2)
	r.waitAcked(slices.Concat(before, after)...)
	r.checkOrder()
	r.checkOnce()
}

// A redirect is not followed: it is an answer other than 2xx, retried.
func TestRedirectRetried(t *testing.T) {
	t.Parallel()
	st := memStore(t, storetest.Opts())
	target := newReceiver(t)
	var mu sync.Mutex
	redirects := 0
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		redirects++
		mu.Unlock()
		http.Redirect(w, r, target.URL(), http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	res := newResults()
	opts := testOpts(redirector.URL)
	opts.OnResult = res.add
	start(t, st, opts)
	locker(t, st, "p", 1)
	res.wait(t, webhooks.ResultRejected, 3)
	if n := len(target.hooks()); n != 0 {
		t.Fatalf("the redirect was followed: %d deliveries at its target", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if res.count(webhooks.ResultDelivered) != 0 || redirects < 3 {
		t.Fatalf("%d redirects, %d delivered: want every 307 retried, none delivered", redirects, res.count(webhooks.ResultDelivered))
	}
}

// Shutdown stops a delivery between two events: the attempt under way is
// let finish and acknowledged, and no later event is posted, however many
// are waiting.
func TestShutdownStopsBetweenEvents(t *testing.T) {
	t.Parallel()
	st := memStore(t, storetest.Opts())
	ids := locker(t, st, "p", 5) // 10 events, waiting before the deliverer starts
	var mu sync.Mutex
	var posted []string
	first, answer := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		posted = append(posted, r.Header.Get("webhook-id"))
		n := len(posted)
		mu.Unlock()
		if n == 1 {
			close(first)
			<-answer // held until the shutdown has begun
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	opts := testOpts(srv.URL)
	opts.Timeout = waitFor
	d, err := webhooks.New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-first:
	case <-time.After(waitFor):
		t.Fatalf("no delivery within %v", waitFor)
	}
	cancel()
	close(answer)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatalf("Run did not return within %v of its context ending", waitFor)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(posted) != 1 || posted[0] != ids[0] {
		t.Fatalf("posted %v after the shutdown began, want only the attempt under way (%s)", posted, ids[0])
	}
	pos, err := st.(store.Deliveries).DeliveryPositions(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := "p:"+pos[srv.URL], ids[0]; got != want {
		t.Fatalf("acknowledged position %s, want %s (the attempt that finished)", got, want)
	}
}

// counting is a store that counts the Events and LeaseDelivery calls made
// through it, and which of those and of WebhookProjects failed.
type counting struct {
	store.Store
	store.Deliveries
	events, leases, failed atomic.Int64
}

func (c *counting) count(err error) {
	if err != nil {
		c.failed.Add(1)
	}
}

func (c *counting) Events(ctx context.Context, p, after string) ([]filelock.Event, error) {
	c.events.Add(1)
	evs, err := c.Store.Events(ctx, p, after)
	c.count(err)
	return evs, err
}

func (c *counting) LeaseDelivery(ctx context.Context, p, owner string, fence int64, ttl time.Duration) (int64, error) {
	c.leases.Add(1)
	f, err := c.Deliveries.LeaseDelivery(ctx, p, owner, fence, ttl)
	c.count(err)
	return f, err
}

func (c *counting) WebhookProjects(ctx context.Context) ([]string, error) {
	ps, err := c.Deliveries.WebhookProjects(ctx)
	c.count(err)
	return ps, err
}

// A standby waiting for a project whose receiver fails reads its backlog
// again only when the holder acknowledged something: while nothing moves,
// its looks cost the store a lease attempt and the positions, not the
// project's whole history every time.
func TestStandbyDoesNotRereadBacklog(t *testing.T) {
	t.Parallel()
	st := memStore(t, storetest.Opts())
	r := newReceiver(t)
	r.mode.Store(mode500)
	start(t, st, testOpts(r.URL()))
	ids := locker(t, st, "p", 2)
	r.waitAttempts(ids[0], 2) // the first deliverer holds the project
	standby := &counting{Store: st, Deliveries: st.(store.Deliveries)}
	start(t, standby, testOpts(r.URL()))
	deadline := time.Now().Add(waitFor)
	for standby.leases.Load() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the standby tried the lease %d times within %v, want 4", standby.leases.Load(), waitFor)
		}
		time.Sleep(20 * time.Millisecond) // polling the standby's own pace
	}
	if n := standby.events.Load(); n > 1 {
		t.Fatalf("the standby read the history %d times in 4 looks while nothing was acknowledged, want once", n)
	}
	r.mode.Store(modeOK)
	r.waitAcked(ids...)
	r.checkOrder()
}

// clock is an HTTP transport that notes when an instance's attempts
// start and end.
type clock struct {
	rt         http.RoundTripper
	mu         sync.Mutex
	firstStart time.Time
	lastEnd    time.Time
	inFlight   int
}

func (c *clock) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.firstStart.IsZero() {
		c.firstStart = time.Now()
	}
	c.inFlight++
	c.mu.Unlock()
	resp, err := c.rt.RoundTrip(req)
	c.mu.Lock()
	c.inFlight--
	c.lastEnd = time.Now()
	c.mu.Unlock()
	return resp, err
}

func (c *clock) client() *http.Client { return &http.Client{Transport: c} }

func (c *clock) times() (firstStart, lastEnd time.Time, inFlight int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.firstStart, c.lastEnd, c.inFlight
}

// An instance cut off from the store (as if paused, or partitioned) stops
// posting before its lease can lapse: no attempt of it is still under way
// when the instance that takes the project over starts delivering.
func TestNoAttemptOutlivesTheLease(t *testing.T) {
	t.Parallel()
	st := memStore(t, storetest.Opts())
	r := newReceiver(t)
	r.mode.Store(modeHang) // every attempt lasts its whole Timeout
	ids := locker(t, st, "p", 1)
	a, b := &clock{rt: http.DefaultTransport}, &clock{rt: http.DefaultTransport}
	cut := newCuttable(st)
	optsA := testOpts(r.URL())
	optsA.Timeout, optsA.Lease, optsA.Client = 2*time.Second, 1500*time.Millisecond, a.client()
	start(t, cut, optsA)
	r.waitAttempts(ids[0], 1)
	cut.cut.Store(true) // no renewal reaches the store from now on
	optsB := testOpts(r.URL())
	optsB.Timeout, optsB.Lease, optsB.Client = 100*time.Millisecond, 300*time.Millisecond, b.client()
	start(t, st, optsB)
	deadline := time.Now().Add(waitFor)
	for {
		bStart, _, _ := b.times()
		_, aEnd, aBusy := a.times()
		if !bStart.IsZero() && aBusy == 0 {
			if aEnd.After(bStart) {
				t.Fatalf("an attempt of the instance that lost the lease ended %v after the new holder's first one began", aEnd.Sub(bStart))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no takeover within %v (takeover attempt at %v, %d attempts of the old holder under way)", waitFor, bStart, aBusy)
		}
		time.Sleep(20 * time.Millisecond) // polling both instances' own pace
	}
	r.mode.Store(modeOK)
	r.waitAcked(ids...)
	r.checkOrder()
}

// gated is a store whose project hints the test sends, and whose every
// WebhookProjects call lists the projects, then waits for the test's
// answer: nil to return the list, or an error.
type gated struct {
	store.Store
	store.Deliveries
	hints chan string
	scans chan chan error
}

func newGated(st store.Store) *gated {
	return &gated{Store: st, Deliveries: st.(store.Deliveries), hints: make(chan string), scans: make(chan chan error)}
}

func (g *gated) WatchProjects(context.Context) (<-chan string, error) { return g.hints, nil }

func (g *gated) WebhookProjects(ctx context.Context) ([]string, error) {
	ids, err := g.Deliveries.WebhookProjects(ctx)
	answer := make(chan error, 1)
	select {
	case g.scans <- answer:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case e := <-answer:
		if e != nil {
			return nil, e
		}
		return ids, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// nextScan returns the answer channel of the deliverer's next listing.
func (g *gated) nextScan(t *testing.T, why string) chan error {
	t.Helper()
	select {
	case a := <-g.scans:
		return a
	case <-time.After(waitFor):
		t.Fatalf("no listing of the projects within %v %s", waitFor, why)
		return nil
	}
}

// Hints lost while the projects are being listed: the listing under way
// may predate them, so the projects are listed again once it is done.
func TestHintsLostDuringAScan(t *testing.T) {
	t.Parallel()
	st := memStore(t, storetest.Opts())
	g := newGated(st)
	r := newReceiver(t)
	opts := testOpts(r.URL())
	opts.Rescan, opts.StoreTimeout = time.Hour, waitFor
	start(t, g, opts)
	first := g.nextScan(t, "at start") // it has listed: no project yet
	ids := locker(t, st, "late", 1)    // its hints are lost:
	g.hints <- ""
	first <- nil
	g.nextScan(t, "after hints were lost during the previous one") <- nil
	r.waitAcked(ids...)
}

// A listing that fails is tried again soon, not a Rescan later.
func TestFailedScanRetried(t *testing.T) {
	t.Parallel()
	st := memStore(t, storetest.Opts())
	ids := locker(t, st, "waiting", 1) // from before the start: found by listing only
	g := newGated(st)
	r := newReceiver(t)
	opts := testOpts(r.URL())
	opts.Rescan, opts.StoreTimeout = time.Hour, waitFor
	start(t, g, opts)
	g.nextScan(t, "at start") <- store.Unavailable(errors.New("store down for a moment"))
	g.nextScan(t, "after a failed one") <- nil
	r.waitAcked(ids...)
}
