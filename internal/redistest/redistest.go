// Package redistest runs private redis-server processes for tests: each on a
// free loopback port, without persistence, killed when the test (or, for
// Shared, the test binary) ends. A test never touches a Redis it did not
// start. When no redis-server can be had the test fails; it is never skipped.
package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startTimeout bounds the wait for a started server to answer PING.
const startTimeout = 10 * time.Second

// Server is one private redis-server process. Its methods are safe for
// concurrent use.
type Server struct {
	// Addr is the server's host:port on the loopback interface. It stays the
	// same across Stop and Start.
	Addr string

	dir   string
	extra []string // further redis-server arguments, kept across Stop and Start
	mu    sync.Mutex
	p     *proc // nil while stopped
}

// Start starts a private redis-server for the test and stops it in the
// test's Cleanup. It fails the test when redis-server is not on PATH or does
// not answer within 10s.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := newServer(tb.TempDir())
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(func() { s.kill() })
	return s
}

func newServer(dir string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found on PATH (install Redis to run these tests): %w", err)
	}
	var lastErr error
	for range 5 { // another process may take the free port before redis-server binds it
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir}
		p, err := spawn(bin, dir, port)
		if err == nil {
			s.p = p
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// Client returns a new client of the server, closed in the test's Cleanup.
// It respects context deadlines and gives up quickly while the server is
// down, as outage tests need.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(s.Options())
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Options are the client options Client uses.
func (s *Server) Options() *redis.Options { return failFast(s.Addr).Simple() }

// failFast are the options of every test client: context deadlines are
// respected, a dial gives up after a second, and no command is retried (a
// resent script would answer wrongly), as the server's own client does.
func failFast(addrs ...string) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:                 addrs,
		DialTimeout:           time.Second,
		ReadTimeout:           2 * time.Second,
		WriteTimeout:          2 * time.Second,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialerRetries:         1,
	}
}

// Stop kills the server (as a crash would: nothing is saved). Clients get
// connection errors until Start.
func (s *Server) Stop() {
	s.kill()
}

// Start starts a stopped server again on the same address, empty (a
// replica or cluster node then syncs from its master). It panics
// when the server cannot be started (the test cannot go on); it does nothing
// when the server runs.
func (s *Server) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil {
		return
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		panic("redistest: " + err.Error())
	}
	_ = os.Remove(filepath.Join(s.dir, "dump.rdb"))
	s.p = s.respawn(bin)
}

// respawn starts the server's process again on its address; s.mu is held.
func (s *Server) respawn(bin string) *proc {
	_, portStr, _ := net.SplitHostPort(s.Addr)
	port, _ := strconv.Atoi(portStr)
	var p *proc
	var err error
	deadline := time.Now().Add(startTimeout)
	for { // the port may linger briefly after the kill
		if p, err = spawn(bin, s.dir, port, s.extra...); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		panic("redistest: restart: " + err.Error())
	}
	return p
}

func (s *Server) kill() {
	s.mu.Lock()
	p := s.p
	s.p = nil
	s.mu.Unlock()
	if p != nil {
		p.stop()
	}
}

var prefixes atomic.Int64

// Prefix returns a key prefix no other call in this test binary returns
// ("t<N>:"), so tests sharing a server do not see each other's keys.
func Prefix(tb testing.TB) string {
	return "t" + strconv.FormatInt(prefixes.Add(1), 10) + ":"
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// proc is a running redis-server. The process is started from a goroutine
// locked to its OS thread, which lives as long as the process: the kernel
// kills the server (Pdeathsig) if the test binary dies without cleaning up.
type proc struct {
	pid   int
	stopc chan struct{}
	done  chan struct{}
}

// spawn starts redis-server on port with the harness's settings and extra
// further arguments, and waits until it answers PING.
func spawn(bin, dir string, port int, extra ...string) (*proc, error) {
	args := append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning"}, extra...)
	return spawnArgs(bin, args, port)
}

// spawnArgs starts bin with args and waits until it answers PING on port.
func spawnArgs(bin string, args []string, port int) (*proc, error) {
	var out syncBuffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{stopc: make(chan struct{}), done: make(chan struct{})}
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine, after the process
		defer close(p.done)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		go func() { _ = cmd.Wait(); close(exited) }()
		select {
		case <-p.stopc:
			_ = syscall.Kill(p.pid, syscall.SIGCONT) // a frozen process dies too
			_ = cmd.Process.Kill()
		case <-exited:
		}
		<-exited
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting redis-server: %w", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			<-p.done
			return nil, fmt.Errorf("redis-server on port %d exited: %s", port, bytes.TrimSpace(out.Bytes()))
		default:
		}
		if ping(addr) {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("redis-server on port %d did not answer PING within %v: %s", port, startTimeout, bytes.TrimSpace(out.Bytes()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) stop() {
	select {
	case <-p.stopc:
	default:
		close(p.stopc)
	}
	<-p.done
}

// ping reports whether a Redis answers PING at addr.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 64<<10 {
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}
