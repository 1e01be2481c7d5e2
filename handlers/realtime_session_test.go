package handlers_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"filelock"
	"filelock/handlers"
	"filelock/store"
	"filelock/store/memory"
)

// TestShutdownTellsEveryTransport: closing the server ends every live
// connection the way its transport can say so (SSE: a retry and a
// "server shutting down" comment, then a clean end of the stream;
// WebSocket: close 1001; Socket.IO: disconnect), and a new connection is
// refused with store_unavailable.
func TestShutdownTellsEveryTransport(t *testing.T) {
	o := rtOptions()
	st := running(t, memory.New(o))
	h := handlers.New(rtConfig(st, o))
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	project := newProject()

	sse := openSSE(t, ts.URL+"/events/"+project+"?user_id=u1", nil)
	sse.log.waitFor(t, "sse snapshot", func(e wireEvent) bool { return e.Name == "snapshot" })
	ws := dialWS(t, ts.URL).start()
	if r := ws.call("join_project", map[string]any{"project_id": project, "user_id": "u2"}); r["ok"] != true {
		t.Fatalf("ws join %v", r)
	}
	sio := dialSIO(t, ts.URL)
	if r := sio.call("join_project", map[string]any{"project_id": project, "user_id": "u3"}); r["ok"] != true {
		t.Fatalf("sio join %v", r)
	}

	closed := make(chan error, 1)
	go func() { closed <- h.Close() }()
	for name, l := range map[string]*eventLog{"sse": sse.log, "ws": ws.log, "sio": sio.log} {
		select {
		case <-l.ended:
		case <-time.After(rtWait):
			t.Fatalf("%s outlived the server", name)
		}
	}
	select {
	case <-closed:
	case <-time.After(rtWait):
		t.Fatal("Close did not return")
	}

	var lines []string
	for len(sse.lines) > 0 {
		lines = append(lines, <-sse.lines)
	}
	if got := strings.Join(lines, "\n"); !strings.Contains(got, "retry: 2000\n: server shutting down, reconnect") {
		t.Errorf("sse ended with %q", got)
	}
	if err := sse.log.endErr(); err != io.EOF {
		t.Errorf("sse: %v, want a clean end of the chunked body (EOF)", err)
	}
	var ce *websocket.CloseError
	if err := ws.log.endErr(); !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("ws closed with %v, want 1001", err)
	}

	res, err := http.Get(ts.URL + "/events/" + project)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "store_unavailable") {
		t.Errorf("SSE after Close: %d %s", res.StatusCode, body)
	}
	if _, res, err := websocket.DefaultDialer.Dial(wsURL(ts.URL, "/ws"), nil); err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("WebSocket after Close: %v %v", res, err)
	}
}

// TestWSFrameLimits: a frame over limits.max_body_bytes gets a
// payload_too_large error and the connection stays; one over 1 MiB closes
// it with 1009.
func TestWSFrameLimits(t *testing.T) {
	a := memoryInstances(t, rtOptions(), func(c *handlers.Config) {
		c.MaxBodyBytes = 1024
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	})[0]
	ws := dialWS(t, a.url).start()
	_ = ws.conn.WriteMessage(websocket.TextMessage, []byte(`{"event":"lock","data":{"file":"`+strings.Repeat("a", 4096)+`"}}`))
	if e := ws.nextError(); e["code"] != "payload_too_large" {
		t.Fatalf("too large: %v", e)
	}
	if r := ws.call("join_project", map[string]any{"project_id": newProject(), "user_id": "u1"}); r["ok"] != true {
		t.Fatalf("after payload_too_large: %v", r)
	}
	_ = ws.conn.WriteMessage(websocket.TextMessage, make([]byte, 1<<20+1))
	select {
	case <-ws.log.ended:
	case <-time.After(rtWait):
		t.Fatal("a frame over 1 MiB did not close the connection")
	}
	var ce *websocket.CloseError
	if err := ws.log.endErr(); !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Errorf("closed with %v, want 1009", err)
	}
}

// endErr is why the log's stream ended.
func (l *eventLog) endErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// rawStatusErr is a store whose Status fails with an error that is not a
// *filelock.Error (a backend that did not answer properly).
type rawStatusErr struct{ store.Store }

func (rawStatusErr) Status(context.Context, string) (filelock.Status, error) {
	return filelock.Status{}, errors.New("connection reset by peer")
}

// TestStreamStoreErrorIsUnavailable: a store error that is not a
// *filelock.Error reaches a stream's client as store_unavailable (503), as
// it does a REST call, never as an internal error.
func TestStreamStoreErrorIsUnavailable(t *testing.T) {
	o := rtOptions()
	st := rawStatusErr{running(t, memory.New(o))}
	a := startServer(t, rtConfig(st, o))
	project := newProject()
	if r := a.do(http.MethodGet, "/status/"+project, ""); r.status != http.StatusServiceUnavailable {
		t.Fatalf("REST status: %d %s", r.status, r.body)
	}
	sse := openSSE(t, a.url+"/events/"+project, nil)
	if sse.res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("SSE: %d, want 503", sse.res.StatusCode)
	}
	ws := dialWS(t, a.url).start()
	if r := ws.call("join_project", map[string]any{"project_id": project, "user_id": "u1"}); errCode(r) != "store_unavailable" {
		t.Errorf("ws join: %v", r)
	}
}

// TestSocketIOUnknownEvent: an event of no known name is answered as over
// WebSocket: through its acknowledgement when it asked for one, else with
// an error event; the socket stays usable.
func TestSocketIOUnknownEvent(t *testing.T) {
	o := rtOptions()
	st := running(t, memory.New(o))
	ts := httptest.NewServer(handlers.New(rtConfig(st, o)))
	t.Cleanup(ts.Close)
	sio := dialSIO(t, ts.URL)
	r := sio.call("nonsense", map[string]any{"x": 1})
	if e, _ := r["error"].(map[string]any); r["ok"] != false || e["code"] != "invalid_request" || e["field"] != "event" {
		t.Fatalf("unknown event with ack: %v", r)
	}
	sio.emit("nonsense", nil)
	select {
	case e := <-sio.errs:
		if e["code"] != "invalid_request" {
			t.Fatalf("unknown event without ack: %v", e)
		}
	case <-time.After(rtWait):
		t.Fatal("no error event for an unknown event without ack")
	}
	if r := sio.call("join_project", map[string]any{"project_id": newProject(), "user_id": "u1"}); r["ok"] != true {
		t.Fatalf("join after unknown events: %v", r)
	}
}
