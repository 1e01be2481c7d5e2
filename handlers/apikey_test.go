package handlers_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"filelock"
	"filelock/auth"
	"filelock/handlers"
)

const apiKey = "backend-api-key-0123456789"

// withAPIKeys makes a server's verifier accept apiKey, in mode (with
// testSecret in jwt mode).
func withAPIKeys(t *testing.T, mode string) func(*handlers.Config) {
	return func(c *handlers.Config) {
		cfg := auth.Config{Mode: mode, APIKeys: []string{"another-key-abcdefghijkl", apiKey}}
		if mode == auth.ModeJWT {
			cfg.Secret, cfg.Leeway = testSecret, time.Second
		}
		v, err := auth.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.Auth = v
	}
}

// callKey sends a request with the X-API-Key header (and a bearer token
// when tok is set).
func (s *server) callKey(key, tok, method, path, body string) response {
	s.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set(auth.APIKeyHeader, key)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return s.send(req)
}

// TestAPIKey: in either auth mode, a request with a configured X-API-Key
// acts as an admin of every project, as any user_id, with force, on every
// route and transport; a wrong key is 401 everywhere, even beside a valid
// token, and changes nothing.
func TestAPIKey(t *testing.T) {
	for _, mode := range []string{auth.ModeJWT, auth.ModeNone} {
		t.Run(mode, func(t *testing.T) {
			var s *server
			if mode == auth.ModeJWT {
				s = jwtServer(t, time.Second, withAPIKeys(t, mode))
			} else {
				s = noneServer(t, withAPIKeys(t, mode))
			}
			testAPIKey(t, s, mode)
		})
	}
}

func testAPIKey(t *testing.T, s *server, mode string) {
	const p = "backend-proj"
	key := func(method, path, body string) response { return s.callKey(apiKey, "", method, path, body) }

	// Every REST route, as any user, with force.
	var lr lockReply
	key(http.MethodPost, "/lock", `{"project_id":"backend-proj","file":"a.jpg","user_id":"alice"}`).ok(t, &lr)
	if lr.Lock.User != "alice" {
		t.Fatalf("lock taken for %q", lr.Lock.User)
	}
	key(http.MethodPost, "/lock", `{"project_id":"backend-proj","file":"a.jpg"}`).fail(t, http.StatusBadRequest, filelock.EInvalid)
	key(http.MethodPost, "/heartbeat", `{"project_id":"backend-proj","user_id":"alice"}`).ok(t, nil)
	key(http.MethodGet, fmt.Sprintf("/locks/backend-proj/a.jpg?token=%d&user_id=alice", lr.Lock.Token), "").ok(t, nil)
	key(http.MethodGet, "/status/"+p, "").ok(t, nil)
	key(http.MethodGet, "/status/any-other-project", "").ok(t, nil)
	key(http.MethodPost, "/claim", `{"project_id":"backend-proj","files":["a.jpg","b.jpg"],"user_id":"bob"}`).ok(t, &lr)
	if lr.Lock.File != "b.jpg" || lr.Lock.User != "bob" {
		t.Fatalf("claim for bob: %+v", lr.Lock)
	}
	key(http.MethodPost, "/unlock", `{"project_id":"backend-proj","file":"a.jpg","user_id":"backend","force":true}`).ok(t, nil)

	// Every transport.
	sse := openSSE(t, s.url+"/events/"+p+"?user_id=carol", http.Header{auth.APIKeyHeader: {apiKey}})
	if sse.res.StatusCode != http.StatusOK {
		t.Fatalf("SSE with the key: %d", sse.res.StatusCode)
	}
	sse.log.waitFor(t, "snapshot", func(e wireEvent) bool { return e.Name == "snapshot" })
	ws, res := dialWSAs(t, s.url, "", http.Header{auth.APIKeyHeader: {apiKey}})
	if ws == nil {
		t.Fatalf("WebSocket with the key refused: %d %s", res.status, res.body)
	}
	replyOK(t, "ws join", ws.call("join_project", map[string]any{"project_id": p, "user_id": "dave"}))
	replyOK(t, "ws force", ws.call("unlock", map[string]any{"project_id": p, "file": "b.jpg", "force": true}))
	sio, ce, _ := dialSIOAs(t, s.url, nil, "", http.Header{auth.APIKeyHeader: {apiKey}})
	if sio == nil {
		t.Fatalf("Socket.IO with the key refused: %v", ce)
	}
	replyOK(t, "sio join", sio.call("join_project", map[string]any{"project_id": "elsewhere", "user_id": "erin"}))
	replyOK(t, "sio lock", sio.call("lock", map[string]any{"project_id": "elsewhere", "file": "x.jpg"}))

	// A wrong key is 401 on every route and transport, even with a valid token.
	admin := token(t, "root", []string{"*"}, true, time.Hour)
	before := key(http.MethodGet, "/status/"+p, "")
	for _, bad := range []string{"", "wrong", apiKey[:len(apiKey)-1] + "X", strings.ToUpper(apiKey)} {
		for _, c := range []struct{ method, path, body string }{
			{http.MethodPost, "/lock", `{"project_id":"backend-proj","file":"z.jpg","user_id":"alice"}`},
			{http.MethodPost, "/claim", `{"project_id":"backend-proj","files":["z.jpg"],"user_id":"alice"}`},
			{http.MethodPost, "/unlock", `{"project_id":"backend-proj","file":"a.jpg","user_id":"alice","force":true}`},
			{http.MethodPost, "/heartbeat", `{"project_id":"backend-proj","user_id":"alice"}`},
			{http.MethodGet, "/status/" + p, ""},
			{http.MethodGet, "/locks/backend-proj/a.jpg", ""},
		} {
			e := s.callKey(bad, admin, c.method, c.path, c.body).fail(t, http.StatusUnauthorized, filelock.EUnauthorized)
			if bad != "" && strings.Contains(e.Error.Message, bad) {
				t.Errorf("the refusal repeats the key: %q", e.Error.Message)
			}
		}
		h := http.Header{auth.APIKeyHeader: {bad}, "Authorization": {"Bearer " + admin}}
		sseRefused(t, openSSE(t, s.url+"/events/"+p, h)).fail(t, http.StatusUnauthorized, filelock.EUnauthorized)
		if c, res := dialWSAs(t, s.url, "", h); c != nil {
			t.Fatal("WebSocket opened with a wrong key")
		} else {
			res.fail(t, http.StatusUnauthorized, filelock.EUnauthorized)
		}
		c, ce, _ := dialSIOAs(t, s.url, map[string]any{"token": admin}, "", h)
		if c != nil {
			t.Fatal("Socket.IO connected with a wrong key")
		}
		if code := connectErrorCode(t, ce); code != filelock.EUnauthorized {
			t.Errorf("connect_error %q", code)
		}
	}
	if after := key(http.MethodGet, "/status/"+p, ""); !strings.Contains(string(after.body), `"locks":[]`) || string(before.body[:40]) != string(after.body[:40]) {
		t.Errorf("wrong keys changed the project: %s → %s", before.body, after.body)
	}
	if mode == auth.ModeJWT {
		// Without a key, jwt mode still wants a token.
		s.do(http.MethodGet, "/status/"+p, "").fail(t, http.StatusUnauthorized, filelock.EUnauthorized)
	}
}
