package webhooks_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	start(t, st, testOpts(r.URL()))
	before := locker(t, st, "p", 2)
	r.waitAcked(before...)
	srv.Stop()
	time.Sleep(time.Second) // let the deliverer find the store down for a while
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
