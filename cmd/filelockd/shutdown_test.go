package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"filelock/internal/redistest"
)

// launch runs the server like start, and returns a stop function that
// ends its context (SIGTERM) and reports how long run took to return.
func launch(t *testing.T, args []string, env map[string]string) (string, func() time.Duration) {
	t.Helper()
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(k string) string { return env[k] }, out) }()
	var once sync.Once
	var took time.Duration
	stop := func() time.Duration {
		once.Do(func() {
			begin := time.Now()
			cancel()
			select {
			case err := <-done:
				took = time.Since(begin)
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("run did not return after cancel; log:\n%s", out)
			}
		})
		return took
	}
	t.Cleanup(func() { stop() })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if addr := listenAddr(out.String()); addr != "" {
			return "http://" + addr, stop
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	t.Fatalf("no listening line; log:\n%s", out)
	return "", nil
}

// sseLines reads an SSE stream line by line in the background.
type sseLines struct {
	mu    sync.Mutex
	lines []string
	ended chan struct{}
}

func openStream(t *testing.T, url string, header http.Header) *sseLines {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %v", url, res, err)
	}
	t.Cleanup(func() { res.Body.Close() })
	s := &sseLines{ended: make(chan struct{})}
	go func() {
		defer close(s.ended)
		r := bufio.NewReader(res.Body)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			s.mu.Lock()
			s.lines = append(s.lines, strings.TrimSuffix(line, "\n"))
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *sseLines) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// waitLine waits for a line with prefix and returns it.
func (s *sseLines) waitLine(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range s.all() {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	t.Fatalf("no line %q in %q", prefix, s.all())
	return ""
}

// lastID is the stream's last "id:" line.
func (s *sseLines) lastID() string {
	id := ""
	for _, l := range s.all() {
		if v, ok := strings.CutPrefix(l, "id: "); ok {
			id = v
		}
	}
	return id
}

// wsCall sends a message with a ref and returns the reply's data, passing
// other frames to seen.
func wsCall(t *testing.T, c *websocket.Conn, event string, data any, seen func(name string, data map[string]any)) map[string]any {
	t.Helper()
	if err := c.WriteJSON(map[string]any{"event": event, "data": data, "ref": event}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var f struct {
			Event string         `json:"event"`
			Data  map[string]any `json:"data"`
			Ref   string         `json:"ref"`
		}
		if err := c.ReadJSON(&f); err != nil {
			t.Fatalf("%s: %v", event, err)
		}
		if f.Event == "reply" && f.Ref == event {
			return f.Data
		}
		if seen != nil {
			seen(f.Event, f.Data)
		}
	}
}

// TestGracefulShutdown: two instances on one Redis. Instance A stops
// (SIGTERM) with a WebSocket holding a lock and SSE streams open: the
// WebSocket is closed with 1001, the streams end with a parting comment,
// run returns within http.shutdown_timeout, and the lock survives the
// client moving to B within the grace (I5): same token, no lock_released.
// The SSE client resumes on B from its last id without loss.
func TestGracefulShutdown(t *testing.T) {
	rs := redistest.Start(t)
	env := map[string]string{"FILELOCK_REDIS_ADDRS": rs.Addr, "FILELOCK_REDIS_KEY_PREFIX": redistest.Prefix(t),
		"FILELOCK_LOCK_DISCONNECT_GRACE": "2s", "FILELOCK_HTTP_SHUTDOWN_TIMEOUT": "5s"}
	args := []string{"--http.addr=127.0.0.1:0", "--store.backend=redis", "--log.level=error"}
	a, stopA := launch(t, args, env)
	b, _ := start(t, args, env)
	project := "shutdown"

	watch := openStream(t, b+"/events/"+project, nil) // on B, for lock_released
	watch.waitLine(t, "event: snapshot")
	sse := openStream(t, a+"/events/"+project+"?user_id=viewer", nil)
	sse.waitLine(t, "event: snapshot")

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(a, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	if r := wsCall(t, ws, "join_project", map[string]any{"project_id": project, "user_id": "u1"}, nil); r["ok"] != true {
		t.Fatalf("join: %v", r)
	}
	r := wsCall(t, ws, "lock", map[string]any{"project_id": project, "file": "f.jpg"}, nil)
	lock, _ := r["lock"].(map[string]any)
	token, _ := lock["token"].(float64)
	if r["ok"] != true || token == 0 {
		t.Fatalf("lock: %v", r)
	}
	sse.waitLine(t, `data: {"project_id":"shutdown","event_id":"`+jsonNum(token))

	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				closed <- err
				return
			}
		}
	}()
	_ = ws.SetReadDeadline(time.Time{})
	took := stopA()
	t.Logf("shutdown of A with a WebSocket and an SSE stream open took %v", took)
	if took > 5*time.Second {
		t.Errorf("shutdown took %v, more than http.shutdown_timeout 5s", took)
	}
	shutAt := time.Now()
	select {
	case err := <-closed:
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
			t.Fatalf("WebSocket ended with %v, want close 1001", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WebSocket not closed by the shutdown")
	}
	select {
	case <-sse.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("SSE stream not ended by the shutdown")
	}
	if l := sse.all(); !strings.HasPrefix(l[len(l)-2], ": ") && !strings.HasPrefix(l[len(l)-1], ": ") {
		t.Errorf("SSE stream ended without a parting comment: %q", l[max(0, len(l)-4):])
	}

	// Something happens while the SSE client reconnects.
	res, err := http.Post(b+"/lock", "application/json", strings.NewReader(`{"project_id":"shutdown","file":"g.jpg","user_id":"u2"}`))
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("lock on B: %v %v", res, err)
	}
	res.Body.Close()

	// The client moves to B within the grace: its lock is kept.
	ws2, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(b, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws2.Close() })
	wsCall(t, ws2, "join_project", map[string]any{"project_id": project, "user_id": "u1"}, nil)
	r = wsCall(t, ws2, "lock", map[string]any{"project_id": project, "file": "f.jpg"}, nil)
	lock, _ = r["lock"].(map[string]any)
	if r["ok"] != true || r["renewed"] != true || lock["token"] != token {
		t.Fatalf("relock on B: %v, want renewed with token %v", r, token)
	}
	// The SSE client resumes from its last id on B: a replay, no snapshot.
	resumed := openStream(t, b+"/events/"+project, http.Header{"Last-Event-Id": {sse.lastID()}})
	resumed.waitLine(t, `data: {"project_id":"shutdown","event_id":"`+jsonNum(token+1))
	for _, l := range resumed.all() {
		if l == "event: snapshot" {
			t.Fatalf("resume from %s gave a snapshot: %q", sse.lastID(), resumed.all())
		}
	}
	if first := resumed.waitLine(t, "event: "); first != "event: user_left" {
		t.Fatalf("resumed stream starts with %q, want the viewer's user_left right after its last id", first)
	}
	// Past the grace, the lock is still u1's.
	for time.Since(shutAt) < 2*time.Second+500*time.Millisecond {
		time.Sleep(50 * time.Millisecond) // the grace must pass: nothing to poll for
	}
	for _, l := range watch.all() {
		if strings.Contains(l, `"reason":"disconnected"`) {
			t.Fatalf("lock released on shutdown: %s", l)
		}
	}
	code, body := get(t, b+"/status/"+project)
	var st struct {
		Locks []struct {
			File  string  `json:"file"`
			User  string  `json:"user"`
			Token float64 `json:"token"`
		} `json:"locks"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("status %d %s", code, body)
	}
	if len(st.Locks) != 2 || st.Locks[0].File != "f.jpg" || st.Locks[0].User != "u1" || st.Locks[0].Token != token {
		t.Fatalf("locks after the grace: %s", body)
	}
}

func jsonNum(f float64) string {
	b, _ := json.Marshal(int64(f))
	return string(b)
}
