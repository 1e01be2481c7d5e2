package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filelock"
	"filelock/handlers"
	"filelock/internal/redistest"
	"filelock/store"
	"filelock/store/memory"
	"filelock/store/redis"
)

// storeFactory returns a fresh, running store for one test; the factory
// arranges its shutdown in t.Cleanup. The REST suite runs over each store.
type storeFactory func(t *testing.T) store.Store

// memoryStore is the storeFactory of store/memory.
func memoryStore(t *testing.T) store.Store {
	return running(t, memory.New(store.DefaultOptions()))
}

// redisStore returns the storeFactory of store/redis on srv: each store has
// a key prefix of its own.
func redisStore(srv *redistest.Server) storeFactory {
	return func(t *testing.T) store.Store {
		return running(t, redis.New(srv.Client(t), store.DefaultOptions(), redistest.Prefix(t)))
	}
}

// running starts st.Run for the test and stops and closes st in Cleanup.
func running(t *testing.T, st store.Store) store.Store {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = st.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = st.Close()
	})
	return st
}

// server is a handlers.Server behind a real loopback listener.
type server struct {
	t    *testing.T
	url  string
	http *http.Client
	st   store.Store // the server's store: its event log is the reference of what streams must carry
}

// startServer serves handlers.New(cfg) on loopback until the test ends.
func startServer(t *testing.T, cfg handlers.Config) *server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(newTWriter(t), nil))
	}
	h := handlers.New(cfg)
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ts.Close()
		_ = h.Close()
	})
	c := ts.Client()
	c.Timeout = 15 * time.Second
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &server{t: t, url: ts.URL, http: c, st: cfg.Store}
}

// tWriter sends the server's log to the test's log while the test runs
// (its cleanups included); lines written after that, by goroutines that
// outlive the test, are dropped: testing forbids logging to a finished test.
type tWriter struct {
	mu    sync.Mutex
	t     *testing.T
	ended bool
}

// newTWriter returns a tWriter for t. Its cleanup is registered before the
// server's, so it runs after the server's shutdown has logged.
func newTWriter(t *testing.T) *tWriter {
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.ended = true
		w.mu.Unlock()
	})
	return w
}

func (w *tWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.ended {
		w.t.Log(strings.TrimSuffix(string(b), "\n"))
	}
	return len(b), nil
}

// response is an answer: its status, headers and body.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with a raw body ("" for none) and reads the answer.
func (s *server) do(method, path, body string) response {
	s.t.Helper()
	return s.callAs("", method, path, body)
}

func (s *server) send(req *http.Request) response {
	s.t.Helper()
	res, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatalf("%s %s: reading body: %v", req.Method, req.URL.Path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// post sends v (marshalled unless it is a string) to path.
func (s *server) post(path string, v any) response {
	s.t.Helper()
	if str, ok := v.(string); ok {
		return s.do(http.MethodPost, path, str)
	}
	b, err := json.Marshal(v)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.do(http.MethodPost, path, string(b))
}

// ok asserts a 200 JSON answer and decodes it into v.
func (r response) ok(t *testing.T, v any) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	if v != nil {
		dec := json.NewDecoder(bytes.NewReader(r.body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("decoding %s: %v", r.body, err)
		}
	}
}

// errorBody is the wire form of an error, decoded strictly.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
	Lock *filelock.Lock `json:"lock"`
}

// fail asserts an error answer of the given status and code and returns it.
func (r response) fail(t *testing.T, status int, code string) errorBody {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var e errorBody
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("decoding error body %s: %v", r.body, err)
	}
	if e.Error.Code != code {
		t.Fatalf("code %q, want %q; body %s", e.Error.Code, code, r.body)
	}
	if e.Error.Message == "" {
		t.Fatalf("error without message: %s", r.body)
	}
	return e
}

// lockReply is the 200 body of POST /lock.
type lockReply struct {
	Acquired                 bool           `json:"acquired"`
	Renewed                  bool           `json:"renewed"`
	Lock                     filelock.Lock  `json:"lock"`
	Released                 *filelock.Lock `json:"released"`
	HeartbeatIntervalSeconds float64        `json:"heartbeat_interval_seconds"`
}

type unlockReply struct {
	Released bool          `json:"released"`
	Lock     filelock.Lock `json:"lock"`
}

type heartbeatReply struct {
	Lock                     filelock.Lock `json:"lock"`
	HeartbeatIntervalSeconds float64       `json:"heartbeat_interval_seconds"`
}

type statusReply struct {
	ProjectID   string          `json:"project_id"`
	Locks       []filelock.Lock `json:"locks"`
	Users       []string        `json:"users"`
	LastEventID string          `json:"last_event_id"`
	ServerTime  string          `json:"server_time"`
}

// lock locks file for user and asserts success.
func (s *server) lock(project, file, user string) lockReply {
	s.t.Helper()
	var r lockReply
	s.post("/lock", map[string]any{"project_id": project, "file": file, "user_id": user}).ok(s.t, &r)
	return r
}

func (s *server) status(project string) statusReply {
	s.t.Helper()
	var r statusReply
	s.do(http.MethodGet, "/status/"+project, "").ok(s.t, &r)
	return r
}

// rendered is a streamed event as streams are compared: its name, its
// event_id and its whole data object (keys sorted); an SSE id: line that
// differs from the event_id is shown too.
func rendered(e wireEvent) string {
	b, _ := json.Marshal(e.Data)
	s := e.Name + "#" + e.eventID() + " " + string(b)
	if e.ID != "" && e.ID != e.eventID() {
		s += " (sse id " + e.ID + ")"
	}
	return s
}

// storeEvents returns the events of project after event id from, in the
// order the store applied them, as a client would receive them: the
// reference every subscriber's stream must match. Event ids only grow, by
// any step, so the reference is the store's own log, not id arithmetic.
func (s *server) storeEvents(t *testing.T, project string, from uint64) []wireEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	evs, err := s.st.Events(ctx, project, strconv.FormatUint(from, 10))
	if err != nil {
		t.Fatalf("store log of %s after %d: %v", project, from, err)
	}
	out := make([]wireEvent, 0, len(evs))
	for _, ev := range evs {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var data map[string]any
		if err := json.Unmarshal(b, &data); err != nil {
			t.Fatal(err)
		}
		out = append(out, wireEvent{Name: ev.Type, Data: data})
	}
	return out
}

// storeLog is storeEvents rendered.
func (s *server) storeLog(t *testing.T, project string, from uint64) []string {
	t.Helper()
	var out []string
	for _, e := range s.storeEvents(t, project, from) {
		out = append(out, rendered(e))
	}
	return out
}

// summaries are evs as "name file user reason", ids left out.
func summaries(evs []wireEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = fmt.Sprintf("%s %s %s %s", e.Name, e.str("file"), e.str("user"), e.str("reason"))
	}
	return out
}

// upTo returns the events of l (snapshots excluded) with an id above from
// that arrived up to and including the one with id last, rendered; ok is
// false when l has no event last.
func upTo(l *eventLog, from, last uint64) (out []string, ok bool) {
	for _, e := range l.all() {
		id, _ := strconv.ParseUint(e.eventID(), 10, 64)
		if e.Name == "snapshot" || id <= from {
			continue
		}
		out = append(out, rendered(e))
		if id == last {
			return out, true
		}
	}
	return out, false
}

// sameAsStore waits until l holds event last and checks that the events l
// received after event from, up to last, are the store's log between them:
// every event once, in the store's order, with the store's ids and data,
// none missing (snapshots in l are skipped).
func sameAsStore(t *testing.T, name string, l *eventLog, s *server, project string, from, last uint64) {
	t.Helper()
	l.waitEventID(t, strconv.FormatUint(last, 10))
	all := s.storeLog(t, project, from)
	i := slices.IndexFunc(all, func(r string) bool { return idOf(r) == last })
	if i < 0 {
		t.Fatalf("store log of %s after %d has no event %d: %q", project, from, last, all)
	}
	want := all[:i+1]
	got, _ := upTo(l, from, last)
	if !slices.Equal(got, want) {
		t.Fatalf("%s received after %d\n%q\nthe store logged\n%q", name, from, got, want)
	}
}

// idOf is the event id of a rendered event.
func idOf(r string) uint64 {
	_, rest, _ := strings.Cut(r, "#")
	id, _, _ := strings.Cut(rest, " ")
	n, _ := strconv.ParseUint(id, 10, 64)
	return n
}
