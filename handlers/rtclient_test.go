package handlers_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Test clients of the realtime transports. Each collects the events it
// receives as wireEvents in arrival order.

const rtWait = 10 * time.Second

// wireEvent is an event as a client saw it.
type wireEvent struct {
	ID   string // SSE id: line ("" for WebSocket and Socket.IO)
	Name string
	Data map[string]any
}

func (e wireEvent) eventID() string { s, _ := e.Data["event_id"].(string); return s }
func (e wireEvent) str(k string) string {
	s, _ := e.Data[k].(string)
	return s
}

// eventLog is what a client received, safe for concurrent use.
type eventLog struct {
	mu     sync.Mutex
	events []wireEvent
	err    error // why the stream ended
	ended  chan struct{}
}

func newEventLog() *eventLog { return &eventLog{ended: make(chan struct{})} }

func (l *eventLog) add(e wireEvent) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) end(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
	close(l.ended)
}

func (l *eventLog) all() []wireEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]wireEvent(nil), l.events...)
}

// waitFor polls until the log holds an event matching f and returns it.
func (l *eventLog) waitFor(t *testing.T, what string, f func(wireEvent) bool) wireEvent {
	t.Helper()
	deadline := time.Now().Add(rtWait)
	for {
		for _, e := range l.all() {
			if f(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; got %v", what, names(l.all()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitEventID waits until the log holds the event with id.
func (l *eventLog) waitEventID(t *testing.T, id string) {
	t.Helper()
	l.waitFor(t, "event "+id, func(e wireEvent) bool { return e.eventID() == id })
}

func names(evs []wireEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Name + "#" + e.eventID()
	}
	return out
}

// --- SSE ---

type sseClient struct {
	log    *eventLog
	res    *http.Response
	cancel context.CancelFunc
	first  string // the stream's first line
	lines  chan string
}

// openSSE opens GET url and reads it in the background.
func openSSE(t *testing.T, url string, header http.Header) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &sseClient{log: newEventLog(), res: res, cancel: cancel, lines: make(chan string, 1024)}
	t.Cleanup(c.close)
	if res.StatusCode != http.StatusOK {
		return c
	}
	r := bufio.NewReader(res.Body)
	first, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("sse: %v", err)
	}
	c.first = strings.TrimSuffix(first, "\n")
	go func() {
		var ev wireEvent
		var err error
		for {
			var line string
			line, err = r.ReadString('\n')
			if err != nil {
				break
			}
			line = strings.TrimSuffix(line, "\n")
			select {
			case c.lines <- line:
			default:
			}
			switch {
			case line == "":
				if ev.Name != "" {
					c.log.add(ev)
				}
				ev = wireEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Name = line[7:]
			case strings.HasPrefix(line, "data: "):
				if jerr := json.Unmarshal([]byte(line[6:]), &ev.Data); jerr != nil {
					err = fmt.Errorf("bad data line %q: %v", line, jerr)
				}
			}
			if err != nil {
				break
			}
		}
		c.log.end(err)
	}()
	return c
}

func (c *sseClient) close() {
	c.cancel()
	c.res.Body.Close()
}

// --- WebSocket ---

type wsClient struct {
	t       *testing.T
	conn    *websocket.Conn
	log     *eventLog
	mu      sync.Mutex
	replies map[string]chan map[string]any
	errs    chan map[string]any // error events
	ref     int
}

func dialWS(t *testing.T, base string) *wsClient {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &wsClient{t: t, conn: conn, log: newEventLog(), replies: map[string]chan map[string]any{}, errs: make(chan map[string]any, 100)}
	t.Cleanup(func() { conn.Close() })
	return c
}

// start reads frames in the background (a stalled client never calls it).
func (c *wsClient) start() *wsClient {
	go func() {
		var err error
		for {
			var f struct {
				Event string          `json:"event"`
				Data  map[string]any  `json:"data"`
				Ref   json.RawMessage `json:"ref"`
			}
			if err = c.conn.ReadJSON(&f); err != nil {
				break
			}
			switch f.Event {
			case "reply":
				var ref string
				_ = json.Unmarshal(f.Ref, &ref)
				c.mu.Lock()
				ch := c.replies[ref]
				c.mu.Unlock()
				if ch != nil {
					ch <- f.Data
				}
			case "error":
				c.errs <- f.Data
			default:
				c.log.add(wireEvent{Name: f.Event, Data: f.Data})
			}
		}
		c.log.end(err)
	}()
	return c
}

// call sends a message with a ref and waits for its reply's data.
func (c *wsClient) call(event string, data any) map[string]any {
	c.t.Helper()
	c.mu.Lock()
	c.ref++
	ref := "r" + strconv.Itoa(c.ref)
	ch := make(chan map[string]any, 1)
	c.replies[ref] = ch
	c.mu.Unlock()
	if err := c.conn.WriteJSON(map[string]any{"event": event, "data": data, "ref": ref}); err != nil {
		c.t.Fatal(err)
	}
	select {
	case r := <-ch:
		return r
	case <-time.After(rtWait):
		c.t.Fatalf("no reply to %s", event)
	}
	return nil
}

// send sends a message without ref.
func (c *wsClient) send(event string, data any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(map[string]any{"event": event, "data": data}); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wsClient) nextError() map[string]any {
	c.t.Helper()
	select {
	case e := <-c.errs:
		return e
	case <-time.After(rtWait):
		c.t.Fatal("no error event")
	}
	return nil
}

// --- Socket.IO (a minimal v4 client over the websocket transport) ---

type sioClient struct {
	t    *testing.T
	conn *websocket.Conn
	log  *eventLog
	wmu  sync.Mutex
	mu   sync.Mutex
	acks map[int]chan map[string]any
	errs chan map[string]any
	id   int
}

func dialSIO(t *testing.T, base string) *sioClient {
	t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket"
	conn, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &sioClient{t: t, conn: conn, log: newEventLog(), acks: map[int]chan map[string]any{}, errs: make(chan map[string]any, 100)}
	_ = conn.SetReadDeadline(time.Now().Add(rtWait))
	if _, b, err := conn.ReadMessage(); err != nil || b[0] != '0' {
		t.Fatalf("sio open: %q %v", b, err)
	}
	c.write("40")
	if _, b, err := conn.ReadMessage(); err != nil || !strings.HasPrefix(string(b), "40") {
		t.Fatalf("sio connect: %q %v", b, err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	go c.read()
	return c
}

func (c *sioClient) write(s string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.WriteMessage(websocket.TextMessage, []byte(s))
}

func (c *sioClient) read() {
	var err error
	for {
		var b []byte
		if _, b, err = c.conn.ReadMessage(); err != nil {
			break
		}
		s := string(b)
		switch {
		case s == "2":
			c.write("3")
		case strings.HasPrefix(s, "42"): // event: 42["name",{data}]
			var arr []json.RawMessage
			if json.Unmarshal([]byte(s[2:]), &arr) != nil || len(arr) < 1 {
				continue
			}
			var name string
			var data map[string]any
			_ = json.Unmarshal(arr[0], &name)
			if len(arr) > 1 {
				_ = json.Unmarshal(arr[1], &data)
			}
			if name == "error" {
				c.errs <- data
			} else {
				c.log.add(wireEvent{Name: name, Data: data})
			}
		case strings.HasPrefix(s, "43"): // ack: 43<id>[{data}]
			i := strings.IndexByte(s, '[')
			id, _ := strconv.Atoi(s[2:i])
			var arr []map[string]any
			_ = json.Unmarshal([]byte(s[i:]), &arr)
			c.mu.Lock()
			ch := c.acks[id]
			c.mu.Unlock()
			if ch != nil && len(arr) > 0 {
				ch <- arr[0]
			}
		case s == "41":
			err = fmt.Errorf("disconnected by server")
		}
		if err != nil {
			break
		}
	}
	c.log.end(err)
}

// call emits an event with an ack and waits for the ack's argument.
func (c *sioClient) call(event string, data any) map[string]any {
	c.t.Helper()
	c.mu.Lock()
	c.id++
	id := c.id
	ch := make(chan map[string]any, 1)
	c.acks[id] = ch
	c.mu.Unlock()
	b, _ := json.Marshal([]any{event, data})
	c.write("42" + strconv.Itoa(id) + string(b))
	select {
	case r := <-ch:
		return r
	case <-time.After(rtWait):
		c.t.Fatalf("no ack to %s", event)
	}
	return nil
}

func (c *sioClient) emit(event string, data any) {
	b, _ := json.Marshal([]any{event, data})
	c.write("42" + string(b))
}
