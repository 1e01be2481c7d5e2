package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"filelock/auth"
	"filelock/configs"
	"filelock/handlers"
	"filelock/limits"
	"filelock/logging"
	"filelock/metrics"
	"filelock/store"
	"filelock/store/memory"
	"filelock/store/redis"
	"filelock/webhooks"
)

// storeTimeout bounds every store call of a request and of the background
// work, and each Redis read and write.
const storeTimeout = store.CallTimeout

// run serves until ctx ends, then stops gracefully within
// http.shutdown_timeout. It logs to stdout in log.format; its first log
// line after start-up is `msg=listening addr=HOST:PORT` (json:
// "msg":"listening","addr":…) with the bound address, preceded by
// `msg="admin listening"` when http.admin_addr is set.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := configs.Load(args, getenv)
	if err != nil {
		return err
	}
	log, err := logging.New(stdout, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		return err
	}
	// Start and stop are logged whatever log.level says: scripts wait for
	// the listening line to learn the bound address.
	lifecycle, err := logging.Always(stdout, cfg.Log.Format)
	if err != nil {
		return err
	}
	verifier, err := auth.New(authConfig(cfg))
	if err != nil {
		return err
	}
	for _, a := range cfg.Adjusted {
		log.Warn("config adjusted: " + a)
	}
	if verifier.Mode() == auth.ModeNone {
		log.Warn("auth.mode is none: every request is trusted to name its own user; use auth.mode jwt outside trusted networks")
	}
	b := build()
	m := metrics.New(b)

	opts := store.Options{
		DefaultTTL: cfg.Lock.TTL, MinTTL: cfg.Lock.MinTTL, MaxTTL: cfg.Lock.MaxTTL,
		History: cfg.Events.History, DisconnectGrace: cfg.Lock.DisconnectGrace,
		OnRelease: func(reason string, n int) { // the store's own releases (expired, disconnected)
			for range n {
				m.LockReleased(reason)
			}
		},
	}
	st, closeStore, err := newStore(cfg, opts, log)
	if err != nil {
		return err
	}
	defer closeStore()
	if ew, ok := st.(interface {
		EvictionWarning(context.Context) (string, error)
	}); ok {
		wctx, cancel := context.WithTimeout(ctx, storeTimeout)
		if w, err := ew.EvictionWarning(wctx); w != "" || err != nil {
			log.Warn("redis eviction policy: "+w, "err", err)
		}
		cancel()
	}
	deliverer, err := newDeliverer(cfg, st, log, m)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("http.addr: %w", err)
	}
	defer ln.Close()
	var admin *http.Server
	if cfg.HTTP.AdminAddr != "" {
		aln, err := net.Listen("tcp", cfg.HTTP.AdminAddr)
		if err != nil {
			return fmt.Errorf("http.admin_addr: %w", err)
		}
		admin = &http.Server{Handler: adminHandler(m), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go func() { _ = admin.Serve(aln) }()
		defer admin.Close()
		lifecycle.Info("admin listening", "addr", aln.Addr().String())
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := st.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("store background work stopped", "err", err)
		}
	})
	if deliverer != nil {
		wg.Go(func() { _ = deliverer.Run(runCtx) })
	}
	defer func() { stopRun(); wg.Wait() }()

	h := handlers.New(handlers.Config{
		Store:              st,
		Options:            opts,
		HeartbeatInterval:  cfg.Lock.HeartbeatInterval,
		StoreTimeout:       storeTimeout,
		MaxBodyBytes:       cfg.Limits.MaxBodyBytes,
		SSEKeepalive:       cfg.SSE.Keepalive,
		SendQueue:          cfg.Limits.SendQueue,
		Logger:             log,
		Auth:               verifier,
		CORS:               limits.CORSConfig{AllowedOrigins: cfg.CORS.AllowedOrigins},
		MaxConnections:     cfg.Limits.MaxConnections,
		MaxConnsPerUser:    cfg.Limits.MaxConnectionsPerUser,
		UserRPS:            cfg.Limits.UserRPS,
		ReadTimeout:        cfg.HTTP.ReadTimeout,
		Metrics:            m,
		MaxProjectsPerConn: cfg.Limits.MaxProjectsPerConn,
	})
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.HTTP.ReadTimeout,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: event streams are long-lived.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Live streams never go idle: end them when shutdown starts.
	srv.RegisterOnShutdown(func() { _ = h.Close() })

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	lifecycle.Info("listening", "addr", ln.Addr().String(), "store", cfg.Store.Backend, "auth", cfg.Auth.Mode,
		"version", b.Version, "commit", b.Commit)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.HTTP.ShutdownTimeout)
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn("graceful shutdown incomplete; closing connections", "err", err)
		_ = srv.Close()
	}
	<-served
	// WebSockets and Socket.IO sockets are hijacked, so Shutdown does not
	// wait for them: wait (within the timeout) until the handler has closed
	// them and recorded their disconnects, before the store closes.
	closed := make(chan struct{})
	go func() { _ = h.Close(); close(closed) }()
	select {
	case <-closed:
	case <-shutCtx.Done():
		log.Warn("realtime connections still closing at the shutdown timeout")
	}
	lifecycle.Info("stopped")
	return nil
}

// authConfig is the auth.* section as package auth takes it (start-up and
// check-config).
func authConfig(cfg configs.Config) auth.Config {
	return auth.Config{Mode: cfg.Auth.Mode, Secret: cfg.Auth.JWT.Secret, PublicKeyFile: cfg.Auth.JWT.PublicKeyFile,
		Leeway: cfg.Auth.JWT.Leeway, Audience: cfg.Auth.JWT.Audience, Issuer: cfg.Auth.JWT.Issuer, APIKeys: cfg.Auth.APIKeys}
}

// adminHandler serves http.admin_addr: /metrics and the net/http/pprof
// profiles under /debug/pprof/.
func adminHandler(m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// newStore builds the configured store and the function that closes it
// and its resources.
func newStore(cfg configs.Config, opts store.Options, log *slog.Logger) (store.Store, func(), error) {
	switch cfg.Store.Backend {
	case "memory":
		st := memory.New(opts)
		return st, func() { _ = st.Close() }, nil
	case "redis":
		redisLogger.Store(log)
		// One address: a server; several: a Cluster; master_name: Sentinel.
		client := goredis.NewUniversalClient(&goredis.UniversalOptions{
			Addrs:                 cfg.Redis.Addrs,
			MasterName:            cfg.Redis.MasterName,
			Username:              cfg.Redis.Username,
			Password:              cfg.Redis.Password,
			DB:                    cfg.Redis.DB,
			ContextTimeoutEnabled: true, // store calls honour the request's deadline
			// Fail fast while Redis is down: a request must get its 503 within
			// the 2 s store timeout, not after rounds of dial retries.
			DialTimeout:   time.Second,
			ReadTimeout:   storeTimeout,
			WriteTimeout:  storeTimeout,
			MaxRetries:    -1, // no retries: a script resent after a lost reply would answer wrongly
			DialerRetries: 1,
		})
		st := redis.New(client, opts, cfg.Redis.KeyPrefix)
		return st, func() { _ = st.Close(); _ = client.Close() }, nil
	default:
		return nil, nil, fmt.Errorf("store.backend: %q is not one of memory, redis", cfg.Store.Backend)
	}
}

// newDeliverer builds the webhook deliverer of webhooks.*, nil when no URL
// is set (SPEC §5 Webhooks); its attempts count in m.
func newDeliverer(cfg configs.Config, st store.Store, log *slog.Logger, m *metrics.Metrics) (*webhooks.Deliverer, error) {
	if len(cfg.Webhooks.URLs) == 0 {
		return nil, nil
	}
	return webhooks.New(st, webhooks.Options{
		URLs: cfg.Webhooks.URLs, Secret: cfg.Webhooks.Secret, Events: cfg.Webhooks.Events,
		Timeout: cfg.Webhooks.Timeout, MaxBackoff: cfg.Webhooks.MaxBackoff, Logger: log,
		OnResult: func(result string) {
			if result == webhooks.ResultDelivered {
				m.WebhookDelivery(metrics.WebhookDelivered)
			} else {
				m.WebhookDelivery(metrics.WebhookFailed)
			}
		},
	})
}
