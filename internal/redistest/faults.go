package redistest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Faults of a Server, each a real change to the running process: the
// checker (internal/check) injects them while clients run.

// admin runs one command on the server with a client of its own.
func (s *Server) admin(ctx context.Context, args ...any) (any, error) {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, DialTimeout: time.Second, ReadTimeout: 5 * time.Second, MaxRetries: -1})
	defer c.Close()
	return c.Do(ctx, args...).Result()
}

// Pause suspends every client command for d (CLIENT PAUSE ALL): commands
// sent meanwhile are queued and run when the pause ends.
func (s *Server) Pause(ctx context.Context, d time.Duration) error {
	_, err := s.admin(ctx, "CLIENT", "PAUSE", strconv.FormatInt(d.Milliseconds(), 10), "ALL")
	return err
}

// KillPubSub closes every Pub/Sub connection of the server (CLIENT KILL TYPE
// pubsub) and returns how many it closed.
func (s *Server) KillPubSub(ctx context.Context) (int64, error) {
	v, err := s.admin(ctx, "CLIENT", "KILL", "TYPE", "pubsub")
	n, _ := v.(int64)
	return n, err
}

// SetConfig sets configuration parameters (CONFIG SET name value ...), e.g.
// "maxmemory", "1mb", "maxmemory-policy", "volatile-lru".
func (s *Server) SetConfig(ctx context.Context, kv ...string) error {
	args := []any{"CONFIG", "SET"}
	for _, a := range kv {
		args = append(args, a)
	}
	_, err := s.admin(ctx, args...)
	return err
}

var snapshots atomic.Int64

// Snapshot saves the server's data (SAVE) and keeps a copy of it: the
// returned path can be given to RestartFrom later, to bring the server
// back as it was now (losing every write since).
func (s *Server) Snapshot(ctx context.Context) (string, error) {
	if _, err := s.admin(ctx, "SAVE"); err != nil {
		return "", fmt.Errorf("redistest: SAVE: %w", err)
	}
	path := filepath.Join(s.dir, "snapshot-"+strconv.FormatInt(snapshots.Add(1), 10)+".rdb")
	if err := copyFile(filepath.Join(s.dir, "dump.rdb"), path); err != nil {
		return "", fmt.Errorf("redistest: keeping the snapshot: %w", err)
	}
	return path, nil
}

// RestartFrom kills the server and starts it again from the snapshot rdb
// (a path Snapshot returned): every write after the snapshot is lost. It
// returns once the server has loaded the data and answers.
func (s *Server) RestartFrom(rdb string) error {
	s.kill()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := copyFile(rdb, filepath.Join(s.dir, "dump.rdb")); err != nil {
		return fmt.Errorf("redistest: restoring the snapshot: %w", err)
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return err
	}
	s.p = s.respawn(bin)
	return nil
}

// Freeze stops the server's process (SIGSTOP): it neither answers nor
// replicates, and its connections stay open, until Thaw.
func (s *Server) Freeze() error { return s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server (SIGCONT).
func (s *Server) Thaw() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return fmt.Errorf("redistest: %s is stopped", s.Addr)
	}
	return syscall.Kill(s.p.pid, sig)
}

// Running reports whether the server's process runs (it may be frozen).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p != nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
