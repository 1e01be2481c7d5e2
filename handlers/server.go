// Package handlers puts filelock on the wire: REST (rest.go), SSE (sse.go),
// WebSocket (ws.go) and Socket.IO (socketio.go). It knows wire formats only:
// every command goes through the one set of command functions in
// commands.go, and every error code maps to its HTTP status in one table
// (errors.go).
package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/gin-gonic/gin"

	"filelock"
	"filelock/auth"
	"filelock/internal/workers"
	"filelock/limits"
	"filelock/logging"
	"filelock/metrics"
	"filelock/session"
	"filelock/store"
)

// Defaults of the Config fields that are also keys of the server's
// configuration (SPEC §7); a zero field means its default. The embedded
// configs/filelock.yaml states the same values (a test holds them equal).
const (
	DefaultHeartbeatInterval  = 30 * time.Second // lock.heartbeat_interval
	DefaultMaxBodyBytes       = 16 << 10         // limits.max_body_bytes
	DefaultSSEKeepalive       = 15 * time.Second // sse.keepalive
	DefaultMaxProjectsPerConn = 32               // limits.max_projects_per_connection
)

// Config is what the handlers need from the server's configuration.
type Config struct {
	Store             store.Store
	Options           store.Options // the lock rules' tunables (TTLs, grace, history)
	HeartbeatInterval time.Duration // lock.heartbeat_interval, told to clients
	StoreTimeout      time.Duration // bound on every store call (store.CallTimeout) → store_unavailable
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

	// Operations. Metrics nil: a registry of the Server's own.
	Metrics *metrics.Metrics
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
	metrics  serverMetrics
	rt       *realtime     // hub, presence, sockets (realtime.go)
	calls    *workers.Pool // the goroutines store calls run on (storeCall)
	// immediate: the store is a store.Immediate one; storeCall runs its
	// calls inline.
	immediate bool
}

// New builds the handler with every route mounted.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = store.CallTimeout
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	cfg.Options = cfg.Options.WithDefaults() // zero fields: store.DefaultOptions
	if cfg.Auth == nil {
		cfg.Auth, _ = auth.New(auth.Config{Mode: auth.ModeNone})
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New(metrics.Build{Version: "devel", Commit: "unknown", GoVersion: runtime.Version()})
	}
	cfg.Store = metrics.Store(cfg.Store, cfg.Metrics)
	im, ok := cfg.Store.(store.Immediate)
	immediate := ok && im.Immediate()
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg, log: cfg.Logger, engine: gin.New(), metrics: serverMetrics{cfg.Metrics},
		verifier: cfg.Auth, rate: limits.NewRateLimiter(cfg.UserRPS),
		conns: limits.NewConnLimiter(cfg.MaxConnections, cfg.MaxConnsPerUser), calls: workers.New(),
		immediate: immediate}
	// A path with a slash too many or too few is an unknown route (SPEC §2:
	// 404 not_found), not a redirect to the known one.
	s.engine.RedirectTrailingSlash = false
	s.engine.Use(s.requestLog(), s.recovery, s.metrics.middleware(), limits.CORS(cfg.CORS), s.readDeadline)
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

// Close stops the server's background work (live streams, sockets, the
// idle goroutines of store calls).
func (s *Server) Close() error {
	err := s.closeRealtime()
	s.calls.Close()
	return err
}

// RequestIDHeader names the request id header: taken from the request
// when it holds a usable id (1–128 visible ASCII characters), else made,
// and always echoed in the response.
const RequestIDHeader = "X-Request-ID"

// requestIDKey is RequestIDHeader as http.Header keys it.
var requestIDKey = http.CanonicalHeaderKey(RequestIDHeader)

// quietRoutes are logged at debug level: probes and scrapes come every
// few seconds (as do Socket.IO long-polling requests, also at debug).
var quietRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// requestLog gives each request its id (in the request's context, so every
// line logged through that context carries it, and in the X-Request-ID
// response header) and logs one line when the request ends: method, path,
// route, status, duration, bytes written, remote address, user agent. A
// stream's line comes when it closes. 5xx responses log at warn level.
func (s *Server) requestLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		var id string
		if v := c.Request.Header[requestIDKey]; len(v) > 0 {
			id = v[0]
		}
		if !usableRequestID(id) {
			id = logging.NewRequestID()
		}
		c.Writer.Header()[requestIDKey] = []string{id}
		ctx := logging.WithRequestID(c.Request.Context(), id)
		c.Request = c.Request.WithContext(ctx)
		c.Next()
		status := c.Writer.Status()
		route := c.FullPath()
		level := slog.LevelInfo
		switch {
		case status >= 500:
			level = slog.LevelWarn
		case quietRoutes[route], route == "/socket.io/*any" && c.Query("transport") == "polling":
			level = slog.LevelDebug
		}
		if !s.log.Enabled(ctx, level) {
			return
		}
		if route == "" {
			route = "unmatched"
		}
		s.log.LogAttrs(ctx, level, "request",
			slog.String("method", c.Request.Method),
			slog.String("path", c.Request.URL.Path),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int("bytes", max(c.Writer.Size(), 0)),
			slog.String("remote_addr", c.Request.RemoteAddr),
			slog.String("user_agent", c.Request.UserAgent()),
		)
	}
}

func usableRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// messageLog gives one WebSocket or Socket.IO message a request id of its
// own (in the returned context, so the lines it causes carry it) and
// returns the function that logs its line once it is answered: transport,
// conn_id, event, its error code ("" when it succeeded) and duration.
// Heartbeats log at debug level; store_unavailable and internal errors at
// warn.
func (s *Server) messageLog(ctx context.Context, transport, connID, event string) (context.Context, func(error)) {
	start := time.Now()
	ctx = logging.WithRequestID(ctx, logging.NewRequestID())
	return ctx, func(err error) {
		code := ""
		if err != nil {
			code = filelock.ErrorCode(err)
			if code == "" {
				code = filelock.EInternal
			}
		}
		level := slog.LevelInfo
		switch {
		case code == filelock.EUnavailable || code == filelock.EInternal:
			level = slog.LevelWarn
		case event == session.MsgHeartbeat:
			level = slog.LevelDebug
		}
		s.log.LogAttrs(ctx, level, "message",
			slog.String("transport", transport),
			slog.String("conn_id", connID),
			slog.String("event", event),
			slog.String("code", code),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		)
	}
}
