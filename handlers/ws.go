package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"filelock"
	"filelock/metrics"
)

// wsConn is one WebSocket connection (SPEC §5): the handler goroutine
// reads messages and runs them one at a time; one writer goroutine writes
// every frame (replies, events, pings) from a bounded queue. A client too
// far behind for the queue, silent for Config.WSIdleTimeout, or whose
// write blocks past Config.StreamWriteTimeout is disconnected.
type wsConn struct {
	s    *Server
	conn *websocket.Conn
	ss   *session
	out  chan []byte
	quit chan struct{}
	once sync.Once
	wg   sync.WaitGroup

	expired <-chan time.Time // the token's end (auth.go); nil in auth.mode none
}

// getWS serves GET /ws.
//
//	@Summary		WebSocket
//	@Description	Text frames of one JSON object each: {"event", "data", "ref"?}. Client messages: join_project
//	@Description	{project_id, user_id}, leave_project {project_id}, heartbeat {project_id?}, lock {project_id, file,
//	@Description	release_previous?, ttl_seconds?}, unlock {project_id, file, token?}. A message with ref is answered
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
	defer release()
	expired, stopExpiry := s.expiry(who)
	defer stopExpiry()
	if !s.rt.track() {
		s.writeError(c, filelock.Errorf(filelock.EUnavailable, "server shutting down"))
		return
	}
	defer s.rt.live.Done()
	conn, err := s.rt.upgrader.Upgrade(c.Writer, c.Request, nil)
	if err != nil {
		return // the upgrader has answered
	}
	defer s.metrics.ConnOpened(metrics.WS)()
	wc := &wsConn{s: s, conn: conn, out: make(chan []byte, s.cfg.SendQueue), quit: make(chan struct{}), expired: expired}
	wc.ss = newSession(s, who, "ws", wc.deliverEvent, wc.kill)
	s.rt.mu.Lock()
	s.rt.conns[wc] = struct{}{}
	s.rt.mu.Unlock()
	defer func() {
		s.rt.mu.Lock()
		delete(s.rt.conns, wc)
		s.rt.mu.Unlock()
	}()
	wc.serve()
}

func (wc *wsConn) serve() {
	s, conn := wc.s, wc.conn
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
	wc.wg.Add(1)
	go wc.writer()

	ctx, cancel := context.WithCancel(context.Background())
	for {
		typ, r, err := conn.NextReader()
		if err != nil {
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
			wc.sendError(tooLarge(s.cfg.MaxBodyBytes))
			continue
		}
		if typ != websocket.TextMessage {
			wc.sendError(filelock.Errorf(filelock.EInvalid, "messages must be text frames of JSON"))
			continue
		}
		wc.message(ctx, data)
	}
	cancel()
	wc.ss.close()
	wc.kill()
	wc.wg.Wait()
}

// message runs one client message and queues its reply.
func (wc *wsConn) message(ctx context.Context, data []byte) {
	ref, name, body, err := parseWSMessage(data)
	if err != nil {
		wc.answer(ref, nil, err)
		return
	}
	reply, then, err := wc.ss.handle(ctx, name, body)
	wc.answer(ref, reply, err)
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

// answer queues a reply (ref set) or, for a failed message without ref,
// an error event.
func (wc *wsConn) answer(ref, reply json.RawMessage, err error) {
	switch {
	case ref != nil && err != nil:
		wc.send(wsFrame{Event: msgReply, Ref: ref, Data: wc.s.errorJSON(err)})
	case ref != nil:
		wc.send(wsFrame{Event: msgReply, Ref: ref, Data: reply})
	case err != nil:
		wc.sendError(err)
	}
}

func (wc *wsConn) sendError(err error) {
	wc.send(wsFrame{Event: msgError, Data: wc.s.errorEventJSON(err)})
}

type wsFrame struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	Ref   json.RawMessage `json:"ref,omitempty"`
}

// send queues a frame; a client too far behind is cut off.
func (wc *wsConn) send(f wsFrame) bool {
	b, err := json.Marshal(f)
	if err != nil {
		wc.s.log.Error("ws: frame not encodable", "err", err)
		return true
	}
	select {
	case wc.out <- b:
		return true
	case <-wc.quit:
		return false
	default:
		wc.kill()
		return false
	}
}

func (wc *wsConn) deliverEvent(ev filelock.Event) bool {
	data, err := json.Marshal(ev)
	if err != nil {
		return true
	}
	return wc.send(wsFrame{Event: ev.Type, Data: data})
}

// writer is the connection's one writer.
func (wc *wsConn) writer() {
	defer wc.wg.Done()
	t := time.NewTicker(wc.s.cfg.WSPingInterval)
	defer t.Stop()
	wt := wc.s.cfg.StreamWriteTimeout
	for {
		select {
		case <-wc.quit:
			return
		case b := <-wc.out:
			_ = wc.conn.SetWriteDeadline(time.Now().Add(wt))
			if err := wc.conn.WriteMessage(websocket.TextMessage, b); err != nil {
				wc.kill()
				return
			}
		case <-t.C:
			if err := wc.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wt)); err != nil {
				wc.kill()
				return
			}
		case <-wc.expired:
			msg := websocket.FormatCloseMessage(CloseTokenExpired, errTokenExpired.Message)
			_ = wc.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(wt))
			wc.kill()
			return
		}
	}
}

// kill closes the connection at once; the reader then winds it down.
func (wc *wsConn) kill() {
	wc.once.Do(func() {
		close(wc.quit)
		_ = wc.conn.Close()
	})
}

// shutdown closes the connection with 1001 (server going away).
func (wc *wsConn) shutdown() {
	msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")
	_ = wc.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	wc.kill()
}
