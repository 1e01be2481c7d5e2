package handlers

import (
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"filelock/events"
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
	closeWait                 = 5 * time.Second // how long Close waits for connections to wind down
)

// realtime is the state the live transports share: the event hub, presence,
// the live WebSocket connections and the Socket.IO server.
type realtime struct {
	hub      *events.Hub
	presence *presence
	upgrader websocket.Upgrader
	sio      *sioServer

	mu       sync.Mutex
	conns    map[*wsConn]struct{}
	closed   bool
	live     sync.WaitGroup // connection handlers still running
	shutdown chan struct{}  // closed when closeRealtime starts (SSE streams end)
	finished chan struct{}  // closed when closeRealtime has returned
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
	s.rt = &realtime{
		hub: events.New(c.Store, events.Options{Queue: c.SendQueue, StoreTimeout: c.StoreTimeout, Logger: s.log}),
		// Same origin, no Origin (not a browser) or cors.allowed_origins;
		// getWS refuses others first, with a 403 error body.
		upgrader: websocket.Upgrader{CheckOrigin: c.CORS.CheckOrigin, ReadBufferSize: 4096, WriteBufferSize: 4096},
		conns:    map[*wsConn]struct{}{},
		shutdown: make(chan struct{}),
		finished: make(chan struct{}),
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

// closeRealtime ends every live connection (WebSocket: close 1001;
// Socket.IO: disconnect; SSE: end of stream), waits a while for their
// handlers to record the disconnects, then stops the hub and the refresher.
// A second call waits for the first to finish.
func (s *Server) closeRealtime() error {
	rt := s.rt
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		<-rt.finished
		return rt.closeErr
	}
	rt.closed = true
	close(rt.shutdown)
	defer close(rt.finished)
	conns := make([]*wsConn, 0, len(rt.conns))
	for c := range rt.conns {
		conns = append(conns, c)
	}
	rt.mu.Unlock()
	for _, c := range conns {
		c.shutdown()
	}
	rt.sio.close()
	err := rt.hub.Close() // ends SSE streams and every subscription
	done := make(chan struct{})
	go func() { rt.live.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeWait):
		s.log.Warn("realtime: connections still closing")
	}
	rt.presence.close()
	rt.closeErr = err
	return err
}

// track registers a live connection handler; false when closing.
func (rt *realtime) track() bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return false
	}
	rt.live.Add(1)
	return true
}
