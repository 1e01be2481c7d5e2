package redistest

import (
	"os"
	"sync"
	"testing"
)

var shared struct {
	mu  sync.Mutex
	srv *Server
	dir string
}

// Shared returns the test binary's shared server, starting it on first use,
// so that most tests share one process (each with its own Prefix). Tests
// must not Stop it; outage tests use Start. A package that uses Shared
// stops it at exit with Main. It fails the test when no server can be had.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		return shared.srv
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	s, err := newServer(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		tb.Fatalf("redistest: %v", err)
	}
	shared.srv, shared.dir = s, dir
	return s
}

// Main runs the tests of a package that uses Shared or SharedCluster and
// stops the shared server and cluster before the binary exits:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
//
// (Were Main left out, the kernel would still kill the servers when the
// test binary exits.)
func Main(m *testing.M) {
	code := m.Run()
	shared.mu.Lock()
	if shared.srv != nil {
		shared.srv.kill()
		_ = os.RemoveAll(shared.dir)
		shared.srv = nil
	}
	shared.mu.Unlock()
	stopSharedCluster()
	os.Exit(code)
}
