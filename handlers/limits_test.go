package handlers_test

import (
	"net/http"
	"testing"
	"time"

	"filelock"
	"filelock/handlers"
)

// TestUserRPS: limits.user_rps counts lock, unlock and heartbeat per user
// on every transport; over it they are refused with rate_limited (REST 429,
// a reply or error event on sockets) and change nothing.
func TestUserRPS(t *testing.T) {
	// 0.2/s: a burst of 1, then one request every 5 s.
	s := noneServer(t, func(c *handlers.Config) { c.UserRPS = 0.2 })
	s.lock("p", "a.jpg", "alice")
	before := s.status("p")
	r := s.post("/heartbeat", map[string]any{"project_id": "p", "user_id": "alice"})
	r.fail(t, http.StatusTooManyRequests, filelock.ERateLimited)
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	s.post("/unlock", map[string]any{"project_id": "p", "file": "a.jpg", "user_id": "alice"}).fail(t, http.StatusTooManyRequests, filelock.ERateLimited)
	s.post("/lock", map[string]any{"project_id": "p", "file": "b.jpg", "user_id": "alice", "release_previous": true}).fail(t, http.StatusTooManyRequests, filelock.ERateLimited)
	sameState(t, "after 429s", before, s.status("p"))
	s.status("p") // status is not limited

	ws, _ := dialWSAs(t, s.url, "", nil)
	replyOK(t, "join", ws.call("join_project", map[string]any{"project_id": "p", "user_id": "bob"}))
	replyOK(t, "lock", ws.call("lock", map[string]any{"project_id": "p", "file": "b.jpg"}))
	if code := replyCode(t, ws.call("heartbeat", map[string]any{})); code != filelock.ERateLimited {
		t.Errorf("ws heartbeat: %s", code)
	}
	ws.send("unlock", map[string]any{"project_id": "p", "file": "b.jpg"})
	if e := ws.nextError(); e["code"] != filelock.ERateLimited {
		t.Errorf("ws error event %v", e)
	}

	sio, ce, _ := dialSIOAs(t, s.url, nil, "", nil)
	if sio == nil {
		t.Fatalf("refused: %v", ce)
	}
	replyOK(t, "join", sio.call("join_project", map[string]any{"project_id": "p", "user_id": "carol"}))
	replyOK(t, "lock", sio.call("lock", map[string]any{"project_id": "p", "file": "c.jpg"}))
	if code := replyCode(t, sio.call("unlock", map[string]any{"project_id": "p", "file": "c.jpg"})); code != filelock.ERateLimited {
		t.Errorf("sio unlock: %s", code)
	}
	// One user's limit is not another's, and it counts across transports.
	if code := replyCode(t, sio.call("lock", map[string]any{"project_id": "p", "file": "d.jpg", "user_id": "carol"})); code != filelock.ERateLimited {
		t.Errorf("sio lock: %s", code)
	}
	s.post("/lock", map[string]any{"project_id": "p", "file": "b.jpg", "user_id": "bob"}).fail(t, http.StatusTooManyRequests, filelock.ERateLimited)
	st := s.status("p")
	if len(st.Locks) != 3 {
		t.Errorf("locks %+v, want alice's, bob's and carol's only", st.Locks)
	}
}

// TestMaxConnections: limits.max_connections counts SSE streams,
// WebSockets and Socket.IO sockets together; over it SSE and the
// WebSocket upgrade get 429 rate_limited, Socket.IO a connect_error
// rate_limited; a closed connection frees its place.
func TestMaxConnections(t *testing.T) {
	s := noneServer(t, func(c *handlers.Config) { c.MaxConnections = 2 })
	sse := openSSE(t, s.url+"/events/p", nil)
	if sse.res.StatusCode != http.StatusOK {
		t.Fatalf("sse: %d", sse.res.StatusCode)
	}
	ws, _ := dialWSAs(t, s.url, "", nil)
	if ws == nil {
		t.Fatal("ws refused")
	}
	sseRefused(t, openSSE(t, s.url+"/events/p", nil)).fail(t, http.StatusTooManyRequests, filelock.ERateLimited)
	if c, res := dialWSAs(t, s.url, "", nil); c != nil {
		t.Fatal("third connection opened")
	} else {
		res.fail(t, http.StatusTooManyRequests, filelock.ERateLimited)
	}
	if c, ce, _ := dialSIOAs(t, s.url, nil, "", nil); c != nil || connectErrorCode(t, ce) != filelock.ERateLimited {
		t.Fatalf("sio: connected %v, connect_error %v", c != nil, ce)
	}
	// REST is not a connection.
	s.lock("p", "a.jpg", "alice")

	sse.close()
	var sio *sioClient
	untilTrue(t, "a place freed by the closed stream", func() bool {
		var ce map[string]any
		sio, ce, _ = dialSIOAs(t, s.url, nil, "", nil)
		return sio != nil || connectErrorCode(t, ce) != filelock.ERateLimited
	})
	if sio == nil {
		t.Fatal("sio refused for another reason")
	}
	replyOK(t, "join", sio.call("join_project", map[string]any{"project_id": "p", "user_id": "bob"}))
}

// TestMaxConnectionsPerUser: limits.max_connections_per_user, in jwt mode
// by the token's sub at the handshake, in none mode by user_id (SSE) or at
// the first join (WebSocket, Socket.IO: the join is refused).
func TestMaxConnectionsPerUser(t *testing.T) {
	t.Run("jwt", func(t *testing.T) {
		s := jwtServer(t, time.Second, func(c *handlers.Config) { c.MaxConnsPerUser = 1 })
		alice := token(t, "alice", []string{"*"}, false, time.Hour)
		bob := token(t, "bob", []string{"*"}, false, time.Hour)
		if c := sseAs(t, s.url, "/events/p", alice, nil); c.res.StatusCode != http.StatusOK {
			t.Fatalf("sse: %d", c.res.StatusCode)
		}
		sseRefused(t, sseAs(t, s.url, "/events/p?user_id=alice", alice, nil)).fail(t, http.StatusTooManyRequests, filelock.ERateLimited)
		if c, res := dialWSAs(t, s.url, alice, nil); c != nil {
			t.Fatal("second connection of alice opened")
		} else {
			res.fail(t, http.StatusTooManyRequests, filelock.ERateLimited)
		}
		if c, ce, _ := dialSIOAs(t, s.url, map[string]any{"token": alice}, "", nil); c != nil || connectErrorCode(t, ce) != filelock.ERateLimited {
			t.Fatalf("sio: connected %v, connect_error %v", c != nil, ce)
		}
		if c, _ := dialWSAs(t, s.url, bob, nil); c == nil {
			t.Fatal("bob refused")
		}
	})
	t.Run("none", func(t *testing.T) {
		s := noneServer(t, func(c *handlers.Config) { c.MaxConnsPerUser = 1 })
		if c := openSSE(t, s.url+"/events/p?user_id=alice", nil); c.res.StatusCode != http.StatusOK {
			t.Fatalf("sse: %d", c.res.StatusCode)
		}
		sseRefused(t, openSSE(t, s.url+"/events/p?user_id=alice", nil)).fail(t, http.StatusTooManyRequests, filelock.ERateLimited)
		ws, _ := dialWSAs(t, s.url, "", nil)
		if code := replyCode(t, ws.call("join_project", map[string]any{"project_id": "p", "user_id": "alice"})); code != filelock.ERateLimited {
			t.Errorf("ws join: %s", code)
		}
		sio, _, _ := dialSIOAs(t, s.url, nil, "", nil)
		if code := replyCode(t, sio.call("join_project", map[string]any{"project_id": "p", "user_id": "alice"})); code != filelock.ERateLimited {
			t.Errorf("sio join: %s", code)
		}
		replyOK(t, "bob's join", ws.call("join_project", map[string]any{"project_id": "p", "user_id": "bob"}))
		replyOK(t, "bob's second project", ws.call("join_project", map[string]any{"project_id": "p2", "user_id": "bob"}))
		if st := s.status("p"); len(st.Users) != 2 {
			t.Errorf("users %v, want alice (SSE) and bob", st.Users)
		}
	})
}

// TestCORS: preflights from listed origins are answered, others refused;
// the WebSocket, Socket.IO and SSE accept no Origin, the server's own and
// listed origins, and refuse others with 403 forbidden.
func TestCORS(t *testing.T) {
	const good, evil = "https://label.example.com", "https://evil.example.com"
	s := noneServer(t, func(c *handlers.Config) { c.CORS.AllowedOrigins = []string{good} })
	pre := func(origin string) response {
		req, _ := http.NewRequest(http.MethodOptions, s.url+"/lock", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		return s.send(req)
	}
	if r := pre(good); r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != good ||
		r.header.Get("Access-Control-Allow-Headers") == "" {
		t.Errorf("preflight from a listed origin: %d %v", r.status, r.header)
	}
	pre(evil).fail(t, http.StatusForbidden, filelock.EForbidden)
	req, _ := http.NewRequest(http.MethodGet, s.url+"/status/p", nil)
	req.Header.Set("Origin", good)
	if r := s.send(req); r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != good {
		t.Errorf("GET from a listed origin: %d %v", r.status, r.header)
	}

	origin := func(o string) http.Header { return http.Header{"Origin": {o}} }
	for _, o := range []string{good, s.url} {
		if c, res := dialWSAs(t, s.url, "", origin(o)); c == nil {
			t.Errorf("ws from %s refused: %d %s", o, res.status, res.body)
		}
		if c, ce, res := dialSIOAs(t, s.url, nil, "", origin(o)); c == nil {
			t.Errorf("sio from %s refused: %v %v", o, ce, res)
		}
	}
	if c, res := dialWSAs(t, s.url, "", origin(evil)); c != nil {
		t.Error("ws from a foreign origin opened")
	} else {
		res.fail(t, http.StatusForbidden, filelock.EForbidden)
	}
	if c, _, res := dialSIOAs(t, s.url, nil, "", origin(evil)); c != nil || res == nil {
		t.Error("sio from a foreign origin connected")
	} else {
		res.fail(t, http.StatusForbidden, filelock.EForbidden)
	}
	sseRefused(t, openSSE(t, s.url+"/events/p?user_id=mallory", origin(evil))).fail(t, http.StatusForbidden, filelock.EForbidden)
	if st := s.status("p"); len(st.Users) != 0 {
		t.Errorf("a refused stream counted as present: %v", st.Users)
	}

	// Socket.IO's polling handshake: one Access-Control-Allow-Origin, the
	// engine's and the middleware's not both.
	req, _ = http.NewRequest(http.MethodGet, s.url+"/socket.io/?EIO=4&transport=polling", nil)
	req.Header.Set("Origin", good)
	if r := s.send(req); r.status != http.StatusOK || len(r.header.Values("Access-Control-Allow-Origin")) != 1 ||
		r.header.Get("Access-Control-Allow-Origin") != good {
		t.Errorf("polling handshake from a listed origin: %d %v", r.status, r.header)
	}
	req.Header.Set("Origin", evil)
	s.send(req).fail(t, http.StatusForbidden, filelock.EForbidden)
}
