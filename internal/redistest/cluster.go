package redistest

import (
	"bytes"
	"context"
	"errors"
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

// clusterSize is the number of masters of a Cluster.
const clusterSize = 3

// nodeTimeout is the cluster-node-timeout of a Cluster with replicas: short,
// so that a replica takes over a dead master within seconds.
const nodeTimeout = 1000 * time.Millisecond

// Cluster is a private Redis Cluster: three masters (StartCluster without
// replicas, StartClusterReplicas with one replica each), each node a
// redis-server of its own on free loopback ports (client and cluster bus),
// without persistence, the masters together serving all 16384 slots.
type Cluster struct {
	nodes    []*Server
	replicas int
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
	c, err := newCluster(dirs, 0)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(c.kill)
	return c
}

// StartClusterReplicas starts a private Redis Cluster of three masters
// and three replicas (one per master, cluster-node-timeout 1s) for the
// test and stops it in the test's Cleanup; KillMaster fails a master over.
func StartClusterReplicas(tb testing.TB) *Cluster {
	tb.Helper()
	dirs := make([]string, 2*clusterSize)
	for i := range dirs {
		dirs[i] = tb.TempDir()
	}
	c, err := newCluster(dirs, 1)
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
func newCluster(dirs []string, replicas int) (_ *Cluster, err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found on PATH (install Redis to run these tests): %w", err)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("redis-cli not found on PATH (install Redis to run these tests): %w", err)
	}
	c := &Cluster{replicas: replicas}
	defer func() {
		if err != nil {
			c.kill()
		}
	}()
	for _, dir := range dirs {
		n, err := newClusterNode(bin, dir, replicas > 0)
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	args := append(append([]string{"--cluster", "create"}, c.Addrs()...), "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %w: %s", err, bytes.TrimSpace(out))
	}
	for _, addr := range c.Addrs() {
		if err := waitClusterOK(ctx, addr); err != nil {
			return nil, err
		}
	}
	if replicas > 0 {
		if err := c.waitReplicas(ctx); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// newClusterNode starts a cluster-enabled redis-server in dir on a free
// port, its cluster bus on another; fast sets a short node timeout.
func newClusterNode(bin, dir string, fast bool) (*Server, error) {
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
		extra := []string{"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
			"--cluster-config-file", filepath.Join(dir, "nodes-"+strconv.Itoa(port)+".conf")}
		if fast {
			extra = append(extra, "--cluster-node-timeout", strconv.FormatInt(nodeTimeout.Milliseconds(), 10))
		}
		p, err := spawn(bin, dir, port, extra...)
		if err == nil {
			return &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, extra: extra, p: p}, nil
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
	c, err := newCluster(dirs, 0)
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

// Nodes are the cluster's nodes (masters and replicas, whichever role
// they have now).
func (c *Cluster) Nodes() []*Server { return c.nodes }

// node returns the node at addr, nil if none.
func (c *Cluster) node(addr string) *Server {
	for _, n := range c.nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// MasterOf returns the node that serves key now, as a live node sees it.
func (c *Cluster) MasterOf(ctx context.Context, key string) (*Server, error) {
	slot, err := c.ask(ctx, "CLUSTER", "KEYSLOT", key)
	if err != nil {
		return nil, err
	}
	for _, n := range c.nodes {
		if !n.Running() {
			continue
		}
		v, err := n.admin(ctx, "CLUSTER", "SHARDS")
		if err != nil {
			continue
		}
		if addr := shardMaster(v, slot.(int64)); addr != "" {
			if m := c.node(addr); m != nil {
				return m, nil
			}
		}
	}
	return nil, fmt.Errorf("redistest: no live node knows the master of slot %v", slot)
}

// ask runs a command on the first live node that answers it.
func (c *Cluster) ask(ctx context.Context, args ...any) (any, error) {
	var lastErr error
	for _, n := range c.nodes {
		if !n.Running() {
			continue
		}
		v, err := n.admin(ctx, args...)
		if err == nil {
			return v, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("redistest: no cluster node answers %v: %v", args, lastErr)
}

// shardMaster returns the host:port of the master serving slot in a
// CLUSTER SHARDS reply whose health is online, "" if none.
func shardMaster(v any, slot int64) string {
	shards, _ := v.([]any)
	for _, sh := range shards {
		m := kv(sh)
		slots, _ := m["slots"].([]any)
		in := false
		for i := 0; i+1 < len(slots); i += 2 {
			lo, _ := slots[i].(int64)
			hi, _ := slots[i+1].(int64)
			if slot >= lo && slot <= hi {
				in = true
			}
		}
		if !in {
			continue
		}
		nodes, _ := m["nodes"].([]any)
		for _, n := range nodes {
			f := kv(n)
			if f["role"] == "master" && f["health"] == "online" {
				return net.JoinHostPort(fmt.Sprint(f["ip"]), fmt.Sprint(f["port"]))
			}
		}
	}
	return ""
}

// kv reads a RESP2 flat list or RESP3 map of field names to values.
func kv(v any) map[string]any {
	out := map[string]any{}
	switch v := v.(type) {
	case []any:
		for i := 0; i+1 < len(v); i += 2 {
			out[fmt.Sprint(v[i])] = v[i+1]
		}
	case map[any]any:
		for k, x := range v {
			out[fmt.Sprint(k)] = x
		}
	case map[string]any:
		return v
	}
	return out
}

// KillMaster kills (SIGKILL) the master serving key and waits until its
// replica has taken over and every live node reports cluster_state:ok; it
// then starts the killed node again, empty, and waits until it has
// rejoined as a replica in sync. onKilled, when not nil, is called right
// after the kill. It returns how long it took from the kill until the
// cluster was ok again. Writes the replica had not received (replication
// is asynchronous) are lost.
func (c *Cluster) KillMaster(ctx context.Context, key string, onKilled func()) (time.Duration, error) {
	if c.replicas == 0 {
		return 0, errors.New("redistest: KillMaster needs a cluster with replicas")
	}
	m, err := c.MasterOf(ctx, key)
	if err != nil {
		return 0, err
	}
	m.Stop()
	killed := time.Now()
	if onKilled != nil {
		onKilled()
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		n, err := c.MasterOf(wctx, key)
		if err == nil && n != m && c.allOK(wctx) {
			break
		}
		select {
		case <-wctx.Done():
			return 0, fmt.Errorf("redistest: no replica took over from %s within 30s: %v", m.Addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	took := time.Since(killed)
	m.Start()
	return took, c.waitReplicas(wctx)
}

// allOK reports whether every live node reports cluster_state:ok.
func (c *Cluster) allOK(ctx context.Context) bool {
	for _, n := range c.nodes {
		if !n.Running() {
			continue
		}
		v, err := n.admin(ctx, "CLUSTER", "INFO")
		if err != nil || !strings.Contains(fmt.Sprint(v), "cluster_state:ok") {
			return false
		}
	}
	return true
}

// waitReplicas waits until every node is up and each replica's link to its
// master is up, and the cluster is ok.
func (c *Cluster) waitReplicas(ctx context.Context) error {
	for {
		replicas := 0
		for _, n := range c.nodes {
			v, err := n.admin(ctx, "INFO", "replication")
			info := fmt.Sprint(v)
			if err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, "master_link_status:up") {
				replicas++
			}
		}
		if replicas == c.replicas*clusterSize && c.allOK(ctx) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redistest: %d of %d cluster replicas in sync", replicas, c.replicas*clusterSize)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
