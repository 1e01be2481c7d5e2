package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"filelock"
	"filelock/events"
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
	t := &wsConn{s: s}
	ss, err := s.rt.sessions.Open(t, s.backend(who), session.Options{Keepalive: s.cfg.WSPingInterval,
		KeepaliveWhenBusy: true, Expires: s.verifier.ValidUntil(who), OnEnd: release})
	if err != nil {
		release()
		s.writeError(c, err)
		return
	}
	if !t.upgrade(c) {
		ss.Close(session.ClientGone)
		return // the upgrader has answered
	}
	t.serve(ss)
}

// wsConn is the WebSocket framing of a session (SPEC §5): text frames of
// one JSON object each. Its handler goroutine reads the client's messages
// and runs them one at a time, writing each reply itself; events and pings
// are written by the session. Writes are serialized and each is bounded by
// Config.StreamWriteTimeout; a client silent for Config.WSIdleTimeout is
// closed.
type wsConn struct {
	s *Server

	mu     sync.Mutex // one data write at a time
	conn   atomic.Pointer[websocket.Conn]
	closed atomic.Bool
}

// wsWriteBuffers lends write buffers to the connections while they write.
var wsWriteBuffers sync.Pool

func (t *wsConn) upgrade(c *gin.Context) bool {
	conn, err := t.s.rt.upgrader.Upgrade(c.Writer, c.Request, nil)
	if err != nil {
		return false
	}
	t.conn.Store(conn)
	if t.closed.Load() { // closed while upgrading
		_ = conn.Close()
		return false
	}
	return true
}

// serve reads the client's messages until the connection fails or closes.
func (t *wsConn) serve(ss *session.Session) {
	s, conn := t.s, t.conn.Load()
	idle := s.cfg.WSIdleTimeout
	alive := func() { _ = conn.SetReadDeadline(time.Now().Add(idle)) }
	alive()
	conn.SetReadLimit(max(1<<20, 4*s.cfg.MaxBodyBytes)) // beyond: close 1009; beyond MaxBodyBytes: payload_too_large
	conn.SetPongHandler(func(string) error { alive(); return nil })
	conn.SetPingHandler(func(data string) error {
		alive()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(s.cfg.StreamWriteTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	reason := session.ClientGone
	for {
		typ, r, err := conn.NextReader()
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				reason = session.IdleTimeout
			}
			break
		}
		alive()
		data, err := io.ReadAll(io.LimitReader(r, s.cfg.MaxBodyBytes+1))
		if err != nil {
			break
		}
		if int64(len(data)) > s.cfg.MaxBodyBytes {
			if _, err := io.Copy(io.Discard, r); err != nil {
				break
			}
			t.answer(nil, nil, tooLarge(s.cfg.MaxBodyBytes))
			continue
		}
		if typ != websocket.TextMessage {
			t.answer(nil, nil, filelock.Errorf(filelock.EInvalid, "messages must be text frames of JSON"))
			continue
		}
		t.message(ss, data)
	}
	ss.Close(reason)
}

// message runs one client message and writes its reply.
func (t *wsConn) message(ss *session.Session, data []byte) {
	ref, name, body, err := parseWSMessage(data)
	if err != nil {
		t.answer(ref, nil, err)
		return
	}
	reply, then, err := ss.Handle(name, body)
	if !t.answer(ref, reply, err) {
		ss.Close(session.WriteFailed)
		return
	}
	if then != nil {
		then()
	}
}

// parseWSMessage splits a client frame {"event","data","ref"?} into its
// ref (nil when absent or null), the event name and the data ("{}" when
// absent or null). Errors are invalid_request; ref is set when the frame
// had one, for the error to be its reply.
func parseWSMessage(data []byte) (ref json.RawMessage, name string, body []byte, err error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		return nil, "", nil, filelock.Errorf(filelock.EInvalid, "a message must be a JSON object {\"event\",\"data\",\"ref\"?}")
	}
	ref = raw["ref"]
	if bytes.Equal(ref, []byte("null")) {
		ref = nil
	}
	if err := json.Unmarshal(raw["event"], &name); err != nil || name == "" {
		return ref, "", nil, filelock.FieldError("event", "event must be a string naming the message")
	}
	body = raw["data"]
	if len(body) == 0 || bytes.Equal(body, []byte("null")) {
		body = []byte("{}")
	}
	return ref, name, body, nil
}

type wsFrame struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	Ref   json.RawMessage `json:"ref,omitempty"`
}

// answer writes a reply (ref set) or, for a failed message without ref,
// an error event; false when the write failed.
func (t *wsConn) answer(ref, reply json.RawMessage, err error) bool {
	var f wsFrame
	switch {
	case ref != nil && err != nil:
		f = wsFrame{Event: msgReply, Ref: ref, Data: t.s.errorJSON(err)}
	case ref != nil:
		f = wsFrame{Event: msgReply, Ref: ref, Data: reply}
	case err != nil:
		f = wsFrame{Event: msgError, Data: t.s.errorEventJSON(err)}
	default:
		return true
	}
	b, merr := json.Marshal(f)
	if merr != nil {
		t.s.log.Error("ws: frame not encodable", "err", merr)
		return true
	}
	return t.writeMessages(b) == nil
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
	return t.writeMessages(msgs...)
}

func (t *wsConn) writeMessages(msgs ...[]byte) error {
	conn := t.conn.Load()
	if conn == nil || t.closed.Load() {
		return websocket.ErrCloseSent
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range msgs {
		_ = conn.SetWriteDeadline(time.Now().Add(t.s.cfg.StreamWriteTimeout))
		if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
			return err
		}
	}
	return nil
}

// Keepalive writes a ping; the client's pong keeps the connection alive.
func (t *wsConn) Keepalive() error {
	conn := t.conn.Load()
	if conn == nil {
		return nil
	}
	return conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(t.s.cfg.StreamWriteTimeout))
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
	t.closed.Store(true)
	conn := t.conn.Load()
	if conn == nil {
		return
	}
	if cl, ok := wsCloses[r]; ok {
		msg := websocket.FormatCloseMessage(cl.code, cl.text)
		_ = conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	}
	_ = conn.Close()
}

// wsFormat is an event as a WebSocket text message {"event","data"},
// encoded once per event and shared by every connection.
var wsFormat = events.NewFormat("ws", func(ev *filelock.Event) ([]byte, error) {
	data, err := json.Marshal(*ev)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(data)+len(ev.Type)+20)
	b = append(b, `{"event":"`...)
	b = append(b, ev.Type...)
	b = append(b, `","data":`...)
	b = append(b, data...)
	return append(b, '}'), nil
})
