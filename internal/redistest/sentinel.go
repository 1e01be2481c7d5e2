package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// MasterName is the name the sentinels of a Sentinel monitor their master
// by (redis.master_name).
const MasterName = "filelock"

// sentinels is the number of redis-sentinel processes; quorum is a majority.
const (
	sentinels = 3
	quorum    = 2
	// downAfter is how long a master must not answer before a sentinel
	// deems it down: short, so that failovers take seconds.
	downAfter = 1000 * time.Millisecond
)

// Sentinel is a private Sentinel topology: a primary, one replica and three
// redis-sentinel processes monitoring them (quorum 2), all on free loopback
// ports, without persistence. Which data node is the master changes with
// failovers; Master asks the sentinels.
type Sentinel struct {
	// Nodes are the two data nodes; Nodes[0] is the master at start.
	Nodes     []*Server
	sentinels []*Server
}

// StartSentinel starts a private Sentinel topology for the test and stops
// it in the test's Cleanup. It fails the test when redis-server or
// redis-sentinel is not on PATH, or the topology is not ready (the replica
// in sync, every sentinel knowing the replica and the other sentinels)
// within 30s.
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	s, err := newSentinel(func() string { return tb.TempDir() })
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(s.kill)
	return s
}

func sentinelBin() (string, []string, error) {
	if bin, err := exec.LookPath("redis-sentinel"); err == nil {
		return bin, nil, nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("neither redis-sentinel nor redis-server on PATH (install redis-sentinel to run these tests): %w", err)
	}
	return bin, []string{"--sentinel"}, nil
}

func newSentinel(tempDir func() string) (_ *Sentinel, err error) {
	sbin, sargs, err := sentinelBin()
	if err != nil {
		return nil, err
	}
	s := &Sentinel{}
	defer func() {
		if err != nil {
			s.kill()
		}
	}()
	primary, err := newServer(tempDir())
	if err != nil {
		return nil, err
	}
	s.Nodes = append(s.Nodes, primary)
	replica, err := newReplica(tempDir(), primary.Addr)
	if err != nil {
		return nil, err
	}
	s.Nodes = append(s.Nodes, replica)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := waitLinkUp(ctx, replica.Addr); err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(primary.Addr)
	for range sentinels {
		sn, err := newSentinelProc(sbin, sargs, tempDir(), host, port)
		if err != nil {
			return nil, err
		}
		s.sentinels = append(s.sentinels, sn)
	}
	if err := s.waitReady(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// newReplica starts a redis-server in dir replicating from master.
func newReplica(dir, master string) (*Server, error) {
	host, port, _ := net.SplitHostPort(master)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 5 {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		extra := []string{"--replicaof", host, port}
		pr, err := spawn(bin, dir, p, extra...)
		if err == nil {
			return &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), dir: dir, extra: extra, p: pr}, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func newSentinelProc(bin string, pre []string, dir, masterHost, masterPort string) (*Server, error) {
	var lastErr error
	for range 5 {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		conf := filepath.Join(dir, "sentinel.conf")
		text := strings.Join([]string{
			"port " + strconv.Itoa(p),
			"bind 127.0.0.1",
			"protected-mode no",
			"daemonize no",
			"dir " + dir,
			"loglevel warning",
			fmt.Sprintf("sentinel monitor %s %s %s %d", MasterName, masterHost, masterPort, quorum),
			fmt.Sprintf("sentinel down-after-milliseconds %s %d", MasterName, downAfter.Milliseconds()),
			fmt.Sprintf("sentinel failover-timeout %s 4000", MasterName),
			fmt.Sprintf("sentinel parallel-syncs %s 1", MasterName),
		}, "\n") + "\n"
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return nil, err
		}
		pr, err := spawnArgs(bin, append([]string{conf}, pre...), p)
		if err == nil {
			return &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), dir: dir, p: pr}, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// SentinelAddrs are the host:port of the sentinels (redis.addrs with
// redis.master_name).
func (s *Sentinel) SentinelAddrs() []string {
	addrs := make([]string, len(s.sentinels))
	for i, n := range s.sentinels {
		addrs[i] = n.Addr
	}
	return addrs
}

// Options are the options of a failover client of the topology, as
// Server.Options: deadlines respected, a short dial, no retries.
func (s *Sentinel) Options() *redis.UniversalOptions {
	o := failFast(s.SentinelAddrs()...)
	o.MasterName = MasterName
	return o
}

// Client returns a new failover client (redis.NewUniversalClient with
// MasterName), closed in the test's Cleanup.
func (s *Sentinel) Client(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	c := redis.NewUniversalClient(s.Options())
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Master returns the data node the sentinels (a majority of them) name as
// the master.
func (s *Sentinel) Master(ctx context.Context) (*Server, error) {
	votes := map[string]int{}
	for _, sn := range s.sentinels {
		if !sn.Running() {
			continue
		}
		v, err := sn.admin(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MasterName)
		if err != nil {
			continue
		}
		if hp, ok := v.([]any); ok && len(hp) == 2 {
			votes[net.JoinHostPort(fmt.Sprint(hp[0]), fmt.Sprint(hp[1]))]++
		}
	}
	for addr, n := range votes {
		if n >= quorum {
			for _, d := range s.Nodes {
				if d.Addr == addr {
					return d, nil
				}
			}
			return nil, fmt.Errorf("redistest: sentinels name %s, not a node of this topology", addr)
		}
	}
	return nil, fmt.Errorf("redistest: no majority of sentinels names a master: %v", votes)
}

// other returns the data node that is not n.
func (s *Sentinel) other(n *Server) *Server {
	if s.Nodes[0] == n {
		return s.Nodes[1]
	}
	return s.Nodes[0]
}

// FailoverLosingWrites fails the master over to a replica that missed
// writes: once the topology is ready for a failover, it freezes the
// replica (SIGSTOP) and cuts its replication link on the master, runs
// during (whose writes reach the master only), kills the master (SIGKILL),
// thaws the replica and waits until the sentinels have promoted it and it
// takes writes. The old master is then started again, empty, and the
// sentinels make it a replica of the new one (FailoverLosingWrites returns
// once it is in sync). It returns the new master and how long the failover
// took from the kill to the new master taking writes. onKilled, when not
// nil, is called right after the kill.
func (s *Sentinel) FailoverLosingWrites(ctx context.Context, during, onKilled func()) (*Server, time.Duration, error) {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := s.waitReady(wctx)
	cancel()
	if err != nil {
		return nil, 0, err
	}
	old, err := s.Master(ctx)
	if err != nil {
		return nil, 0, err
	}
	rep := s.other(old)
	if err := rep.Freeze(); err != nil {
		return nil, 0, err
	}
	// What the master already sent sits in the frozen replica's socket
	// buffer and will be applied; nothing written from now on reaches it.
	if _, err := old.admin(ctx, "CLIENT", "KILL", "TYPE", "replica"); err != nil {
		_ = rep.Thaw()
		return nil, 0, err
	}
	if during != nil {
		during()
	}
	old.Stop()
	killed := time.Now()
	if onKilled != nil {
		onKilled()
	}
	if err := rep.Thaw(); err != nil {
		return nil, 0, err
	}
	if err := s.waitMaster(ctx, rep); err != nil {
		return nil, 0, err
	}
	took := time.Since(killed)
	// Until every sentinel sees the new master up, one could still deem it
	// down (it was frozen) and fail it over to the old one coming back.
	if err := s.waitMasterUp(ctx); err != nil {
		return rep, took, err
	}
	// The old master comes back as a replica of the new one, as an
	// operator would start it (were it started as a master, it could win
	// the new one over before the sentinels reconfigure it).
	host, port, _ := net.SplitHostPort(rep.Addr)
	rep.setExtra(nil)
	old.setExtra([]string{"--replicaof", host, port})
	old.Start()
	wctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return rep, took, waitLinkUp(wctx, old.Addr)
}

// KillMaster kills the master (SIGKILL) and waits until the sentinels
// have promoted the replica and it takes writes; the old master is then
// started again, empty, and rejoins as a replica. It returns the new
// master and how long it took from the kill to the new master taking
// writes. Writes the replica had not received yet are lost.
func (s *Sentinel) KillMaster(ctx context.Context) (*Server, time.Duration, error) {
	return s.FailoverLosingWrites(ctx, nil, nil)
}

// waitMaster waits until a majority of the sentinels names n the master
// and n answers as a master.
func (s *Sentinel) waitMaster(ctx context.Context, n *Server) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		m, err := s.Master(ctx)
		if err == nil && m == n && isMaster(ctx, n) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redistest: %s not promoted within 30s (sentinels: %v, %v)", n.Addr, m, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitMasterUp waits until every sentinel's flags for the master are just
// "master" (neither subjectively nor objectively down).
func (s *Sentinel) waitMasterUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		up := 0
		for _, sn := range s.sentinels {
			v, err := sn.admin(ctx, "SENTINEL", "MASTER", MasterName)
			if err == nil && fmt.Sprint(kv(v)["flags"]) == "master" {
				up++
			}
		}
		if up == len(s.sentinels) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redistest: %d of %d sentinels see the master up", up, len(s.sentinels))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitReady waits until every sentinel knows the other sentinels and a
// replica that is up.
func (s *Sentinel) waitReady(ctx context.Context) error {
	for {
		ready := true
		var why string
		for _, sn := range s.sentinels {
			others, err := sn.admin(ctx, "SENTINEL", "SENTINELS", MasterName)
			if l, ok := others.([]any); err != nil || !ok || len(l) != sentinels-1 {
				ready, why = false, fmt.Sprintf("sentinel %s knows sentinels %v, %v", sn.Addr, others, err)
				break
			}
			reps, err := sn.admin(ctx, "SENTINEL", "REPLICAS", MasterName)
			if !replicaUp(reps) {
				ready, why = false, fmt.Sprintf("sentinel %s knows replicas %v, %v", sn.Addr, reps, err)
				break
			}
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("redistest: sentinel topology not ready: " + why)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// replicaUp reports whether a SENTINEL REPLICAS reply lists a replica whose
// flags are just "slave" (not down, not disconnected).
func replicaUp(v any) bool {
	l, ok := v.([]any)
	if !ok {
		return false
	}
	for _, r := range l {
		fields := map[string]string{}
		switch r := r.(type) {
		case []any:
			for i := 0; i+1 < len(r); i += 2 {
				fields[fmt.Sprint(r[i])] = fmt.Sprint(r[i+1])
			}
		case map[any]any:
			for k, v := range r {
				fields[fmt.Sprint(k)] = fmt.Sprint(v)
			}
		}
		if fields["flags"] == "slave" && fields["master-link-status"] == "ok" {
			return true
		}
	}
	return false
}

// isMaster reports whether the node at addr answers ROLE as a master.
func isMaster(ctx context.Context, n *Server) bool {
	v, err := n.admin(ctx, "ROLE")
	l, ok := v.([]any)
	return err == nil && ok && len(l) > 0 && l[0] == "master"
}

// waitLinkUp waits until the replica at addr reports master_link_status:up.
func waitLinkUp(ctx context.Context, addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	for {
		info, err := c.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redistest: replica %s not in sync: %q, %v", addr, info, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// setExtra sets the further arguments of the server's next start.
func (s *Server) setExtra(extra []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.extra = extra
}

func (s *Sentinel) kill() {
	for _, n := range s.sentinels {
		n.kill()
	}
	for _, n := range s.Nodes {
		n.kill()
	}
}
