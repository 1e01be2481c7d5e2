package handlers_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"filelock"
	"filelock/handlers"
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
	s := startServer(t, handlers.Config{Store: &stubStore{panicky: true}})
	for _, r := range requests {
		s.do(r.method, r.path, r.body).fail(t, http.StatusInternalServerError, filelock.EInternal)
	}
	s.do(http.MethodGet, "/healthz", "").ok(t, nil)
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
