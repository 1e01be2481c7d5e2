// Package handlers puts filelock on the wire: REST (rest.go), SSE (sse.go),
// WebSocket (ws.go) and Socket.IO (socketio.go). It knows wire formats only:
// every command goes through the one set of command functions in
// commands.go, and every error code maps to its HTTP status in one table
// (errors.go).
package handlers

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"filelock/store"
)

// Config is what the handlers need from the server's configuration.
type Config struct {
	Store             store.Store
	Options           store.Options // the lock rules' tunables (TTLs, grace, history)
	HeartbeatInterval time.Duration // lock.heartbeat_interval, told to clients
	StoreTimeout      time.Duration // bound on every store call (2s) → store_unavailable
	MaxBodyBytes      int64         // limits.max_body_bytes
	SSEKeepalive      time.Duration // sse.keepalive
	SendQueue         int           // limits.send_queue
	Logger            *slog.Logger
}

// Server is the filelock HTTP handler.
type Server struct {
	cfg    Config
	log    *slog.Logger
	engine *gin.Engine
}

// New builds the handler with every route mounted.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 2 * time.Second
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg, log: cfg.Logger, engine: gin.New()}
	s.engine.Use(gin.Recovery())
	s.routesREST(s.engine)
	s.routesRealtime(s.engine)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// Close stops the server's background work (live streams, sockets).
func (s *Server) Close() error { return nil }
