package handlers

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"filelock"
	"filelock/events"
	"filelock/metrics"
	"filelock/session"
)

// getEvents serves GET /events/{project_id} (SPEC §5 SSE).
//
//	@Summary		Event stream of a project (SSE)
//	@Description	text/event-stream of the project's events (lock_acquired, lock_released, user_joined, user_left,
//	@Description	snapshot). Each event is "id: <event_id>", "event: <name>", "data: <JSON>". Without a resume id the
//	@Description	stream starts with a snapshot; with Last-Event-ID (or last_event_id) still in the history it replays
//	@Description	what came after it, otherwise it sends a fresh snapshot. A ": keepalive" comment every sse.keepalive.
//	@Description	With user_id the stream counts as the user's connection for presence and the disconnect release.
//	@Description	In auth.mode jwt the stream ends when its token expires; reopen it with a fresh token.
//	@Tags			events
//	@Produce		text/event-stream
//	@Param			project_id		path	string	true	"project id"
//	@Param			user_id			query	string	false	"the user this stream belongs to (presence)"
//	@Param			last_event_id	query	string	false	"resume after this event id (as the Last-Event-ID header)"
//	@Param			Last-Event-ID	header	string	false	"resume after this event id"
//	@Param			token			query	string	false	"JWT (auth.mode jwt)"
//	@Success		200	{string}	string	"the event stream"
//	@Failure		400	{object}	ErrorBody	"invalid_request"
//	@Failure		401	{object}	ErrorBody	"unauthorized (auth.mode jwt)"
//	@Failure		403	{object}	ErrorBody	"forbidden or user_mismatch (auth.mode jwt), or an Origin not allowed by cors.allowed_origins"
//	@Failure		429	{object}	ErrorBody	"rate_limited: limits.max_connections or limits.max_connections_per_user reached"
//	@Failure		503	{object}	ErrorBody	"store_unavailable"
//	@Router			/events/{project_id} [get]
func (s *Server) getEvents(c *gin.Context) {
	r := c.Request
	if !s.cfg.CORS.CheckOrigin(r) {
		s.writeError(c, errOrigin)
		return
	}
	who, err := s.identify(r)
	if err != nil {
		s.writeError(c, err)
		return
	}
	projectID := c.Param("project_id")
	if err := filelock.ValidateProjectID(projectID); err != nil {
		s.writeError(c, err)
		return
	}
	user, err := s.streamUser(who, projectID, c.Query("user_id"), false)
	if err != nil {
		s.writeError(c, err)
		return
	}
	release, err := s.acquireConn(who, user)
	if err != nil {
		s.writeError(c, err)
		return
	}
	resume := r.Header.Get("Last-Event-ID")
	if resume == "" {
		resume = c.Query("last_event_id")
	}
	t := &sseStream{timeout: s.cfg.StreamWriteTimeout, delivered: s.metrics.EventsDelivered}
	end := s.sessionEnd(metrics.SSE, release)
	ss, err := s.rt.sessions.Open(t, s.backend(who, sseFormat), session.Options{Keepalive: s.cfg.SSEKeepalive,
		Expires: s.verifier.ValidUntil(who), OnEnd: end})
	if err != nil {
		end(session.ClientGone)
		s.writeError(c, err)
		return
	}
	initial, start, err := ss.Join(r.Context(), projectID, user, resume)
	if err != nil {
		ss.Close(session.ClientGone)
		s.writeError(c, err)
		return
	}
	if err := t.open(c); err != nil {
		ss.Close(session.ClientGone)
		return
	}
	if t.Write(initial) != nil {
		ss.Close(session.WriteFailed)
		return
	}
	start()
	if t.takenOver() {
		return // the session runs without this goroutine
	}
	select { // net/http still owns the connection (HTTP/2): serve it from here
	case <-ss.Done():
	case <-r.Context().Done():
		ss.Close(session.ClientGone)
		<-ss.Done()
	}
}

// sseStream is the SSE framing of a session (SPEC §5). Once the response
// headers are out, the stream takes the connection over from net/http
// (HTTP/1.1): an idle stream then holds no goroutine and no buffer, only
// the connection; each write is one chunk of the chunked body, written
// straight from the shared frames and bounded by the write timeout, and the
// session's shared timer probes the connection for a client that has gone.
// Where the connection cannot be taken over (HTTP/2), it writes through the
// ResponseWriter instead and its handler stays.
type sseStream struct {
	timeout   time.Duration
	delivered func(transport string, n int) // metrics

	mu     sync.Mutex // one write at a time; held by open
	conn   net.Conn   // taken over; nil: w
	dl     writeDeadline
	w      io.Writer
	flush  func() error
	closed bool

	// The connection taken over, for the probe and for Close not to wait
	// for a stalled write.
	taken atomic.Pointer[sseTaken]
}

type sseTaken struct {
	conn net.Conn
	gone func() bool
}

const sseRetry = "retry: 2000\n\n"

// open writes the response headers and the stream's first line.
func (t *sseStream) open(c *gin.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return net.ErrClosed
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	c.Status(http.StatusOK)
	if c.Request.ProtoMajor == 1 && c.Request.ProtoMinor >= 1 { // chunked bodies are HTTP/1.1's
		if conn, brw, err := c.Writer.Hijack(); err == nil {
			return t.takeOver(c, conn, brw)
		}
	}
	rc := http.NewResponseController(c.Writer)
	// A stream outlives the server's read and write timeouts; each write
	// gets its own deadline instead, so a stalled client is cut off.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	t.w = c.Writer
	t.flush = func() error {
		_ = rc.SetWriteDeadline(time.Now().Add(t.timeout))
		return rc.Flush()
	}
	return t.writeLocked([]byte(sseRetry))
}

func (t *sseStream) takeOver(c *gin.Context, conn net.Conn, brw *bufio.ReadWriter) error {
	_ = conn.SetReadDeadline(time.Time{})
	head := make([]byte, 0, 512)
	head = append(head, "HTTP/1.1 200 OK\r\n"...)
	h := c.Writer.Header()
	h.Set("Transfer-Encoding", "chunked")
	h.Set("Connection", "close") // the stream ends with the connection
	for k, vs := range h {
		for _, v := range vs {
			head = append(head, k...)
			head = append(head, ": "...)
			head = append(head, v...)
			head = append(head, "\r\n"...)
		}
	}
	head = append(head, "\r\n"...)
	head = appendChunk(head, []byte(sseRetry))
	t.dl.set(conn, time.Now().Add(t.timeout))
	if _, err := conn.Write(head); err != nil {
		conn.Close()
		return err
	}
	_ = brw // its buffers go with it: the stream reads nothing and writes unbuffered
	t.conn, t.w = conn, conn
	gone, ok := session.ConnGone(conn)
	if !ok {
		gone = parkedReader(conn)
	}
	t.taken.Store(&sseTaken{conn: conn, gone: gone})
	return nil
}

// parkedReader reads conn until it fails, for a connection without a
// non-blocking probe; the probe reports that failure.
func parkedReader(conn net.Conn) func() bool {
	var mu sync.Mutex
	done := false
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		mu.Lock()
		done = true
		mu.Unlock()
	}()
	return func() bool {
		mu.Lock()
		defer mu.Unlock()
		return done
	}
}

func appendChunk(b, data []byte) []byte {
	b = strconv.AppendInt(b, int64(len(data)), 16)
	b = append(b, "\r\n"...)
	b = append(b, data...)
	return append(b, "\r\n"...)
}

func (t *sseStream) takenOver() bool { return t.taken.Load() != nil }

func (t *sseStream) Name() string { return "sse" }

// Gone reports a client that closed a taken-over stream.
func (t *sseStream) Gone() bool {
	tk := t.taken.Load()
	return tk != nil && tk.gone()
}

// Write writes the frames' events in one chunk, with one system call.
func (t *sseStream) Write(frames []*session.Frame) error {
	n, k := 0, 0 // bytes and events (a frame that failed to encode is skipped)
	for _, f := range frames {
		if b, err := f.Bytes(sseFormat); err == nil {
			n += len(b)
			k++
		}
	}
	if n == 0 {
		return nil // (a chunk of none would end the body)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return net.ErrClosed
	}
	if t.conn == nil {
		for _, f := range frames {
			if b, err := f.Bytes(sseFormat); err == nil {
				if _, err := t.w.Write(b); err != nil {
					return err
				}
			}
		}
		if err := t.flush(); err != nil {
			return err
		}
		t.delivered(metrics.SSE, k)
		return nil
	}
	var hdr [18]byte
	h := append(strconv.AppendInt(hdr[:0], int64(n), 16), '\r', '\n')
	t.dl.extend(t.conn, t.timeout)
	var err error
	if total := len(h) + n + len(crlf); total <= smallWrite {
		// The usual case: copied into one pooled buffer, nothing allocated.
		p := writeBufs.Get().(*[]byte)
		b := append((*p)[:0], h...)
		for _, f := range frames {
			if x, e := f.Bytes(sseFormat); e == nil {
				b = append(b, x...)
			}
		}
		b = append(b, crlf...)
		_, err = t.conn.Write(b)
		*p = b[:0]
		writeBufs.Put(p)
	} else {
		out := make(net.Buffers, 0, k+2)
		out = append(out, h)
		for _, f := range frames {
			if x, e := f.Bytes(sseFormat); e == nil {
				out = append(out, x)
			}
		}
		out = append(out, crlf)
		_, err = out.WriteTo(t.conn)
	}
	if err != nil {
		return err
	}
	t.delivered(metrics.SSE, k)
	return nil
}

var crlf = []byte("\r\n")

// writeLocked writes one block (a comment) to the stream.
func (t *sseStream) writeLocked(b []byte) error {
	if t.conn == nil {
		if _, err := t.w.Write(b); err != nil {
			return err
		}
		return t.flush()
	}
	t.dl.extend(t.conn, t.timeout)
	_, err := t.conn.Write(appendChunk(make([]byte, 0, len(b)+8), b))
	return err
}

var sseKeepalive = []byte(": keepalive\n\n")

// Keepalive writes the ": keepalive" comment. Without wait it writes only
// into a taken-over connection that has room for it at once.
func (t *sseStream) Keepalive(wait bool) error {
	if !wait {
		if !t.mu.TryLock() {
			return session.ErrWouldBlock
		}
	} else {
		t.mu.Lock()
	}
	defer t.mu.Unlock()
	if t.closed {
		return net.ErrClosed
	}
	if wait || t.conn == nil {
		if !wait {
			return session.ErrWouldBlock
		}
		return t.writeLocked(sseKeepalive)
	}
	return writeAtOnce(t.conn, &t.dl, sseKeepaliveChunk)
}

var sseKeepaliveChunk = appendChunk(nil, sseKeepalive)

// Close ends the stream: after a ": token expired" comment when its token
// expired (SPEC §6), after a retry and a comment when the server shuts down
// (EventSource reconnects, to another instance), at once otherwise. Every
// reason ends it as a finished chunked body, so the client sees a clean
// end and resumes from its last event id.
func (t *sseStream) Close(r session.Reason) {
	if r == session.ClientGone || r == session.WriteFailed {
		if tk := t.taken.Load(); tk != nil {
			_ = tk.conn.Close() // a write in progress fails at once
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	if t.w == nil {
		return // never opened
	}
	switch r {
	case session.TokenExpired:
		_ = t.writeLocked([]byte(": token expired\n\n"))
	case session.Shutdown:
		_ = t.writeLocked([]byte("retry: 2000\n: server shutting down, reconnect\n\n"))
	}
	if t.conn != nil {
		if r != session.ClientGone && r != session.WriteFailed {
			t.dl.extend(t.conn, t.timeout)
			_, _ = t.conn.Write([]byte("0\r\n\r\n"))
		}
		_ = t.conn.Close()
	}
}

// sseFormat is an event as an SSE block, encoded once per event and shared
// by every stream. The data is one line: JSON escapes every control
// character, and identifiers cannot hold any.
var sseFormat = events.NewFormat("sse", encodeSSE)

func encodeSSE(ev *filelock.Event) ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, "\nevent: "...)
	b = append(b, ev.Type...)
	b = append(b, "\ndata: "...)
	b = appendEventData(b, ev)
	return append(b, "\n\n"...), nil
}
