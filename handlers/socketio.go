package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"

	"filelock"
	"filelock/auth"
	"filelock/metrics"
)

// sioServer is Socket.IO v4 at /socket.io/ (SPEC §5): the same messages,
// payloads and events as the WebSocket; a reply is the acknowledgement's
// argument. Each socket has a session like a WebSocket connection; a
// joined project is also a room of the socket, while its events come
// through the hub to each socket, so that they arrive once each, in order,
// and a socket whose unsent packets exceed limits.send_queue is cut off.
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
	if err == nil && !s.rt.track() {
		release()
		err = filelock.Errorf(filelock.EUnavailable, "server shutting down")
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
	s.sioSetup(sock, who, release, signal)
	next(nil)
	select {
	case <-connected:
	case <-time.After(closeWait):
	}
}

// sioSetup gives a socket its session and handlers. Its end (the socket's
// disconnect, or its transport closing before it connected at all)
// leaves its projects and releases its place in the limits, once.
func (s *Server) sioSetup(sock *socket.Socket, who auth.Identity, release, ended func()) {
	release = s.metrics.tracked(metrics.SocketIO, release)
	var pending atomic.Int64 // packets created but not yet handed to the transport
	conn := sock.Conn()
	_ = conn.On("packetCreate", func(...any) { pending.Add(1) })
	_ = conn.On("flush", func(args ...any) {
		if len(args) > 0 {
			if wbuf, ok := args[0].([]*packet.Packet); ok {
				pending.Add(-int64(len(wbuf)))
			}
		}
	})
	limit := int64(s.cfg.SendQueue)
	// Disconnecting runs the disconnect handler, which waits for the
	// forwarders; a forwarder that cuts its socket off must not wait for itself.
	kill := func() { go sock.Disconnect(true) }
	deliver := func(ev filelock.Event) bool {
		if pending.Load() > limit {
			return false
		}
		b, err := json.Marshal(ev)
		if err != nil {
			return true
		}
		return sock.Emit(ev.Type, jsonObject(b)) == nil
	}
	ss := newSession(s, who, "sio", deliver, kill)
	ss.rooms = func(projectID string, in bool) {
		if in {
			sock.Join(socket.Room(projectID))
		} else {
			sock.Leave(socket.Room(projectID))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	for _, name := range []string{msgJoin, msgLeave, msgHeartbeat, msgLock, msgUnlock} {
		_ = sock.On(name, func(args ...any) { s.sioMessage(ctx, sock, ss, name, args) })
	}
	// The token's end (auth.mode jwt): an error event, then the connection
	// is closed (the client sees "transport close" and reconnects, with a
	// fresh token if its auth is a callback).
	stopExpiry := func() bool { return false }
	if until := s.verifier.ValidUntil(who); !until.IsZero() {
		stopExpiry = time.AfterFunc(time.Until(until), func() {
			_ = sock.Emit(msgError, jsonObject(s.errorEventJSON(errTokenExpired)))
			sock.Disconnect(true)
		}).Stop
	}
	var once sync.Once
	end := func(...any) {
		once.Do(func() {
			stopExpiry()
			cancel()
			ss.close()
			release()
			s.rt.live.Done()
			ended()
		})
	}
	_ = sock.On("disconnect", end)
	_ = conn.Once("close", end)
	if conn.ReadyState() == "closed" {
		end()
	}
}

// sioMessage runs one message and answers through the acknowledgement, or
// with an error event when the client asked for none.
func (s *Server) sioMessage(ctx context.Context, sock *socket.Socket, ss *session, name string, args []any) {
	data, ack := sioArgs(args)
	reply, then, err := ss.handle(ctx, name, data)
	switch {
	case ack != nil && err != nil:
		ack([]any{jsonObject(s.errorJSON(err))}, nil)
	case ack != nil:
		ack([]any{jsonObject(reply)}, nil)
	case err != nil:
		_ = sock.Emit(msgError, jsonObject(s.errorEventJSON(err)))
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

// jsonObject decodes a JSON object into the generic form the Socket.IO
// encoder writes.
func jsonObject(b []byte) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}
