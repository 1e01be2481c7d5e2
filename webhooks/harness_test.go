package webhooks_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"filelock"
	"filelock/internal/redistest"
	"filelock/store"
	"filelock/store/memory"
	"filelock/store/redis"
	"filelock/store/storetest"
	"filelock/webhooks"
)

var debugLog = false

func TestMain(m *testing.M) { redistest.Main(m) }

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8G"

// waitFor bounds every wait for a condition.
const waitFor = 30 * time.Second

// Receiver modes.
const (
	modeOK   = iota // 200
	mode500         // 500
	modeHang        // no answer until the client gives up
)

// hook is one acknowledged delivery as the receiver saw it.
type hook struct {
	ID      string
	Type    string
	Project string
	EventID string
	Seq     uint64
	Body    []byte
	Header  http.Header
}

// receiver is a real HTTP receiver on loopback that verifies every request
// with the Standard Webhooks library and records what it acknowledged.
type receiver struct {
	t    *testing.T
	wh   *standardwebhooks.Webhook
	addr string
	mode atomic.Int32
	// failFor, when set, makes requests whose webhook-id it matches fail
	// (500) whatever the mode.
	failFor atomic.Pointer[func(id string) bool]

	mu       sync.Mutex
	srv      *http.Server
	acked    []hook
	attempts map[string]int // webhook-id → requests
	bodies   map[string]string
	seen     chan struct{} // kicked on every request
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, wh: wh, attempts: map[string]int{}, bodies: map[string]string{}, seen: make(chan struct{}, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	t.Cleanup(r.down)
	return r
}

func (r *receiver) URL() string { return "http://" + r.addr + "/hook" }

func (r *receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.handle)}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// down closes the port: connections are refused until up.
func (r *receiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
		_ = srv.Close()
	}
}

// up listens on the same port again.
func (r *receiver) up() {
	r.t.Helper()
	var ln net.Listener
	var err error
	deadline := time.Now().Add(waitFor)
	for {
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("listen again on %s: %v", r.addr, err)
		}
		time.Sleep(20 * time.Millisecond) // the port may linger
	}
	r.serve(ln)
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	defer func() {
		select {
		case r.seen <- struct{}{}:
		default:
		}
	}()
	if err := r.wh.Verify(body, req.Header); err != nil {
		r.t.Errorf("signature of %s: %v", req.Header.Get("webhook-id"), err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("%s with Content-Type %q, want POST application/json", req.Method, req.Header.Get("Content-Type"))
	}
	var p struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Raw       json.RawMessage `json:"data"`
		Data      struct {
			ProjectID string `json:"project_id"`
			EventID   string `json:"event_id"`
		}
	}
	if err := json.Unmarshal(body, &p); err == nil {
		err = json.Unmarshal(p.Raw, &p.Data)
	}
	if err != nil {
		r.t.Errorf("body %s: %v", body, err)
		return
	}
	id := req.Header.Get("webhook-id")
	if want := p.Data.ProjectID + ":" + p.Data.EventID; id != want {
		r.t.Errorf("webhook-id %q, want %q", id, want)
	}
	if ts, err := time.Parse(time.RFC3339, p.Timestamp); err != nil || !strings.HasSuffix(p.Timestamp, "Z") || time.Since(ts) > time.Hour {
		r.t.Errorf("timestamp %q: not a recent RFC 3339 UTC time (%v)", p.Timestamp, err)
	}
	// The same type and data on every attempt (the timestamp is when the
	// delivering instance first read the event).
	same := p.Type + " " + string(p.Raw)
	r.mu.Lock()
	r.attempts[id]++
	if prev, ok := r.bodies[id]; ok && prev != same {
		r.t.Errorf("%s: event changed between attempts:\n%s\n%s", id, prev, same)
	}
	r.bodies[id] = same
	r.mu.Unlock()
	if f := r.failFor.Load(); f != nil && (*f)(id) {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	switch r.mode.Load() {
	case mode500:
		w.WriteHeader(http.StatusInternalServerError)
		return
	case modeHang:
		<-req.Context().Done()
		return
	}
	seq, _ := filelock.ParseEventID(p.Data.EventID)
	r.mu.Lock()
	r.acked = append(r.acked, hook{ID: id, Type: p.Type, Project: p.Data.ProjectID, EventID: p.Data.EventID, Seq: seq, Body: body, Header: req.Header.Clone()})
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) hooks() []hook {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.acked)
}

func (r *receiver) attemptsOf(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts[id]
}

// waitAttempts waits until the receiver has had n requests for id.
func (r *receiver) waitAttempts(id string, n int) {
	r.t.Helper()
	deadline := time.After(waitFor)
	for r.attemptsOf(id) < n {
		select {
		case <-r.seen:
		case <-deadline:
			r.t.Fatalf("%d attempts of %s within %v, want %d", r.attemptsOf(id), id, waitFor, n)
		}
	}
}

// waitAcked waits until every id was acknowledged.
func (r *receiver) waitAcked(ids ...string) {
	r.t.Helper()
	deadline := time.After(waitFor)
	for {
		got := map[string]bool{}
		for _, h := range r.hooks() {
			got[h.ID] = true
		}
		var missing []string
		for _, id := range ids {
			if !got[id] {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			return
		}
		select {
		case <-r.seen:
		case <-time.After(100 * time.Millisecond): // a delivery may be between requests
		case <-deadline:
			r.t.Fatalf("not acknowledged within %v: %v", waitFor, missing)
		}
	}
}

// checkOrder fails unless, per project, the first acknowledgements come in
// the order of the events' ids.
func (r *receiver) checkOrder() {
	r.t.Helper()
	last := map[string]uint64{}
	first := map[string]bool{}
	for _, h := range r.hooks() {
		if first[h.ID] {
			continue
		}
		first[h.ID] = true
		if h.Seq <= last[h.Project] {
			r.t.Fatalf("%s acknowledged after event %d of its project: out of order", h.ID, last[h.Project])
		}
		last[h.Project] = h.Seq
	}
}

// checkOnce fails unless every id was acknowledged exactly once.
func (r *receiver) checkOnce() {
	r.t.Helper()
	n := map[string]int{}
	for _, h := range r.hooks() {
		n[h.ID]++
	}
	for id, c := range n {
		if c != 1 {
			r.t.Errorf("%s acknowledged %d times, want once", id, c)
		}
	}
}

// testOpts are short durations for the tests.
func testOpts(urls ...string) webhooks.Options {
	return webhooks.Options{
		URLs:       urls,
		Secret:     testSecret,
		Events:     []string{filelock.EventLockAcquired, filelock.EventLockReleased},
		Timeout:    500 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond,
		Lease:      1500 * time.Millisecond,
		Rescan:     2 * time.Second,
		IdleAfter:  time.Second,
	}
}

// start runs a deliverer until the test ends (or the returned cancel).
func start(t *testing.T, st store.Store, opts webhooks.Options) (cancel func()) {
	t.Helper()
	if debugLog {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err := webhooks.New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	cancel = func() {
		once.Do(func() {
			stop()
			select {
			case <-done:
			case <-time.After(waitFor):
				t.Errorf("Run did not return within %v of its context ending", waitFor)
			}
		})
	}
	t.Cleanup(cancel)
	return cancel
}

func memStore(t *testing.T, opts store.Options) store.Store {
	s := memory.New(opts)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// storePairs are the stores two instances share: one memory store, one
// prefix of the shared Redis, one of the shared Redis Cluster.
func storePairs() map[string]func(t *testing.T) (store.Store, store.Store) {
	return map[string]func(t *testing.T) (store.Store, store.Store){
		"memory": func(t *testing.T) (store.Store, store.Store) {
			s := memStore(t, storetest.Opts())
			return s, s
		},
		"redis": func(t *testing.T) (store.Store, store.Store) {
			return redisPair(t, redistest.Shared(t), storetest.Opts())
		},
		"cluster": func(t *testing.T) (store.Store, store.Store) {
			c := redistest.SharedCluster(t)
			prefix := redistest.Prefix(t)
			return redis.New(c.Client(t), storetest.Opts(), prefix), redis.New(c.Client(t), storetest.Opts(), prefix)
		},
	}
}

// redisPair returns two stores (two instances) on one prefix of srv.
func redisPair(t *testing.T, srv *redistest.Server, opts store.Options) (store.Store, store.Store) {
	prefix := redistest.Prefix(t)
	return redis.New(srv.Client(t), opts, prefix), redis.New(srv.Client(t), opts, prefix)
}

// locker appends events: n lock/unlock pairs on the project; it returns
// the webhook-ids of the events a default deliverer sends.
func locker(t *testing.T, st store.Store, project string, n int) []string {
	t.Helper()
	ctx := t.Context()
	var ids []string
	for i := range n {
		file := fmt.Sprintf("images/%03d.jpg", i)
		var r store.AcquireResult
		var err error
		for try := 0; ; try++ {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			r, err = st.Acquire(sctx, store.AcquireRequest{ProjectID: project, File: file, User: "u"})
			cancel()
			if err == nil || filelock.ErrorCode(err) != filelock.EUnavailable || try == 50 {
				break
			}
			time.Sleep(100 * time.Millisecond) // the store is coming back
		}
		if err != nil {
			t.Fatalf("Acquire %s/%s: %v", project, file, err)
		}
		ids = append(ids, fmt.Sprintf("%s:%d", project, r.Lock.Token))
		if _, err := st.Release(ctx, store.ReleaseRequest{ProjectID: project, File: file, User: "u"}); err != nil {
			t.Fatal(err)
		}
		evs, err := st.Events(ctx, project, fmt.Sprint(r.Lock.Token))
		if err != nil || len(evs) == 0 {
			t.Fatalf("events after %d: %v %v", r.Lock.Token, evs, err)
		}
		ids = append(ids, webhooks.MessageID(evs[len(evs)-1]))
	}
	return ids
}

// cuttable is a store whose every call fails once cut, as if its instance
// had died: nothing it did afterwards reaches the store.
type cuttable struct {
	store.Store
	store.Deliveries
	cut atomic.Bool
}

func newCuttable(st store.Store) *cuttable {
	return &cuttable{Store: st, Deliveries: st.(store.Deliveries)}
}

var errCut = store.Unavailable(errors.New("instance killed"))

func (c *cuttable) Events(ctx context.Context, p, after string) ([]filelock.Event, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.Store.Events(ctx, p, after)
}

func (c *cuttable) Status(ctx context.Context, p string) (filelock.Status, error) {
	if c.cut.Load() {
		return filelock.Status{}, errCut
	}
	return c.Store.Status(ctx, p)
}

func (c *cuttable) LeaseDelivery(ctx context.Context, p, owner string, fence int64, ttl time.Duration) (int64, error) {
	if c.cut.Load() {
		return 0, errCut
	}
	return c.Deliveries.LeaseDelivery(ctx, p, owner, fence, ttl)
}

func (c *cuttable) ReleaseDelivery(ctx context.Context, p, owner string, fence int64) error {
	if c.cut.Load() {
		return errCut
	}
	return c.Deliveries.ReleaseDelivery(ctx, p, owner, fence)
}

func (c *cuttable) AckDelivery(ctx context.Context, p, owner string, fence int64, url, id string) error {
	if c.cut.Load() {
		return errCut
	}
	return c.Deliveries.AckDelivery(ctx, p, owner, fence, url, id)
}

func (c *cuttable) DeliveryPositions(ctx context.Context, p string) (map[string]string, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.Deliveries.DeliveryPositions(ctx, p)
}

func decodeSecret(secret string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
}

// results counts OnResult reports.
type results struct {
	mu sync.Mutex
	n  map[string]int
	ch chan struct{}
}

func newResults() *results { return &results{n: map[string]int{}, ch: make(chan struct{}, 1)} }

func (r *results) add(result string) {
	r.mu.Lock()
	r.n[result]++
	r.mu.Unlock()
	select {
	case r.ch <- struct{}{}:
	default:
	}
}

func (r *results) count(result string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[result]
}

// wait waits until result was reported n times.
func (r *results) wait(t *testing.T, result string, n int) {
	t.Helper()
	deadline := time.After(waitFor)
	for r.count(result) < n {
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("%d results %s within %v, want %d", r.count(result), result, waitFor, n)
		}
	}
}
