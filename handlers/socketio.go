package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"

	"filelock"
	"filelock/auth"
	"filelock/events"
	"filelock/metrics"
	"filelock/session"
)

// sioServer is Socket.IO v4 at /socket.io/ (SPEC §5): the same messages,
// payloads and events as the WebSocket; a reply is the acknowledgement's
// argument. Each socket has a session like a WebSocket connection; its
// events come through the hub to each socket, so that they arrive once
// each, in order, and a socket whose unsent packets exceed
// limits.send_queue is cut off. Keepalive is the engine's own ping.
type sioServer struct {
	io      *socket.Server
	handler http.Handler
}

func (s *Server) newSocketIO() *sioServer {
	opts := socket.DefaultServerOptions()
	opts.SetServeClient(false)
	opts.SetPath("/socket.io")
	opts.SetPingInterval(s.cfg.WSPingInterval)
	opts.SetPingTimeout(max(s.cfg.WSIdleTimeout-s.cfg.WSPingInterval, time.Second))
	opts.SetMaxHttpBufferSize(max(1<<20, 4*s.cfg.MaxBodyBytes))
	// Origins are checked once, by sioOrigin in front of the engine, and
	// CORS headers are set by the CORS middleware; the engine's own CORS
	// only has to let its WebSocket upgrader accept what passed.
	opts.SetCors(&types.Cors{Origin: func(string) bool { return true }})
	io := socket.NewServer(nil, opts)
	io.Use(s.sioAuth) // authenticates and sets each socket up
	_ = io.On("connection", func(args ...any) {
		if sock, ok := args[0].(*socket.Socket); ok {
			if connected, ok := sock.Data().(func()); ok {
				connected()
			}
		}
	})
	return &sioServer{io: io, handler: io.ServeHandler(nil)}
}

func (x *sioServer) close() {
	done := make(chan struct{})
	x.io.Close(func(error) { close(done) })
	select {
	case <-done:
	case <-time.After(closeWait):
	}
}

// sioOrigin refuses, with 403 forbidden, every Socket.IO request (polling
// or WebSocket) from a browser origin that is neither the server's own nor
// listed in cors.allowed_origins.
func (s *Server) sioOrigin(c *gin.Context) {
	if !s.cfg.CORS.CheckOrigin(c.Request) {
		s.writeError(c, errOrigin)
	}
}

// sioAuth authenticates the handshake (the token from the handshake's
// auth.token, else the Authorization header or ?token=), counts the
// connection in the limits and sets the socket up; a refusal
// (unauthorized, rate_limited, store_unavailable while shutting down)
// reaches the client as connect_error with data {code, message}.
//
// The socket is set up here rather than on "connection", and sioAuth
// returns (to the goroutine that reads the client's packets) only once the
// socket is connected: the library sends the CONNECT packet before it
// records the socket as able to receive packets, and drops the connection
// if the client's first message (join_project, sent on connect) comes in
// between.
func (s *Server) sioAuth(sock *socket.Socket, next func(*socket.ExtendedError)) {
	tok := auth.TokenFromAuth(sock.Handshake().Auth)
	if tok == "" {
		tok = auth.TokenFromRequest(sock.Request().Request())
	}
	who, err := s.identifyToken(sock.Request().Request(), tok)
	var release func()
	if err == nil {
		release, err = s.acquireConn(who, "")
	}
	var ss *session.Session
	t := &sioSocket{s: s, sock: sock, limit: int64(s.cfg.SendQueue)}
	if err == nil {
		end := s.sessionEnd(metrics.SocketIO, release)
		if ss, err = s.rt.sessions.Open(t, s.backend(who, sioFormat), session.Options{Expires: s.verifier.ValidUntil(who), OnEnd: end}); err != nil {
			end(session.ClientGone)
		}
	}
	if err != nil {
		_, body := s.ErrorReply(err)
		next(socket.NewExtendedError(body.Error.Message, map[string]any{"code": body.Error.Code, "message": body.Error.Message}))
		return
	}
	connected := make(chan struct{})
	var once sync.Once
	signal := func() { once.Do(func() { close(connected) }) }
	sock.SetData(signal)
	t.setup(ss, signal)
	next(nil)
	select {
	case <-connected:
	case <-time.After(closeWait):
	}
}

// sioSocket is the Socket.IO framing of a session.
type sioSocket struct {
	s       *Server
	sock    *socket.Socket
	limit   int64        // limits.send_queue
	pending atomic.Int64 // packets created but not yet handed to the transport
	closed  atomic.Bool
}

// setup gives a socket its handlers. Its end (the socket's disconnect, or
// its transport closing before it connected at all) ends the session.
func (t *sioSocket) setup(ss *session.Session, ended func()) {
	conn := t.sock.Conn()
	_ = conn.On("packetCreate", func(...any) { t.pending.Add(1) })
	_ = conn.On("flush", func(args ...any) {
		if len(args) > 0 {
			if wbuf, ok := args[0].([]*packet.Packet); ok {
				t.pending.Add(-int64(len(wbuf)))
			}
		}
	})
	for _, name := range messages {
		_ = t.sock.On(name, func(args ...any) { t.message(ss, name, args) })
	}
	// Any other event gets the same answer as over WebSocket (an error
	// naming the field event), through its acknowledgement when it asked
	// for one, so a client's callback never waits in vain. The library
	// calls this on the socket's reading path: the answer runs on the
	// socket's task queue, in order with the known events.
	t.sock.OnAny(func(args ...any) {
		if len(args) == 0 {
			return
		}
		if name, ok := args[0].(string); ok && !slices.Contains(messages, name) {
			t.sock.Enqueue(func() { t.message(ss, name, args[1:]) })
		}
	})
	var once sync.Once
	end := func(...any) {
		once.Do(func() {
			ss.Close(session.ClientGone)
			ended()
		})
	}
	_ = t.sock.On("disconnect", end)
	_ = conn.Once("close", end)
	if conn.ReadyState() == "closed" {
		end()
	}
}

// message runs one message and answers through the acknowledgement, or
// with an error event when the client asked for none.
func (t *sioSocket) message(ss *session.Session, name string, args []any) {
	data, ack := sioArgs(args)
	ctx, logged := t.s.messageLog(context.Background(), metrics.SocketIO, ss.ID(), name)
	reply, then, err := ss.Handle(ctx, name, data)
	logged(err)
	switch {
	case ack != nil && err != nil:
		ack([]any{t.s.errorJSON(err)}, nil)
	case ack != nil:
		ack([]any{reply}, nil)
	case err != nil:
		_ = t.sock.Emit(msgError, t.s.errorEventJSON(err))
	}
	if then != nil {
		then()
	}
}

// sioArgs splits an event's arguments into the message data (the first
// argument as JSON: "{}" when absent or null, "null" when it cannot be
// encoded) and the acknowledgement the client asked for (nil if none).
func sioArgs(args []any) (data []byte, ack socket.Ack) {
	if n := len(args); n > 0 {
		if a, ok := args[n-1].(socket.Ack); ok {
			ack, args = a, args[:n-1]
		}
	}
	data = []byte("{}")
	if len(args) > 0 && args[0] != nil {
		b, err := json.Marshal(args[0])
		if err != nil {
			b = []byte("null")
		}
		data = b
	}
	return data, ack
}

func (t *sioSocket) Name() string { return "socketio" }

// sioFormat is an event's data object, encoded once per event and shared
// by every socket.
var sioFormat = events.NewFormat("socketio", encodeSIO)

func encodeSIO(ev *filelock.Event) ([]byte, error) {
	return appendEventData(make([]byte, 0, 192), ev), nil
}

var errSIOBehind = errors.New("socket.io: too many packets not yet sent")

// Write emits each frame's event; a socket whose unsent packets exceed
// limits.send_queue is cut off.
func (t *sioSocket) Write(frames []*session.Frame) error {
	if t.pending.Load() > t.limit {
		return errSIOBehind
	}
	for _, f := range frames {
		data, err := f.Bytes(sioFormat)
		if err != nil {
			continue
		}
		// Raw JSON, which the library's encoder copies as it is.
		if err := t.sock.Emit(f.Event.Type, json.RawMessage(data)); err != nil {
			return err
		}
		t.s.metrics.EventsDelivered(metrics.SocketIO, 1)
	}
	return nil
}

// Keepalive does nothing: the engine pings.
func (t *sioSocket) Keepalive(bool) error { return nil }

// Close disconnects the socket; when its token expired, after an error
// event (SPEC §6: the client sees "transport close" and reconnects, with a
// fresh token if its auth is a callback). Disconnecting runs the
// disconnect handler, which ends the session, so it runs on a goroutine
// of its own.
func (t *sioSocket) Close(r session.Reason) {
	if !t.closed.CompareAndSwap(false, true) || r == session.ClientGone {
		return
	}
	if r == session.TokenExpired {
		_ = t.sock.Emit(msgError, t.s.errorEventJSON(errTokenExpired))
	}
	go t.sock.Disconnect(true)
}
