package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
}

// startServer serves handlers.New(cfg) on loopback until the test ends.
func startServer(t *testing.T, cfg handlers.Config) *server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(tWriter{t}, nil))
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
	return &server{t: t, url: ts.URL, http: c}
}

// tWriter sends the server's log to the test's log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
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
