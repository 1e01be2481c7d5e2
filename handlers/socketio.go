package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
	"github.com/zishang520/socket.io/servers/socket/v3"

	"filelock"
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
	io := socket.NewServer(nil, opts)
	io.Use(s.sioAuth)
	_ = io.On("connection", func(args ...any) {
		if sock, ok := args[0].(*socket.Socket); ok {
			s.sioConnect(sock)
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

// sioAuth authenticates the handshake (the token from the handshake's
// auth.token, the Authorization header or ?token=); a refusal reaches the
// client as connect_error with the error code in its data.
func (s *Server) sioAuth(sock *socket.Socket, next func(*socket.ExtendedError)) {
	r := sock.Request().Request().Clone(context.Background())
	if tok, ok := sock.Handshake().Auth["token"].(string); ok && tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	who, err := s.auth.Identify(r)
	if err != nil {
		_, body := s.ErrorReply(err)
		next(socket.NewExtendedError(body.Error.Message, map[string]any{"code": body.Error.Code}))
		return
	}
	sock.SetData(who)
	next(nil)
}

// sioConnect sets up a connected socket.
func (s *Server) sioConnect(sock *socket.Socket) {
	if !s.rt.track() {
		sock.Disconnect(true)
		return
	}
	who, _ := sock.Data().(Identity)
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
	_ = sock.On("disconnect", func(...any) {
		cancel()
		ss.close()
		s.rt.live.Done()
	})
}

// sioMessage runs one message and answers through the acknowledgement, or
// with an error event when the client asked for none.
func (s *Server) sioMessage(ctx context.Context, sock *socket.Socket, ss *session, name string, args []any) {
	var ack socket.Ack
	if n := len(args); n > 0 {
		if a, ok := args[n-1].(socket.Ack); ok {
			ack, args = a, args[:n-1]
		}
	}
	data := []byte("{}")
	if len(args) > 0 && args[0] != nil {
		b, err := json.Marshal(args[0])
		if err != nil {
			b = []byte("null")
		}
		data = b
	}
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

// jsonObject decodes a JSON object into the generic form the Socket.IO
// encoder writes.
func jsonObject(b []byte) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}
