package client_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"filelock/client"
	"filelock/handlers"
	"filelock/internal/redistest"
	"filelock/store"
	"filelock/store/memory"
	"filelock/store/redis"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// waitTimeout bounds every wait for a condition (the machine is loaded).
const waitTimeout = 15 * time.Second

// stores are the stores every client test runs over: each returns a fresh,
// running store with opts, shut down in t.Cleanup.
var stores = []struct {
	name string
	new  func(t *testing.T, opts store.Options) store.Store
}{
	{"memory", func(t *testing.T, opts store.Options) store.Store { return running(t, memory.New(opts)) }},
	{"redis", func(t *testing.T, opts store.Options) store.Store {
		srv := redistest.Shared(t)
		return running(t, redis.New(srv.Client(t), opts, redistest.Prefix(t)))
	}},
}

// eachStore runs f as a subtest over every store.
func eachStore(t *testing.T, f func(t *testing.T, newStore func(t *testing.T, opts store.Options) store.Store)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) { f(t, s.new) })
	}
}

func running(t *testing.T, st store.Store) store.Store {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = st.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = st.Close()
	})
	return st
}

// serve runs handlers.New over st on a loopback listener until the test
// ends and returns its base URL.
func serve(t *testing.T, cfg handlers.Config) *httptest.Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h := handlers.New(cfg)
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		_ = h.Close()
	})
	return ts
}

// newClient returns a client of base that reconnects quickly.
func newClient(t *testing.T, base string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(base, append([]client.Option{client.WithReconnectDelay(20 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// gate is a reverse proxy in front of a server that can be shut (every
// request answered 503, open streams cut) and opened again, to cut an
// event stream while events go on.
type gate struct {
	ts    *httptest.Server
	mu    sync.Mutex
	shut  bool
	conns map[*http.Request]context.CancelFunc
	seen  []string // Last-Event-ID of each request to /events
}

func newGate(t *testing.T, target string) *gate {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{conns: map[*http.Request]context.CancelFunc{}}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.FlushInterval = -1
	proxy.ErrorLog = slog.NewLogLogger(slog.New(slog.NewTextHandler(io.Discard, nil)).Handler(), slog.LevelError)
	g.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		if g.shut {
			g.mu.Unlock()
			http.Error(w, "gate shut", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		r = r.WithContext(ctx)
		g.conns[r] = cancel
		if r.URL.Path != "" && len(r.URL.Path) > 8 && r.URL.Path[:8] == "/events/" {
			g.seen = append(g.seen, r.Header.Get("Last-Event-ID"))
		}
		g.mu.Unlock()
		defer func() {
			g.mu.Lock()
			delete(g.conns, r)
			g.mu.Unlock()
			cancel()
		}()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		g.setShut(true)
		g.ts.CloseClientConnections()
		g.ts.Close()
	})
	return g
}

// setShut shuts the gate (cutting every open request) or opens it.
func (g *gate) setShut(shut bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.shut = shut
	if shut {
		for _, cancel := range g.conns {
			cancel()
		}
	}
}

// resumes returns the Last-Event-ID of every stream request so far.
func (g *gate) resumes() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.seen...)
}
