package handlers

import (
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
	defaultSSEKeepalive       = 15 * time.Second
	defaultSendQueue          = 256
	defaultMaxProjectsPerConn = 32
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
	setDefault(&c.SSEKeepalive, defaultSSEKeepalive)
	if c.SendQueue <= 0 {
		c.SendQueue = defaultSendQueue
	}
	if c.MaxProjectsPerConn <= 0 {
		c.MaxProjectsPerConn = defaultMaxProjectsPerConn
	}
	s.rt = &realtime{
		hub: events.New(c.Store, events.Options{Queue: c.SendQueue, StoreTimeout: c.StoreTimeout, Logger: s.log}),
		// Same origin, no Origin (not a browser) or cors.allowed_origins;
		// getWS refuses others first, with a 403 error body.
		sessions: session.NewManager(session.Config{MaxProjects: c.MaxProjectsPerConn,
			Tick: min(max(min(c.SSEKeepalive, c.WSPingInterval)/4, 10*time.Millisecond), 2*time.Second)}),
		// An idle WebSocket keeps a small read buffer and no write buffer:
		// writers borrow one from the pool.
		upgrader: websocket.Upgrader{CheckOrigin: c.CORS.CheckOrigin, ReadBufferSize: 1024, WriteBufferPool: &wsWriteBuffers},
	}
	s.rt.presence = newPresence(s, c.Store, c.PresenceLease, c.PresenceRefresh, c.StoreTimeout, s.log)
	s.metrics.watch(s.conns.Count, s.rt.hub.Stats)
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
