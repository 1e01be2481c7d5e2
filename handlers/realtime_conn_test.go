package handlers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"filelock/handlers"
)

// lockedBy joins project as user over a WebSocket on s and locks file.
func lockedBy(t *testing.T, s *server, project, user, file string) *wsClient {
	t.Helper()
	ws := dialWS(t, s.url).start()
	if r := ws.call("join_project", map[string]any{"project_id": project, "user_id": user}); r["ok"] != true {
		t.Fatalf("join: %v", r)
	}
	if r := ws.call("lock", map[string]any{"project_id": project, "file": file}); r["ok"] != true {
		t.Fatalf("lock: %v", r)
	}
	return ws
}

// TestDisconnectReleases: a WebSocket closed with or without a close
// frame, and an SSE stream naming the user, release the user's lock after
// the grace; a reconnect within the grace keeps it.
func TestDisconnectReleases(t *testing.T) {
	o := rtOptions()
	a := memoryInstances(t, o, nil)[0]
	project := newProject()
	watch := openSSE(t, a.url+"/events/"+project, nil)
	released := func(file string) {
		t.Helper()
		e := watch.log.waitFor(t, "release of "+file, func(e wireEvent) bool {
			return e.Name == "lock_released" && e.str("file") == file
		})
		if e.str("reason") != "disconnected" {
			t.Fatalf("released %s with reason %s", file, e.str("reason"))
		}
	}

	ws := lockedBy(t, a, project, "u1", "closeframe.jpg")
	_ = ws.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	ws.conn.Close()
	released("closeframe.jpg")

	ws = lockedBy(t, a, project, "u2", "noframe.jpg")
	ws.conn.UnderlyingConn().Close() // the tab is killed: no close frame
	released("noframe.jpg")

	sse := openSSE(t, a.url+"/events/"+project+"?user_id=u3", nil)
	sse.log.waitFor(t, "snapshot", func(wireEvent) bool { return true })
	a.lock(project, "sse.jpg", "u3")
	sse.close()
	released("sse.jpg")

	ws = dialWS(t, a.url).start()
	ws.call("join_project", map[string]any{"project_id": project, "user_id": "u4"})
	ws.call("lock", map[string]any{"project_id": project, "file": "leave.jpg"})
	if r := ws.call("leave_project", map[string]any{"project_id": project}); r["ok"] != true {
		t.Fatalf("leave: %v", r)
	}
	released("leave.jpg")
}

func TestReconnectWithinGraceKeepsLock(t *testing.T) {
	o := rtOptions()
	o.DisconnectGrace = time.Second
	a := memoryInstances(t, o, nil)[0]
	project := newProject()
	watch := openSSE(t, a.url+"/events/"+project, nil)
	ws := lockedBy(t, a, project, "u1", "keep.jpg")
	ws.conn.Close()
	watch.log.waitFor(t, "user_left", func(e wireEvent) bool { return e.Name == "user_left" })
	ws2 := dialWS(t, a.url).start() // the page reloads
	ws2.call("join_project", map[string]any{"project_id": project, "user_id": "u1"})
	// Past the moment the release would have been due, the lock is still there.
	time.Sleep(2 * o.DisconnectGrace)
	if st := a.status(project); len(st.Locks) != 1 || st.Locks[0].User != "u1" {
		t.Fatalf("locks after reconnect: %+v", st.Locks)
	}
	for _, e := range watch.log.all() {
		if e.Name == "lock_released" {
			t.Fatalf("released: %v", e)
		}
	}
}

// TestWSMessages: replies with ref, error events without, user_mismatch,
// and bad messages that never close the connection.
func TestWSMessages(t *testing.T) {
	a := memoryInstances(t, rtOptions(), func(c *handlers.Config) { c.MaxBodyBytes = 1024 })[0]
	project := newProject()
	ws := dialWS(t, a.url).start()
	if r := ws.call("lock", map[string]any{"project_id": project, "file": "x"}); r["ok"] != false {
		t.Fatalf("lock before join: %v", r)
	}
	ws.call("join_project", map[string]any{"project_id": project, "user_id": "u1"})
	r := ws.call("join_project", map[string]any{"project_id": project, "user_id": "u2"})
	if e, _ := r["error"].(map[string]any); r["ok"] != false || e["code"] != "user_mismatch" {
		t.Fatalf("other user: %v", r)
	}
	other := lockedBy(t, a, project, "u9", "taken.jpg")
	_ = other
	r = ws.call("lock", map[string]any{"project_id": project, "file": "taken.jpg"})
	if e, _ := r["error"].(map[string]any); r["ok"] != false || e["code"] != "file_locked" || r["lock"] == nil {
		t.Fatalf("file_locked: %v", r)
	}
	r = ws.call("lock", map[string]any{"project_id": project, "file": "mine.jpg", "ttl_seconds": 30})
	if r["ok"] != true || r["acquired"] != true || r["lock"] == nil || r["heartbeat_interval_seconds"] == nil {
		t.Fatalf("lock: %v", r)
	}
	if r = ws.call("heartbeat", map[string]any{}); r["ok"] != true || len(r["locks"].([]any)) != 1 || r["heartbeat_interval_seconds"] != 10.0 {
		t.Fatalf("heartbeat all: %v", r)
	}
	if r = ws.call("heartbeat", map[string]any{"project_id": project}); r["ok"] != true || r["lock"] == nil {
		t.Fatalf("heartbeat: %v", r)
	}
	r = ws.call("lock", map[string]any{"project_id": project, "file": 5})
	if e, _ := r["error"].(map[string]any); e["code"] != "invalid_request" || e["field"] != "file" {
		t.Fatalf("wrong type: %v", r)
	}
	if r = ws.call("nonsense", nil); r["ok"] != false {
		t.Fatalf("unknown event: %v", r)
	}
	// Without ref: error events; none of these closes the connection.
	ws.send("unlock", map[string]any{"project_id": project, "file": "nobody.jpg"})
	if e := ws.nextError(); e["code"] != "not_locked" || e["message"] == "" {
		t.Fatalf("error event: %v", e)
	}
	for _, raw := range []string{"{not json", "[1,2]", `{"event":7}`, `"str"`, `{"event":"lock","data":"x"}`} {
		_ = ws.conn.WriteMessage(websocket.TextMessage, []byte(raw))
		if e := ws.nextError(); e["code"] != "invalid_request" {
			t.Fatalf("%s: %v", raw, e)
		}
	}
	_ = ws.conn.WriteMessage(websocket.BinaryMessage, []byte("{}"))
	if e := ws.nextError(); e["code"] != "invalid_request" {
		t.Fatalf("binary: %v", e)
	}
	_ = ws.conn.WriteMessage(websocket.TextMessage, []byte(`{"event":"lock","data":{"file":"`+strings.Repeat("a", 2000)+`"}}`))
	if e := ws.nextError(); e["code"] != "payload_too_large" {
		t.Fatalf("too large: %v", e)
	}
	if r = ws.call("unlock", map[string]any{"project_id": project, "file": "mine.jpg"}); r["ok"] != true || r["released"] != true {
		t.Fatalf("still usable after bad messages: %v", r)
	}
	ws.log.waitFor(t, "own release", func(e wireEvent) bool { return e.Name == "lock_released" && e.str("file") == "mine.jpg" })
}

// TestWSIdleClosed: a client that answers no ping is closed after the
// idle timeout; one that reads (and so answers pings) stays.
func TestWSIdleClosed(t *testing.T) {
	a := memoryInstances(t, rtOptions(), func(c *handlers.Config) {
		c.WSPingInterval = 100 * time.Millisecond
		c.WSIdleTimeout = 500 * time.Millisecond
	})[0]
	live := dialWS(t, a.url).start()
	silent := dialWS(t, a.url)
	silent.conn.SetPingHandler(func(string) error { return nil }) // never pongs
	go func() {
		for {
			if _, _, err := silent.conn.ReadMessage(); err != nil {
				silent.log.end(err)
				return
			}
		}
	}()
	select {
	case <-silent.log.ended:
	case <-time.After(rtWait):
		t.Fatal("silent connection not closed")
	}
	if r := live.call("heartbeat", map[string]any{}); r["ok"] != true {
		t.Fatalf("live connection: %v", r)
	}
}

// TestStalledSubscriberCutOff: a Socket.IO client that stops polling is
// disconnected once limits.send_queue packets wait for it, while another
// subscriber keeps receiving everything.
func TestStalledSubscriberCutOff(t *testing.T) {
	a := memoryInstances(t, rtOptions(), func(c *handlers.Config) { c.SendQueue = 8 })[0]
	project := newProject()
	fast := dialWS(t, a.url).start()
	fast.call("join_project", map[string]any{"project_id": project, "user_id": "fast"})

	poll := func(method, sid, body string) (int, string) {
		u := a.url + "/socket.io/?EIO=4&transport=polling"
		if sid != "" {
			u += "&sid=" + sid
		}
		req, _ := http.NewRequest(method, u, strings.NewReader(body))
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := res.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return res.StatusCode, b.String()
	}
	code, open := poll(http.MethodGet, "", "")
	i := strings.Index(open, `"sid":"`)
	if code != 200 || i < 0 {
		t.Fatalf("handshake %d %s", code, open)
	}
	sid := open[i+7 : i+7+strings.IndexByte(open[i+7:], '"')]
	poll(http.MethodPost, sid, "40")
	if _, body := poll(http.MethodGet, sid, ""); !strings.HasPrefix(body, "40") {
		t.Fatalf("connect: %s", body)
	}
	poll(http.MethodPost, sid, `420["join_project",{"project_id":"`+project+`","user_id":"slow"}]`)
	if _, body := poll(http.MethodGet, sid, ""); !strings.Contains(body, `"ok":true`) {
		t.Fatalf("join: %s", body)
	}
	// The slow client polls no more; the fast one keeps up with every event
	// (the generator waits for it, so its queue of 8 suffices).
	for range 20 {
		a.lock(project, "f.jpg", "u1")
		a.post("/unlock", map[string]any{"project_id": project, "file": "f.jpg", "user_id": "u1"}).ok(t, nil)
		fast.log.waitEventID(t, a.status(project).LastEventID)
	}
	// Polling again (and answering pings, so that no ping timeout can end
	// the session) finds it ended: the buffered packets end with a
	// disconnect, or the session is unknown.
	deadline := time.Now().Add(rtWait)
	for {
		code, body := poll(http.MethodGet, sid, "")
		if code == http.StatusBadRequest || strings.HasSuffix(body, "\x1e41") || body == "41" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stalled client still connected: %d %q", code, body)
		}
		for _, p := range strings.Split(body, "\x1e") {
			if p == "2" {
				poll(http.MethodPost, sid, "3")
			}
		}
	}

}

// TestSSEKeepalive: an idle stream carries a ": keepalive" comment every
// sse.keepalive.
func TestSSEKeepalive(t *testing.T) {
	a := memoryInstances(t, rtOptions(), func(c *handlers.Config) { c.SSEKeepalive = 50 * time.Millisecond })[0]
	c := openSSE(t, a.url+"/events/"+newProject(), nil)
	deadline := time.After(rtWait)
	for n := 0; n < 2; {
		select {
		case line := <-c.lines:
			if line == ": keepalive" {
				n++
			}
		case <-deadline:
			t.Fatal("no keepalive comment")
		}
	}
}
