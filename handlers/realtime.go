package handlers

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"filelock/events"
	"filelock/session"
)

// Defaults of the realtime transports (Config fields of the same meaning).
const (
	defaultWSPingInterval     = 25 * time.Second
	defaultWSIdleTimeout      = 60 * time.Second
	defaultStreamWriteTimeout = 10 * time.Second
	defaultPresenceLease      = 15 * time.Second
	defaultPresenceRefresh    = 5 * time.Second
	closeWait                 = 5 * time.Second // how long Close waits for connections to wind down
)

// realtime is the state the live transports share: the event hub,
// presence, the sessions of every live connection, the WebSocket upgrader
// and the Socket.IO server.
type realtime struct {
	hub      *events.Hub
	presence *presence
	sessions *session.Manager
	upgrader websocket.Upgrader
	sio      *sioServer

	closing  sync.Once
	closeErr error
}

// routesRealtime mounts SSE, WebSocket and Socket.IO (SPEC §5) and starts
// the hub and the presence refresher, which Close stops.
func (s *Server) routesRealtime(r *gin.Engine) {
	c := &s.cfg
	setDefault(&c.WSPingInterval, defaultWSPingInterval)
	setDefault(&c.WSIdleTimeout, defaultWSIdleTimeout)
	setDefault(&c.StreamWriteTimeout, defaultStreamWriteTimeout)
	setDefault(&c.PresenceLease, defaultPresenceLease)
	setDefault(&c.PresenceRefresh, defaultPresenceRefresh)
	setDefault(&c.SSEKeepalive, DefaultSSEKeepalive)
	if c.SendQueue <= 0 {
		c.SendQueue = events.DefaultQueue
	}
	if c.MaxProjectsPerConn <= 0 {
		c.MaxProjectsPerConn = DefaultMaxProjectsPerConn
	}
	s.rt = &realtime{
		// Each event is encoded, before its subscribers wake, in the wire
		// formats of the connections subscribed to its project (backend).
		hub: events.New(c.Store, events.Options{Queue: c.SendQueue, StoreTimeout: c.StoreTimeout, Logger: s.log}),
		// Same origin, no Origin (not a browser) or cors.allowed_origins;
		// getWS refuses others first, with a 403 error body.
		sessions: session.NewManager(session.Config{MaxProjects: c.MaxProjectsPerConn,
			Tick: min(max(min(c.SSEKeepalive, c.WSPingInterval)/4, 10*time.Millisecond), 2*time.Second)}),
		// Only the handshake is the library's (ws.go frames the rest): its
		// buffers are dropped with it.
		upgrader: websocket.Upgrader{CheckOrigin: c.CORS.CheckOrigin, ReadBufferSize: 128, WriteBufferSize: 128},
	}
	s.rt.presence = newPresence(s, c.Store, c.PresenceLease, c.PresenceRefresh, c.StoreTimeout, s.log)
	s.metrics.watch(s.rt.hub.Stats)
	r.GET("/events/:project_id", s.getEvents)
	r.GET("/ws", s.getWS)
	s.rt.sio = s.newSocketIO()
	sio := gin.WrapH(s.rt.sio.handler)
	r.GET("/socket.io/*any", s.sioOrigin, sio)
	r.POST("/socket.io/*any", s.sioOrigin, sio)
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// closeRealtime ends every live connection (SSE: a retry and a comment,
// then the end of the stream; WebSocket: close 1001; Socket.IO:
// disconnect), waits a while for them to record their disconnects, then
// stops the hub and the refresher. A second call waits for the first.
func (s *Server) closeRealtime() error {
	rt := s.rt
	rt.closing.Do(func() {
		if !rt.sessions.Shutdown(closeWait) {
			s.log.Warn("realtime: connections still closing")
		}
		rt.sio.close()
		rt.closeErr = rt.hub.Close()
		rt.presence.close()
	})
	return rt.closeErr
}

// smallWrite is the most a write copies into one buffer rather than
// handing the kernel a vector: a vector makes the connection keep an iovec
// array for good.
const smallWrite = 4096

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, smallWrite); return &b }}

// writeBuffers writes bufs (n bytes in all) to c in one write.
func writeBuffers(c net.Conn, bufs net.Buffers, n int) error {
	if n > smallWrite {
		_, err := bufs.WriteTo(c)
		return err
	}
	p := writeBufs.Get().(*[]byte)
	b := (*p)[:0]
	for _, x := range bufs {
		b = append(b, x...)
	}
	_, err := c.Write(b)
	*p = b[:0]
	writeBufs.Put(p)
	return err
}

// writeAtOnce writes b if the connection takes it without waiting;
// ErrWouldBlock when it took none of it (a part written is an error: the
// stream is broken).
func writeAtOnce(c net.Conn, d *writeDeadline, b []byte) error {
	d.set(c, time.Now().Add(time.Millisecond))
	n, err := c.Write(b)
	switch {
	case err == nil:
		return nil
	case n == 0 && errors.Is(err, os.ErrDeadlineExceeded):
		return session.ErrWouldBlock
	}
	return err
}

// writeDeadline is a connection's write deadline, set anew only when the
// one in force would leave a write less than half its timeout (each
// setting is a timer update). Its user holds the connection's write lock.
type writeDeadline struct{ at time.Time }

// extend makes the next write end within timeout, and at least half of it.
func (d *writeDeadline) extend(c net.Conn, timeout time.Duration) {
	if now := time.Now(); d.at.Sub(now) < timeout/2 {
		d.set(c, now.Add(timeout))
	}
}

func (d *writeDeadline) set(c net.Conn, at time.Time) {
	d.at = at
	_ = c.SetWriteDeadline(at)
}

// sessionEnd is the OnEnd of a session of transport: the connection is
// counted as live in the metrics until then (SPEC §9), then released from
// the limits; a session the hub dropped counts as a dropped subscriber.
func (s *Server) sessionEnd(transport string, release func()) func(session.Reason) {
	closed := s.metrics.ConnOpened(transport)
	return func(r session.Reason) {
		closed()
		release()
		switch r {
		case session.Lagging:
			s.metrics.dropped(events.ErrLagging)
		case session.Resync:
			s.metrics.dropped(events.ErrResync)
		}
	}
}
