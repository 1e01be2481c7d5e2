package handlers_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"filelock"
	"filelock/handlers"
)

const readTimeout = 400 * time.Millisecond

// dribble opens a raw TCP connection to the server, sends head (request
// line and headers), then the body one byte every 50 ms for as long as the
// server takes it. It returns the connection's reader and how many body
// bytes went out before the server answered or closed.
type dribbler struct {
	conn net.Conn
	r    *bufio.Reader
	sent chan int
}

func dribble(t *testing.T, s *server, head string, body string) *dribbler {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	d := &dribbler{conn: conn, r: bufio.NewReader(conn), sent: make(chan int, 1)}
	go func() {
		n := 0
		for ; n < len(body); n++ {
			if _, err := conn.Write([]byte{body[n]}); err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond) // the dribble itself, not a wait
		}
		d.sent <- n
	}()
	return d
}

// closedWithin waits until the server closes the connection, within bound.
func (d *dribbler) closedWithin(t *testing.T, bound time.Duration) {
	t.Helper()
	_ = d.conn.SetReadDeadline(time.Now().Add(bound))
	_, err := io.Copy(io.Discard, d.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", bound)
	}
}

// TestReadTimeout: on a non-streaming route the whole request must arrive
// within http.read_timeout: a body dribbled a byte at a time is cut off (a
// route that reads it answers 400 field body) and the connection closed,
// long before the body would have been complete; streams outlive it.
func TestReadTimeout(t *testing.T) {
	s := noneServer(t, func(c *handlers.Config) { c.ReadTimeout = readTimeout })
	body := `{"project_id":"p","file":"a.jpg","user_id":"u1"}` + strings.Repeat(" ", 150) // 10 s at 20 bytes/s
	head := func(method, path string) string {
		return method + " " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n"
	}
	// Streams opened first, used after the dribbles took their time.
	sse := openSSE(t, s.url+"/events/stream-p", nil)
	sse.log.waitFor(t, "snapshot", func(e wireEvent) bool { return e.Name == "snapshot" })
	ws := dialWS(t, s.url).start()
	replyOK(t, "ws join", ws.call("join_project", map[string]any{"project_id": "stream-p", "user_id": "w"}))
	sio := dialSIO(t, s.url)
	replyOK(t, "sio join", sio.call("join_project", map[string]any{"project_id": "stream-p", "user_id": "x"}))
	opened := time.Now()

	for _, path := range []string{"/lock", "/claim", "/unlock", "/heartbeat"} {
		start := time.Now()
		d := dribble(t, s, head(http.MethodPost, path), body)
		_ = d.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		res, err := http.ReadResponse(d.r, nil)
		if err != nil {
			t.Fatalf("%s: no answer to a dribbled body: %v", path, err)
		}
		b, _ := io.ReadAll(res.Body)
		var e errorBody
		if res.StatusCode != http.StatusBadRequest || json.Unmarshal(b, &e) != nil || e.Error.Code != filelock.EInvalid || e.Error.Field != "body" {
			t.Errorf("%s: %d %s, want 400 invalid_request field body", path, res.StatusCode, b)
		}
		d.closedWithin(t, 5*time.Second)
		took := time.Since(start)
		if n := <-d.sent; n >= len(body) || took > 4*time.Second || took < readTimeout {
			t.Errorf("%s: cut after %v and %d of %d bytes", path, took, n, len(body))
		}
		t.Logf("%s: cut after %v", path, took)
	}
	// Routes that do not read a body, and no route at all: the connection
	// is closed all the same.
	for _, path := range []string{"/healthz", "/status/p", "/nowhere", "/wsx"} {
		method := http.MethodGet
		if path == "/nowhere" || path == "/wsx" {
			method = http.MethodPost
		}
		start := time.Now()
		d := dribble(t, s, head(method, path), body)
		d.closedWithin(t, 5*time.Second)
		if n := <-d.sent; n >= len(body) {
			t.Errorf("%s %s: the whole dribbled body was taken (%v)", method, path, time.Since(start))
		}
	}
	if st := s.status("p"); len(st.Locks) != 0 {
		t.Errorf("a cut request took a lock: %+v", st.Locks)
	}
	// A whole request in time, over a slow link, is fine.
	d := dribble(t, s, head(http.MethodPost, "/lock"), "")
	if _, err := io.WriteString(d.conn, body); err != nil {
		t.Fatal(err)
	}
	_ = d.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if res, err := http.ReadResponse(d.r, nil); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("prompt request: %v %v", res, err)
	}

	// The streams opened before all that are still live.
	if lived := time.Since(opened); lived < 3*readTimeout {
		t.Fatalf("streams lived only %v", lived)
	}
	replyOK(t, "ws lock after the read timeout", ws.call("lock", map[string]any{"project_id": "stream-p", "file": "w.jpg"}))
	replyOK(t, "sio lock after the read timeout", sio.call("lock", map[string]any{"project_id": "stream-p", "file": "x.jpg"}))
	sse.log.waitFor(t, "lock_acquired x.jpg", func(e wireEvent) bool { return e.Name == "lock_acquired" && e.str("file") == "x.jpg" })
}
