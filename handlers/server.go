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

	"filelock/auth"
	"filelock/limits"
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
	Auth              *auth.Verifier    // auth.mode and its key (auth.go); nil: auth.mode none
	CORS              limits.CORSConfig // cors.allowed_origins: browser origins besides the server's own
	MaxConnections    int               // limits.max_connections: live SSE/WebSocket/Socket.IO connections (0: no cap)
	MaxConnsPerUser   int               // limits.max_connections_per_user (0: no cap)
	UserRPS           float64           // limits.user_rps: lock/unlock/heartbeat per second per user (0: off)
	ReadTimeout       time.Duration     // http.read_timeout: bound on reading a request of a non-streaming route (0: none)

	MaxProjectsPerConn int // limits.max_projects_per_connection: projects one WebSocket/Socket.IO connection may join (32)

	// Realtime transports (realtime.go); zero means the default in parentheses.
	WSPingInterval     time.Duration // WebSocket ping period (25s)
	WSIdleTimeout      time.Duration // a WebSocket silent this long is closed (60s)
	StreamWriteTimeout time.Duration // bound on one write to an SSE stream or a WebSocket (10s)
	PresenceLease      time.Duration // lease of a live connection in the store (15s)
	PresenceRefresh    time.Duration // how often an instance renews its connections' leases (5s)
}

// Server is the filelock HTTP handler.
type Server struct {
	cfg    Config
	log    *slog.Logger
	engine *gin.Engine
	// auth.go
	verifier *auth.Verifier
	rate     *limits.RateLimiter
	conns    *limits.ConnLimiter
	metrics  *metrics
	rt       *realtime // hub, presence, sockets (realtime.go)
}

// New builds the handler with every route mounted.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 1500 * time.Millisecond // the 503 comes before 2 s
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 10
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 30 * time.Second
	}
	if cfg.Options == (store.Options{}) {
		cfg.Options = store.DefaultOptions()
	}
	if cfg.Auth == nil {
		cfg.Auth, _ = auth.New(auth.Config{Mode: auth.ModeNone})
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg, log: cfg.Logger, engine: gin.New(), metrics: newMetrics(),
		verifier: cfg.Auth, rate: limits.NewRateLimiter(cfg.UserRPS),
		conns: limits.NewConnLimiter(cfg.MaxConnections, cfg.MaxConnsPerUser)}
	s.engine.Use(gin.Recovery(), s.metrics.middleware(), limits.CORS(cfg.CORS), s.readDeadline)
	s.routesHealth(s.engine)
	s.routesREST(s.engine)
	s.routesRealtime(s.engine)
	s.routesWeb(s.engine)
	s.engine.NoRoute(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusNotFound, ErrorBody{Error: ErrorDetail{Code: "not_found",
			Message: "no endpoint " + c.Request.Method + " " + c.Request.URL.Path}})
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// Close stops the server's background work (live streams, sockets).
func (s *Server) Close() error { return s.closeRealtime() }
