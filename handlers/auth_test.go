package handlers_test

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"filelock"
)

// statusAs is GET /status/{project} with a token, decoded.
func (s *server) statusAs(tok, project string) statusReply {
	s.t.Helper()
	var r statusReply
	s.callAs(tok, http.MethodGet, "/status/"+project, "").ok(s.t, &r)
	return r
}

// sameState asserts that a project's locks, users and event position did
// not change.
func sameState(t *testing.T, what string, before, after statusReply) {
	t.Helper()
	if !reflect.DeepEqual(before.Locks, after.Locks) || !reflect.DeepEqual(before.Users, after.Users) || before.LastEventID != after.LastEventID {
		t.Errorf("%s: the store changed:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

// TestJWTMatrix: in auth.mode jwt, every transport refuses bad tokens with
// 401 unauthorized, another user's user_id with 403 user_mismatch, a
// project outside the token's claim with 403 forbidden and a force without
// admin with 403 forbidden, and none of it changes the store.
func TestJWTMatrix(t *testing.T) {
	s := jwtServer(t, time.Second, nil)
	const p, q = "p1", "q1"
	alice := token(t, "alice", []string{p}, false, time.Hour)
	mallory := token(t, "mallory", []string{p}, false, time.Hour)
	root := token(t, "root", []string{"*"}, true, time.Hour)
	var held lockReply
	s.callAs(alice, http.MethodPost, "/lock", `{"project_id":"p1","file":"a.jpg","user_id":"alice"}`).ok(t, &held)
	beforeP, beforeQ := s.statusAs(root, p), s.statusAs(root, q)

	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "alice", "projects": []string{p}, "exp": time.Now().Add(time.Hour).Unix()}
	}
	expired, noExp := valid(), valid()
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	delete(noExp, "exp")
	bad := []struct{ name, tok string }{
		{"no token", ""},
		{"bad signature", signed(t, jwt.SigningMethodHS256, []byte("another-secret"), valid())},
		{"alg none", signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid())},
		{"wrong algorithm", signed(t, jwt.SigningMethodHS384, []byte(testSecret), valid())},
		{"expired", signed(t, jwt.SigningMethodHS256, []byte(testSecret), expired)},
		{"no exp", signed(t, jwt.SigningMethodHS256, []byte(testSecret), noExp)},
		{"garbage", "not.a.jwt"},
	}
	restCalls := []struct{ method, path, body string }{
		{http.MethodPost, "/lock", `{"project_id":"p1","file":"b.jpg","user_id":"alice"}`},
		{http.MethodPost, "/unlock", `{"project_id":"p1","file":"a.jpg","user_id":"alice"}`},
		{http.MethodPost, "/heartbeat", `{"project_id":"p1","user_id":"alice"}`},
		{http.MethodPost, "/claim", `{"project_id":"p1","files":["b.jpg"],"user_id":"alice"}`},
		{http.MethodGet, "/status/p1", ""},
		{http.MethodGet, "/locks/p1/a.jpg", ""},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range restCalls {
				s.callAs(b.tok, c.method, c.path, c.body).fail(t, http.StatusUnauthorized, filelock.EUnauthorized)
			}
			sseRefused(t, sseAs(t, s.url, "/events/p1?user_id=alice", b.tok, nil)).fail(t, http.StatusUnauthorized, filelock.EUnauthorized)
			if c, res := dialWSAs(t, s.url, b.tok, nil); c != nil {
				t.Fatal("WebSocket opened")
			} else {
				res.fail(t, http.StatusUnauthorized, filelock.EUnauthorized)
			}
			var authObj any
			if b.tok != "" {
				authObj = map[string]any{"token": b.tok}
			}
			c, ce, _ := dialSIOAs(t, s.url, authObj, "", nil)
			if c != nil {
				t.Fatal("Socket.IO connected")
			}
			if code := connectErrorCode(t, ce); code != filelock.EUnauthorized {
				t.Errorf("connect_error code %q", code)
			}
		})
	}

	// mallory, a valid user of p1, acting as alice, touching q1, forcing.
	asAlice := []struct{ method, path, body string }{
		{http.MethodPost, "/lock", `{"project_id":"p1","file":"a.jpg","user_id":"alice"}`},
		{http.MethodPost, "/unlock", `{"project_id":"p1","file":"a.jpg","user_id":"alice"}`},
		{http.MethodPost, "/heartbeat", `{"project_id":"p1","user_id":"alice"}`},
		{http.MethodPost, "/claim", `{"project_id":"p1","files":["b.jpg"],"user_id":"alice"}`},
	}
	inQ := []struct{ method, path, body string }{
		{http.MethodPost, "/lock", `{"project_id":"q1","file":"a.jpg","user_id":"mallory"}`},
		{http.MethodPost, "/unlock", `{"project_id":"q1","file":"a.jpg","user_id":"mallory"}`},
		{http.MethodPost, "/heartbeat", `{"project_id":"q1","user_id":"mallory"}`},
		{http.MethodPost, "/claim", `{"project_id":"q1","files":["a.jpg"],"user_id":"mallory"}`},
		{http.MethodGet, "/status/q1", ""},
		{http.MethodGet, "/locks/q1/a.jpg", ""},
	}
	force := `{"project_id":"p1","file":"a.jpg","user_id":"mallory","force":true}`
	t.Run("REST", func(t *testing.T) {
		for _, c := range asAlice {
			s.callAs(mallory, c.method, c.path, c.body).fail(t, http.StatusForbidden, filelock.EUserMismatch)
		}
		for _, c := range inQ {
			s.callAs(mallory, c.method, c.path, c.body).fail(t, http.StatusForbidden, filelock.EForbidden)
		}
		s.callAs(mallory, http.MethodPost, "/unlock", force).fail(t, http.StatusForbidden, filelock.EForbidden)
		s.callAs(alice, http.MethodPost, "/unlock", `{"project_id":"p1","file":"a.jpg","force":true}`).fail(t, http.StatusForbidden, filelock.EForbidden)
	})
	t.Run("SSE", func(t *testing.T) {
		sseRefused(t, sseAs(t, s.url, "/events/p1?user_id=alice", mallory, nil)).fail(t, http.StatusForbidden, filelock.EUserMismatch)
		sseRefused(t, sseAs(t, s.url, "/events/q1", mallory, nil)).fail(t, http.StatusForbidden, filelock.EForbidden)
		sseRefused(t, sseAs(t, s.url, "/events/q1?user_id=mallory", mallory, nil)).fail(t, http.StatusForbidden, filelock.EForbidden)
	})
	// The same messages on both socket transports.
	type caller interface {
		call(event string, data any) map[string]any
	}
	socketMatrix := func(t *testing.T, c caller) {
		t.Helper()
		want := []struct {
			event string
			data  map[string]any
			code  string
		}{
			{"join_project", map[string]any{"project_id": p, "user_id": "alice"}, filelock.EUserMismatch},
			{"lock", map[string]any{"project_id": p, "file": "a.jpg", "user_id": "alice"}, filelock.EUserMismatch},
			{"unlock", map[string]any{"project_id": p, "file": "a.jpg", "user_id": "alice"}, filelock.EUserMismatch},
			{"heartbeat", map[string]any{"project_id": p, "user_id": "alice"}, filelock.EUserMismatch},
			{"join_project", map[string]any{"project_id": q, "user_id": "mallory"}, filelock.EForbidden},
			{"join_project", map[string]any{"project_id": q}, filelock.EForbidden},
			{"lock", map[string]any{"project_id": q, "file": "a.jpg"}, filelock.EForbidden},
			{"unlock", map[string]any{"project_id": q, "file": "a.jpg"}, filelock.EForbidden},
			{"heartbeat", map[string]any{"project_id": q}, filelock.EForbidden},
			{"unlock", map[string]any{"project_id": p, "file": "a.jpg", "force": true}, filelock.EForbidden},
		}
		for _, w := range want {
			if code := replyCode(t, c.call(w.event, w.data)); code != w.code {
				t.Errorf("%s %v: code %q, want %q", w.event, w.data, code, w.code)
			}
		}
	}
	t.Run("WebSocket", func(t *testing.T) {
		c, _ := dialWSAs(t, s.url, mallory, nil)
		if c == nil {
			t.Fatal("refused")
		}
		socketMatrix(t, c)
		c.send("lock", map[string]any{"project_id": q, "file": "a.jpg"}) // no ref: an error event
		if e := c.nextError(); e["code"] != filelock.EForbidden {
			t.Errorf("error event %v", e)
		}
	})
	t.Run("WebSocket header token", func(t *testing.T) {
		c, _ := dialWSAs(t, s.url, "", http.Header{"Authorization": {"Bearer " + mallory}})
		if c == nil {
			t.Fatal("refused")
		}
		socketMatrix(t, c)
	})
	t.Run("Socket.IO", func(t *testing.T) {
		c, ce, _ := dialSIOAs(t, s.url, map[string]any{"token": mallory}, "", nil)
		if c == nil {
			t.Fatalf("refused: %v", ce)
		}
		socketMatrix(t, c)
		c.emit("lock", map[string]any{"project_id": q, "file": "a.jpg"})
		select {
		case e := <-c.errs:
			if e["code"] != filelock.EForbidden {
				t.Errorf("error event %v", e)
			}
		case <-time.After(rtWait):
			t.Fatal("no error event")
		}
	})
	t.Run("Socket.IO query and header token", func(t *testing.T) {
		c, ce, _ := dialSIOAs(t, s.url, nil, "&token="+mallory, nil)
		if c == nil {
			t.Fatalf("?token= refused: %v", ce)
		}
		socketMatrix(t, c)
		c, ce, _ = dialSIOAs(t, s.url, nil, "", http.Header{"Authorization": {"Bearer " + mallory}})
		if c == nil {
			t.Fatalf("header refused: %v", ce)
		}
	})

	sameState(t, "project p1", beforeP, s.statusAs(root, p))
	sameState(t, "project q1", beforeQ, s.statusAs(root, q))
	if len(beforeP.Locks) != 1 || beforeP.Locks[0] != held.Lock {
		t.Fatalf("alice's lock is not in the status: %+v", beforeP)
	}

	// What is allowed: the admin forces, on every transport.
	s.callAs(root, http.MethodPost, "/unlock", `{"project_id":"p1","file":"a.jpg","force":true}`).ok(t, nil)
	wc, _ := dialWSAs(t, s.url, root, nil)
	sc, _, _ := dialSIOAs(t, s.url, map[string]any{"token": root}, "", nil)
	for _, c := range []caller{wc, sc} {
		s.callAs(alice, http.MethodPost, "/lock", `{"project_id":"p1","file":"a.jpg"}`).ok(t, nil)
		replyOK(t, "admin force", c.call("unlock", map[string]any{"project_id": p, "file": "a.jpg", "force": true}))
	}
	if st := s.statusAs(alice, p); len(st.Locks) != 0 {
		t.Errorf("locks left after the forced unlocks: %+v", st.Locks)
	}
	// The token's sub is the user, whether user_id is omitted or the same.
	var lr lockReply
	s.callAs(alice, http.MethodPost, "/lock", `{"project_id":"p1","file":"c.jpg"}`).ok(t, &lr)
	if lr.Lock.User != "alice" {
		t.Errorf("lock without user_id taken for %q", lr.Lock.User)
	}
}

// TestTokenExpiryClosesConnections: an SSE stream ends, a WebSocket is
// closed with 4001 "token expired" and a Socket.IO socket gets an error
// event and is disconnected when the token expires; the client comes back
// with a fresh token and resumes.
func TestTokenExpiryClosesConnections(t *testing.T) {
	s := jwtServer(t, 10*time.Millisecond, nil)
	const p = "p1"
	short := func() string { return token(t, "alice", []string{p}, false, 2*time.Second) }
	fresh := token(t, "alice", []string{p}, false, time.Hour)

	t.Run("SSE", func(t *testing.T) {
		c := sseAs(t, s.url, "/events/p1?user_id=alice", short(), nil)
		if c.res.StatusCode != http.StatusOK {
			t.Fatalf("status %d", c.res.StatusCode)
		}
		snap := c.log.waitFor(t, "snapshot", func(e wireEvent) bool { return e.Name == "snapshot" })
		select {
		case <-c.log.ended:
		case <-time.After(rtWait):
			t.Fatal("the stream outlived its token")
		}
		seen := false
		for len(c.lines) > 0 {
			if <-c.lines == ": token expired" {
				seen = true
			}
		}
		if !seen {
			t.Error("no ': token expired' comment before the end")
		}
		s.callAs(fresh, http.MethodPost, "/lock", `{"project_id":"p1","file":"x.jpg"}`).ok(t, nil)
		again := sseAs(t, s.url, "/events/p1?user_id=alice&last_event_id="+snap.ID, fresh, nil)
		ev := again.log.waitFor(t, "lock_acquired", func(e wireEvent) bool { return e.Name != "user_joined" && e.Name != "user_left" })
		if ev.Name != "lock_acquired" || ev.str("file") != "x.jpg" {
			t.Errorf("resumed with %s %v, want the lock_acquired missed", ev.Name, ev.Data)
		}
	})
	t.Run("WebSocket", func(t *testing.T) {
		c, _ := dialWSAs(t, s.url, short(), nil)
		replyOK(t, "join", c.call("join_project", map[string]any{"project_id": p}))
		select {
		case <-c.log.ended:
		case <-time.After(rtWait):
			t.Fatal("the WebSocket outlived its token")
		}
		var ce *websocket.CloseError
		if c.log.mu.Lock(); !errors.As(c.log.err, &ce) || ce.Code != 4001 || ce.Text != "token expired" {
			t.Errorf("closed with %v, want 4001 token expired", c.log.err)
		}
		c.log.mu.Unlock()
		c2, _ := dialWSAs(t, s.url, fresh, nil)
		replyOK(t, "join again", c2.call("join_project", map[string]any{"project_id": p}))
	})
	t.Run("Socket.IO", func(t *testing.T) {
		c, ce, _ := dialSIOAs(t, s.url, map[string]any{"token": short()}, "", nil)
		if c == nil {
			t.Fatalf("refused: %v", ce)
		}
		replyOK(t, "join", c.call("join_project", map[string]any{"project_id": p}))
		select {
		case e := <-c.errs:
			if e["code"] != filelock.EUnauthorized || !strings.Contains(e["message"].(string), "expired") {
				t.Errorf("error event %v", e)
			}
		case <-time.After(rtWait):
			t.Fatal("no error event at the token's end")
		}
		select {
		case <-c.log.ended:
		case <-time.After(rtWait):
			t.Fatal("the socket outlived its token")
		}
		c2, ce, _ := dialSIOAs(t, s.url, map[string]any{"token": fresh}, "", nil)
		if c2 == nil {
			t.Fatalf("fresh token refused: %v", ce)
		}
		replyOK(t, "join again", c2.call("join_project", map[string]any{"project_id": p}))
	})
}
