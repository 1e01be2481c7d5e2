package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterSize is the number of masters of a Cluster (no replicas).
const clusterSize = 3

// Cluster is a private Redis Cluster: three masters without replicas, each
// a redis-server of its own on free loopback ports (client and cluster bus),
// without persistence, together serving all 16384 slots.
type Cluster struct {
	nodes []*Server
}

// StartCluster starts a private Redis Cluster for the test and stops it in
// the test's Cleanup. It fails the test when redis-server or redis-cli is
// not on PATH or the cluster does not come up (cluster_state:ok on every
// node) within 10s.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	dirs := make([]string, clusterSize)
	for i := range dirs {
		dirs[i] = tb.TempDir()
	}
	c, err := newCluster(dirs)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(c.kill)
	return c
}

// Addrs are the host:port of the cluster's nodes.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// Client returns a new cluster client, closed in the test's Cleanup. Like
// Server.Client it respects context deadlines, dials briefly and retries no
// command; it follows MOVED and ASK redirections (the default number).
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	cl := redis.NewClusterClient(c.Options())
	tb.Cleanup(func() { _ = cl.Close() })
	return cl
}

// Options are the client options Client uses.
func (c *Cluster) Options() *redis.ClusterOptions { return failFast(c.Addrs()...).Cluster() }

func (c *Cluster) kill() {
	for _, n := range c.nodes {
		n.kill()
	}
}

// newCluster starts one node in each of dirs and joins them with
// redis-cli --cluster create. On error nothing is left running.
func newCluster(dirs []string) (_ *Cluster, err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found on PATH (install Redis to run these tests): %w", err)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("redis-cli not found on PATH (install Redis to run these tests): %w", err)
	}
	c := &Cluster{}
	defer func() {
		if err != nil {
			c.kill()
		}
	}()
	for _, dir := range dirs {
		n, err := newClusterNode(bin, dir)
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	args := append(append([]string{"--cluster", "create"}, c.Addrs()...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %w: %s", err, bytes.TrimSpace(out))
	}
	for _, addr := range c.Addrs() {
		if err := waitClusterOK(ctx, addr); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// newClusterNode starts a cluster-enabled redis-server in dir on a free
// port, its cluster bus on another.
func newClusterNode(bin, dir string) (*Server, error) {
	var lastErr error
	for range 5 { // another process may take a free port before redis-server binds it
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		bus, err := freePort()
		if err != nil {
			return nil, err
		}
		if bus == port {
			continue
		}
		p, err := spawn(bin, dir, port,
			"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
			"--cluster-config-file", filepath.Join(dir, "nodes-"+strconv.Itoa(port)+".conf"))
		if err == nil {
			return &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, p: p}, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// waitClusterOK polls CLUSTER INFO on addr until it reports cluster_state:ok.
func waitClusterOK(ctx context.Context, addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && slices.Contains(strings.Split(info, "\r\n"), "cluster_state:ok") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster node %s not ok within %v: %q, %v", addr, startTimeout, info, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

var sharedCluster struct {
	mu   sync.Mutex
	c    *Cluster
	dirs []string
}

// SharedCluster returns the test binary's shared cluster, starting it on
// first use, so that the tests of a package share one (each with its own
// Prefix). A package that uses it stops it at exit with Main. It fails the
// test when no cluster can be had.
func SharedCluster(tb testing.TB) *Cluster {
	tb.Helper()
	sharedCluster.mu.Lock()
	defer sharedCluster.mu.Unlock()
	if sharedCluster.c != nil {
		return sharedCluster.c
	}
	var dirs []string
	for range clusterSize {
		dir, err := os.MkdirTemp("", "redistest-cluster-")
		if err != nil {
			removeAll(dirs)
			tb.Fatalf("redistest: %v", err)
		}
		dirs = append(dirs, dir)
	}
	c, err := newCluster(dirs)
	if err != nil {
		removeAll(dirs)
		tb.Fatalf("redistest: %v", err)
	}
	sharedCluster.c, sharedCluster.dirs = c, dirs
	return c
}

// stopSharedCluster stops the shared cluster, if it was started.
func stopSharedCluster() {
	sharedCluster.mu.Lock()
	defer sharedCluster.mu.Unlock()
	if sharedCluster.c != nil {
		sharedCluster.c.kill()
		removeAll(sharedCluster.dirs)
		sharedCluster.c, sharedCluster.dirs = nil, nil
	}
}

func removeAll(dirs []string) {
	for _, d := range dirs {
		_ = os.RemoveAll(d)
	}
}
