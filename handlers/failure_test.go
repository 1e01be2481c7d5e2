package handlers_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"filelock"
	"filelock/auth"
	"filelock/handlers"
	"filelock/logging"
	"filelock/store"
)

// requests is one call of every store-backed endpoint.
var requests = []struct{ method, path, body string }{
	{http.MethodPost, "/lock", `{"project_id":"p1","file":"a.jpg","user_id":"user1"}`},
	{http.MethodPost, "/unlock", `{"project_id":"p1","file":"a.jpg","user_id":"user1"}`},
	{http.MethodPost, "/heartbeat", `{"project_id":"p1","user_id":"user1"}`},
	{http.MethodPost, "/claim", `{"project_id":"p1","files":["a.jpg","b.jpg"],"user_id":"user1"}`},
	{http.MethodGet, "/status/p1", ""},
	{http.MethodGet, "/locks/p1/a.jpg?token=5", ""},
	{http.MethodGet, "/readyz", ""},
}

func TestStoreUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"store_unavailable", &filelock.Error{Code: filelock.EUnavailable, Message: "store unavailable: connection refused"}},
		{"raw backend error", errors.New("dial tcp 127.0.0.1:1: connect: connection refused")},
		{"deadline", fmt.Errorf("read: %w", errDeadline)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, handlers.Config{Store: &stubStore{err: tc.err}})
			for _, r := range requests {
				s.do(r.method, r.path, r.body).fail(t, http.StatusServiceUnavailable, filelock.EUnavailable)
			}
			// Still alive.
			s.do(http.MethodGet, "/healthz", "").ok(t, nil)
		})
	}
}

var errDeadline = errors.New("i/o timeout")

// TestStoreHangs: a backend that never answers (and ignores its context)
// gets 503 once the store timeout has passed, on every endpoint.
func TestStoreHangs(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	s := startServer(t, handlers.Config{Store: &stubStore{block: block}, StoreTimeout: 100 * time.Millisecond})
	for _, r := range requests {
		s.do(r.method, r.path, r.body).fail(t, http.StatusServiceUnavailable, filelock.EUnavailable)
	}
}

// TestStoreHangsDefaultTimeout: with the default timeout (2 s) a hung store
// is answered, not waited for: the client gives up after 10 s.
func TestStoreHangsDefaultTimeout(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	s := startServer(t, handlers.Config{Store: &stubStore{block: block}})
	s.http.Timeout = 10 * time.Second
	s.do(http.MethodPost, "/lock", requests[0].body).fail(t, http.StatusServiceUnavailable, filelock.EUnavailable)
}

func TestStorePanics(t *testing.T) {
	for name, st := range map[string]store.Store{"bounded": &stubStore{panicky: true}, "immediate": immediateStub{&stubStore{panicky: true}}} {
		t.Run(name, func(t *testing.T) {
			s := startServer(t, handlers.Config{Store: st})
			for _, r := range requests {
				s.do(r.method, r.path, r.body).fail(t, http.StatusInternalServerError, filelock.EInternal)
			}
			s.do(http.MethodGet, "/healthz", "").ok(t, nil)
		})
	}
}

// immediateStub is a stubStore that says it is a store.Immediate one: its
// calls run on the request's goroutine.
type immediateStub struct{ *stubStore }

func (immediateStub) Immediate() bool { return true }

// TestImmediateStoreErrors: a store.Immediate store's errors are answered
// as any store's.
func TestImmediateStoreErrors(t *testing.T) {
	s := startServer(t, handlers.Config{Store: immediateStub{&stubStore{err: errors.New("boom")}}})
	s.do(http.MethodPost, "/lock", requests[0].body).fail(t, http.StatusServiceUnavailable, filelock.EUnavailable)
}

// TestErrorTable: every code of SPEC §3 a store (or anything below the
// handlers) returns comes out with its status and the lock in the way.
func TestErrorTable(t *testing.T) {
	want := map[string]int{
		filelock.EInvalid: 400, filelock.EUnauthorized: 401, filelock.EForbidden: 403, filelock.ENotOwner: 403,
		filelock.EUserMismatch: 403, filelock.ENotLocked: 404, filelock.EFileLocked: 409, filelock.EUserHasLock: 409,
		filelock.EStaleToken: 409, filelock.ETooLarge: 413, filelock.ERateLimited: 429, filelock.EUnavailable: 503,
		filelock.EInternal: 500, "no_such_code": 500,
	}
	for code, status := range want {
		if got := handlers.HTTPStatus(code); got != status {
			t.Errorf("HTTPStatus(%s) = %d, want %d", code, got, status)
		}
	}
	lock := filelock.Lock{ProjectID: "p1", File: "a.jpg", User: "user2", Token: 7,
		AcquiredAt: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC), ExpiresAt: time.Date(2026, 11, 27, 8, 1, 30, 0, time.UTC)}
	for _, code := range []string{filelock.EFileLocked, filelock.ENotOwner, filelock.ERateLimited, filelock.EForbidden} {
		s := startServer(t, handlers.Config{Store: &stubStore{err: filelock.LockError(code, lock, "in the way")}})
		e := s.do(http.MethodPost, "/lock", requests[0].body).fail(t, want[code], code)
		if e.Lock == nil || *e.Lock != lock || e.Error.Message != "in the way" {
			t.Errorf("%s: body %+v", code, e)
		}
	}
}

// TestUncodedErrorsOneRule: an error without a code from below the
// handlers is store_unavailable on every path, not only on the REST calls
// that go through the store timeout: an SSE stream, a WebSocket join and a
// Socket.IO join over a store that fails with a raw error all say 503.
func TestUncodedErrorsOneRule(t *testing.T) {
	s := startServer(t, handlers.Config{Store: &stubStore{err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused")}})
	sseRefused(t, openSSE(t, s.url+"/events/p1", nil)).fail(t, http.StatusServiceUnavailable, filelock.EUnavailable)
	sseRefused(t, openSSE(t, s.url+"/events/p1?user_id=u1", nil)).fail(t, http.StatusServiceUnavailable, filelock.EUnavailable)
	ws := dialWS(t, s.url).start()
	if code := replyCode(t, ws.call("join_project", map[string]any{"project_id": "p1", "user_id": "u1"})); code != filelock.EUnavailable {
		t.Errorf("ws join: %s", code)
	}
	sio := dialSIO(t, s.url)
	if code := replyCode(t, sio.call("join_project", map[string]any{"project_id": "p1", "user_id": "u1"})); code != filelock.EUnavailable {
		t.Errorf("sio join: %s", code)
	}
}

// TestHandlerPanics: a panic below a handler that no store call caught
// (here the store's feed, opened by an SSE request) is answered 500
// internal in the error shape of SPEC §3, logged with the request id and
// without the request's headers or query (no API key, no token in the log).
func TestHandlerPanics(t *testing.T) {
	var logged syncBuffer
	logger, err := logging.New(&logged, "text", "info")
	if err != nil {
		t.Fatal(err)
	}
	cfg := handlers.Config{Store: &stubStore{panicky: true}, Logger: logger}
	withAPIKeys(t, "none")(&cfg)
	s := startServer(t, cfg)
	req, err := http.NewRequest(http.MethodGet, s.url+"/events/p1?token=secret-jwt-in-query", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(auth.APIKeyHeader, apiKey)
	req.Header.Set("Authorization", "Bearer secret-jwt-in-header")
	e := s.send(req).fail(t, http.StatusInternalServerError, filelock.EInternal)
	if e.Lock != nil {
		t.Errorf("error body %+v", e)
	}
	out := logged.String()
	if !strings.Contains(out, "panic") || !strings.Contains(out, "request_id=") {
		t.Errorf("the panic is not logged with its request id:\n%s", out)
	}
	for _, secret := range []string{apiKey, "secret-jwt-in-query", "secret-jwt-in-header"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q:\n%s", secret, out)
		}
	}
	s.do(http.MethodGet, "/healthz", "").ok(t, nil)
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
