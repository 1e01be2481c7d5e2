package handlers

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"filelock"
	"filelock/events"
	"filelock/metrics"
	"filelock/session"
)

// getWS serves GET /ws.
//
//	@Summary		WebSocket
//	@Description	Text frames of one JSON object each: {"event", "data", "ref"?}. Client messages: join_project
//	@Description	{project_id, user_id, last_event_id?}, leave_project {project_id}, heartbeat {project_id?}, lock {project_id,
//	@Description	file, release_previous?, ttl_seconds?}, claim {project_id, files, ttl_seconds?}, unlock {project_id, file,
//	@Description	token?}. A message with ref is answered
//	@Description	{"event":"reply","ref":…,"data":{"ok":true,…}} or {"ok":false,"error":{…},"lock"?}; errors of
//	@Description	messages without ref come as {"event":"error","data":{"code","message"}}. The server sends the
//	@Description	joined projects' events, pings every 25 s and closes a connection silent for 60 s.
//	@Description	In auth.mode jwt the connection is closed with code 4001 "token expired" when its token expires.
//	@Tags			events
//	@Param			token	query	string	false	"JWT (auth.mode jwt)"
//	@Success		101
//	@Failure		401	{object}	ErrorBody	"unauthorized (auth.mode jwt)"
//	@Failure		403	{object}	ErrorBody	"forbidden: an Origin not allowed by cors.allowed_origins"
//	@Failure		429	{object}	ErrorBody	"rate_limited: limits.max_connections or limits.max_connections_per_user reached"
//	@Router			/ws [get]
func (s *Server) getWS(c *gin.Context) {
	if !s.cfg.CORS.CheckOrigin(c.Request) {
		s.writeError(c, errOrigin)
		return
	}
	who, err := s.identify(c.Request)
	if err != nil {
		s.writeError(c, err)
		return
	}
	release, err := s.acquireConn(who, "")
	if err != nil {
		s.writeError(c, err)
		return
	}
	t := &wsConn{s: s, wmu: make(chan struct{}, 1)}
	t.active.Store(time.Now().UnixNano())
	end := s.sessionEnd(metrics.WS, release)
	ss, err := s.rt.sessions.Open(t, s.backend(who, wsFormat), session.Options{Keepalive: s.cfg.WSPingInterval,
		KeepaliveWhenBusy: true, Expires: s.verifier.ValidUntil(who), OnEnd: end})
	if err != nil {
		end(session.ClientGone)
		s.writeError(c, err)
		return
	}
	if !t.upgrade(c) {
		ss.Close(session.ClientGone)
		return // the upgrader has answered
	}
	// The reader gets a goroutine of its own, so that net/http's (with its
	// buffers and the request) ends here.
	go t.serve(ss)
}

// wsConn is the WebSocket framing of a session (SPEC §5): text frames of
// one JSON object each. Its handler goroutine reads the client's messages
// and runs them one at a time, writing each reply itself; events and pings
// are written by the session. Writes are serialized and each is bounded by
// Config.StreamWriteTimeout; a client silent for Config.WSIdleTimeout is
// closed.
type wsConn struct {
	s *Server

	wmu    chan struct{} // one write at a time: a lock that can be tried and waited for
	dl     writeDeadline // guarded by wmu
	nc     atomic.Pointer[net.Conn]
	closed atomic.Bool
	active atomic.Int64 // unix nanos of the last bytes read

	life sync.Mutex     // orders watching and closing
	w    *session.Watch // guarded by life
}

// Gone reports a client silent for longer than Config.WSIdleTimeout (it
// answers no ping); the manager then closes it.
func (t *wsConn) Gone() bool {
	return time.Now().UnixNano()-t.active.Load() > int64(t.s.cfg.WSIdleTimeout)
}

// upgrade answers the handshake (gorilla/websocket) and keeps only the
// connection: frames are read (wsFrames) and written (wsFrame) here, so an
// idle connection holds no buffer of the library's.
func (t *wsConn) upgrade(c *gin.Context) bool {
	conn, err := t.s.rt.upgrader.Upgrade(c.Writer, c.Request, nil)
	if err != nil {
		return false
	}
	nc := conn.NetConn()
	t.nc.Store(&nc)
	if t.closed.Load() { // closed while upgrading
		_ = nc.Close()
		return false
	}
	return true
}

func (t *wsConn) conn() net.Conn {
	if p := t.nc.Load(); p != nil {
		return *p
	}
	return nil
}

// wsHeader appends the header of an unmasked server frame (RFC 6455 §5.2).
func wsHeader(b []byte, op byte, n int) []byte {
	b = append(b, 0x80|op)
	switch {
	case n < 126:
		return append(b, byte(n))
	case n < 1<<16:
		return append(b, 126, byte(n>>8), byte(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
}

var errWSClosed = errors.New("websocket: connection closed")

// writeFrames writes one frame of op per payload, in one write, straight
// from the payloads (shared frames are never copied).
func (t *wsConn) writeFrames(op byte, payloads ...[]byte) error {
	nc := t.conn()
	if nc == nil || t.closed.Load() {
		return errWSClosed
	}
	hdrs := make([]byte, 0, 10*len(payloads))
	out := make(net.Buffers, 0, 2*len(payloads))
	n := 0
	for _, p := range payloads {
		i := len(hdrs)
		hdrs = wsHeader(hdrs, op, len(p))
		out = append(out, hdrs[i:len(hdrs):len(hdrs)], p)
		n += len(p)
	}
	t.wmu <- struct{}{}
	defer func() { <-t.wmu }()
	t.dl.extend(nc, t.s.cfg.StreamWriteTimeout)
	return writeBuffers(nc, out, n+len(hdrs))
}

// serve reads the client's messages until the connection fails or closes.
// It waits for data without a buffer (session.WaitReadable), reads what
// came with a pooled one and parses it (wsFrames), and runs its messages
// one at a time, on a goroutine of its own (step), so the parked reader's
// stack stays small. Pings are answered, and any frame counts as a sign of life.
func (t *wsConn) serve(ss *session.Session) {
	nc := t.conn()
	r := &wsReader{t: t, ss: ss, nc: nc, reason: session.ClientGone,
		frames: wsFrames{bodyLimit: t.s.cfg.MaxBodyBytes, readLimit: max(1<<20, 4*t.s.cfg.MaxBodyBytes)}}
	var canReadNow bool
	if r.readNow, canReadNow = session.ReadNow(nc); canReadNow && t.watch(r) {
		return // the manager's poller calls r.ready when data comes
	}
	readByte, canWait := session.WaitReadable(nc)
	for {
		if canWait {
			b, err := readByte() // parked here while idle: keep this frame small
			if err != nil {
				r.failed(err)
				break
			}
			r.first, r.hasFirst = b, true
		}
		if !r.step() {
			break
		}
	}
	ss.Close(r.reason)
}

// watch hands the reader to the manager's poller; false where there is
// none (then the reader has a goroutine of its own).
func (t *wsConn) watch(r *wsReader) bool {
	t.life.Lock()
	defer t.life.Unlock()
	if t.closed.Load() {
		return true // Close has run: nothing to read
	}
	r.polled = true // before the first ready
	w, ok := t.s.rt.sessions.Watch(r.nc, r.ready)
	if ok {
		t.w = w
	} else {
		r.polled = false // not watched: no ready runs
	}
	return ok
}

// ready reads what came, acts on it and watches the connection again.
func (r *wsReader) ready() {
	for {
		more, ok := r.read()
		if !ok {
			r.ss.Close(r.reason)
			return
		}
		if !more {
			break
		}
	}
	r.t.life.Lock()
	w := r.t.w
	r.t.life.Unlock()
	if w == nil || w.Rearm() != nil {
		r.ss.Close(session.ClientGone)
	}
}

// step runs read on a goroutine of its own: the parked reader's stack then
// never grows past what waiting takes (a goroutine's stack, once grown,
// stays grown).
func (r *wsReader) step() bool {
	done := make(chan bool, 1)
	go func() { _, ok := r.read(); done <- ok }()
	return <-done
}

// wsReader is the state of a WebSocket's reader between reads.
type wsReader struct {
	t        *wsConn
	ss       *session.Session
	nc       net.Conn
	polled   bool // the manager's poller calls ready; else the reader has a goroutine of its own
	frames   wsFrames
	evs      []wsEvent
	reason   session.Reason
	first    byte // read by the wait, not parsed yet
	hasFirst bool
	readNow  func([]byte) (int, error)
}

// read reads what has come (watched: without waiting) and acts on it;
// more says a watched reader may find more; ok false ends the connection.
func (r *wsReader) read() (more, ok bool) {
	buf := wsReadBuffers.Get().(*[]byte)
	defer wsReadBuffers.Put(buf)
	b, n := *buf, 0
	if r.hasFirst {
		b[0], n, r.hasFirst = r.first, 1, false
	}
	var err error
	switch {
	case r.polled:
		n, err = r.readNow(b)
		if n == 0 && err == nil {
			return false, true // all read
		}
	case n == 0:
		n, err = r.nc.Read(b)
	default: // what else came with the first byte, without waiting for more
		if m, rerr := r.readNow(b[1:]); m > 0 || rerr != nil {
			n, err = 1+m, rerr
		}
	}
	ok = true
	if n > 0 {
		r.t.active.Store(time.Now().UnixNano())
		if !r.polled {
			_ = r.nc.SetReadDeadline(time.Now().Add(r.t.s.cfg.WSIdleTimeout))
		}
		var perr error
		if r.evs, perr = r.frames.feed(b[:n], r.evs[:0]); perr != nil {
			var pe *wsProtocolError
			errors.As(perr, &pe)
			r.t.closeWith(pe.code, pe.text)
			ok = false
		}
	}
	for _, ev := range r.evs {
		if ok && !r.t.frame(r.ss, ev) {
			ok = false
		}
	}
	clear(r.evs)
	if err != nil {
		r.failed(err)
		return false, false
	}
	return n == len(b), ok
}

func (r *wsReader) failed(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		r.reason = session.IdleTimeout
	}
}

// wsReadBuffers lend the readers a buffer while they read.
var wsReadBuffers = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// frame acts on one parsed frame; false ends the connection.
func (t *wsConn) frame(ss *session.Session, ev wsEvent) bool {
	s := t.s
	switch {
	case ev.op == wsOpPing:
		return t.writeFrames(wsOpPong, ev.data) == nil
	case ev.op == wsOpPong:
		return true
	case ev.op == wsOpClose: // echo the client's code, then end
		code := websocket.CloseNoStatusReceived
		if len(ev.data) >= 2 {
			code = int(binary.BigEndian.Uint16(ev.data))
		}
		if code == websocket.CloseNoStatusReceived {
			code = websocket.CloseNormalClosure
		}
		t.closeWith(code, "")
		return false
	case ev.tooLarge:
		t.answer(nil, nil, tooLarge(s.cfg.MaxBodyBytes))
	case ev.op != wsOpText:
		t.answer(nil, nil, filelock.Errorf(filelock.EInvalid, "messages must be text frames of JSON"))
	default:
		t.message(ss, ev.data)
	}
	return true
}

// closeWith writes a close frame, unless a write in progress does not end
// within a second (the client is not reading: the connection is closed
// without one).
func (t *wsConn) closeWith(code int, text string) {
	select {
	case t.wmu <- struct{}{}:
	case <-time.After(time.Second):
		return
	}
	defer func() { <-t.wmu }()
	nc := t.conn()
	msg := wsHeader(nil, wsOpClose, 2+len(text))
	msg = append(binary.BigEndian.AppendUint16(msg, uint16(code)), text...)
	t.dl.set(nc, time.Now().Add(time.Second))
	_, _ = nc.Write(msg)
}

// message runs one client message and writes its reply.
func (t *wsConn) message(ss *session.Session, data []byte) {
	ref, name, body, err := parseWSMessage(data)
	if err != nil {
		t.answer(ref, nil, err)
		return
	}
	ctx, logged := t.s.messageLog(context.Background(), metrics.WS, ss.ID(), name)
	reply, then, err := ss.Handle(ctx, name, body)
	logged(err)
	if !t.answer(ref, reply, err) {
		ss.Close(session.WriteFailed)
		return
	}
	if then != nil {
		then()
	}
}

// answer writes a reply (ref set) or, for a failed message without ref,
// an error event; false when the write failed.
func (t *wsConn) answer(ref, reply json.RawMessage, err error) bool {
	var data json.RawMessage
	switch {
	case ref != nil && err != nil:
		data = t.s.errorJSON(err)
	case ref != nil:
		data = reply
	case err != nil:
		data = t.s.errorEventJSON(err)
	default:
		return true
	}
	bp := replyBufs.Get().(*[]byte)
	b, merr := appendWSAnswer((*bp)[:0], ref, data)
	ok := true
	if merr != nil {
		t.s.log.Error("ws: frame not encodable", "err", merr)
	} else {
		ok = t.writeFrames(wsOpText, b) == nil
	}
	if cap(b) <= 16<<10 {
		*bp = b
		replyBufs.Put(bp)
	}
	return ok
}

func (t *wsConn) Name() string { return "ws" }

// Write writes each frame's event as one text message.
func (t *wsConn) Write(frames []*session.Frame) error {
	msgs := make([][]byte, 0, len(frames))
	for _, f := range frames {
		if b, err := f.Bytes(wsFormat); err == nil {
			msgs = append(msgs, b)
		}
	}
	if err := t.writeFrames(wsOpText, msgs...); err != nil {
		return err
	}
	t.s.metrics.EventsDelivered(metrics.WS, len(msgs))
	return nil
}

// wsPing is a ping frame with no payload, as the server sends it.
var wsPing = []byte{0x89, 0x00}

// Keepalive writes a ping; the client's pong keeps the connection alive.
// Without wait it writes only when no other write is in progress and the
// connection has room for it at once.
func (t *wsConn) Keepalive(wait bool) error {
	nc := t.conn()
	if nc == nil {
		return nil
	}
	if wait {
		return t.writeFrames(wsOpPing, nil)
	}
	select {
	case t.wmu <- struct{}{}:
	default:
		return session.ErrWouldBlock
	}
	defer func() { <-t.wmu }()
	return writeAtOnce(nc, &t.dl, wsPing)
}

// wsCloses are the close frames of the reasons that have one: 4001 when
// the token expired (SPEC §6), 1001 when the server shuts down, 1013 for a
// client that fell behind or must resume from a snapshot (it reconnects
// and joins again from its last event id).
var wsCloses = map[session.Reason]struct {
	code int
	text string
}{
	session.TokenExpired: {CloseTokenExpired, errTokenExpired.Message},
	session.Shutdown:     {websocket.CloseGoingAway, session.ErrShuttingDown.Message},
	session.Lagging:      {websocket.CloseTryAgainLater, "too far behind: reconnect and resume"},
	session.Resync:       {websocket.CloseTryAgainLater, "events lost: reconnect and resume"},
	session.IdleTimeout:  {websocket.CloseGoingAway, "idle"},
}

// Close writes the reason's close frame, if it has one, and closes the
// connection; the reader then returns.
func (t *wsConn) Close(r session.Reason) {
	t.life.Lock()
	defer t.life.Unlock()
	t.closed.Store(true)
	nc := t.conn()
	if nc == nil {
		return
	}
	if cl, ok := wsCloses[r]; ok {
		t.closeWith(cl.code, cl.text)
	}
	if t.w != nil {
		t.w.Stop() // before the descriptor can be reused
	}
	_ = nc.Close()
}

// wsFormat is an event as a WebSocket text message {"event","data"},
// encoded once per event and shared by every connection.
var wsFormat = events.NewFormat("ws", encodeWS)

func encodeWS(ev *filelock.Event) ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, `{"event":"`...)
	b = append(b, ev.Type...)
	b = append(b, `","data":`...)
	b = appendEventData(b, ev)
	return append(b, '}'), nil
}
