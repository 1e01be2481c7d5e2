package check_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"filelock"
	"filelock/client"
	"filelock/internal/check"
	"filelock/internal/redistest"
)

// rig is one topology under test: its store processes, the filelockd
// instances sharing them, and the workload on them.
type rig struct {
	t        *testing.T
	rng      *rand.Rand
	w        *check.Workload
	inst     []*check.Instance
	redis    *redistest.Server
	sentinel *redistest.Sentinel
	cluster  *redistest.Cluster
	prefix   string
	memory   bool // the memory store: an instance's death loses everything
}

// fault is one kind of fault: run injects it once and returns when it is
// over and the store serves again.
type fault struct {
	name string
	run  func(ctx context.Context, r *rig) (check.Fault, error)
}

// env is the common configuration of the instances: short lock times so
// that locks expire during a run.
func env(extra map[string]string) map[string]string {
	e := map[string]string{
		"FILELOCK_LOCK_TTL":                "2s",
		"FILELOCK_LOCK_MIN_TTL":            "1s",
		"FILELOCK_LOCK_MAX_TTL":            "10s",
		"FILELOCK_LOCK_HEARTBEAT_INTERVAL": "500ms",
		"FILELOCK_LOCK_DISCONNECT_GRACE":   "1s",
		"FILELOCK_LOG_LEVEL":               "error",
		"FILELOCK_SSE_KEEPALIVE":           "1s",
	}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

// round runs one randomized round on the rig: the workload with every
// fault once, in a random order, with ordinary load between; then it
// drains and checks the history.
func (r *rig) round(ctx context.Context, seed uint64, n int, faults []fault) *check.Report {
	t := r.t
	r.rng = rand.New(rand.NewPCG(seed, 0xfa17))
	urls := make([]string, len(r.inst))
	for i, in := range r.inst {
		urls[i] = in.URL
	}
	r.w = &check.Workload{
		Seed: seed, Run: fmt.Sprintf("r%d-%d", n, seed%100000), Projects: 4, Files: 4, Users: 4, Clients: 8,
		TTLs: []time.Duration{time.Second, 2 * time.Second}, URLs: urls,
	}
	if err := r.w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.w.Close()
	if !r.w.Extended {
		t.Logf("the instances lack POST /claim and GET /locks: claim and the fencing check are left out of the workload")
	}
	r.load(500*time.Millisecond, 1500*time.Millisecond)
	order := r.rng.Perm(len(faults))
	for _, i := range order {
		f := faults[i]
		fr, err := f.run(ctx, r)
		if err != nil {
			t.Fatalf("fault %s: %v", f.name, err)
		}
		fr.Name = f.name
		r.w.Hist.AddFault(fr)
		t.Logf("fault %s: %v (loss possible: %v)", f.name, fr.End.Sub(fr.Start).Round(time.Millisecond), fr.Loss)
		r.load(500*time.Millisecond, 1500*time.Millisecond)
	}
	r.w.Stop()
	final, err := r.w.Drain(ctx, 40*time.Second)
	rep := check.Check(r.w.Hist, final, check.DefaultBounds())
	if err != nil {
		rep.Violations = append(rep.Violations, err.Error())
	}
	return rep
}

// load lets the workload run for a random time in [lo, hi).
func (r *rig) load(lo, hi time.Duration) {
	d := lo + time.Duration(r.rng.Int64N(int64(hi-lo)))
	time.Sleep(d) // ordinary load between faults: the workload runs meanwhile
}

// waitReady waits until every running instance answers /readyz 200.
func (r *rig) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(40 * time.Second)
	for _, in := range r.inst {
		c, _ := client.New(in.URL, client.WithHTTPClient(&http.Client{Timeout: time.Second}))
		for {
			if err := c.Readyz(ctx); err == nil {
				break
			} else if time.Now().After(deadline) || in.Exited() {
				return fmt.Errorf("instance %s not ready within 40s (exited: %v): %v; its log:\n%s", in.URL, in.Exited(), err, in.Log())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// lossy runs the fault inject while no operation is in flight, waits
// until the store serves again, and starts a new epoch of every project's
// model from a resync.
func (r *rig) lossy(ctx context.Context, inject func() error) (check.Fault, error) {
	f := check.Fault{Loss: true, Start: time.Now()}
	var err error
	r.w.Quiesce(func() {
		if err = inject(); err != nil {
			return
		}
		if err = r.waitReady(ctx); err != nil {
			return
		}
		err = r.w.Resync(ctx)
	})
	f.End = time.Now()
	return f, err
}

// probe measures recovery from outside the workload: a project of its own,
// one event stream per instance.
type probe struct {
	project string
	cls     []*client.Client
	mu      sync.Mutex
	got     []check.Received
	streams []*client.Stream
}

func newProbe(ctx context.Context, r *rig, name string) *probe {
	p := &probe{project: r.w.Run + "-" + name}
	for _, in := range r.inst {
		c, _ := client.New(in.URL, client.WithReconnectDelay(50*time.Millisecond), client.WithHTTPClient(&http.Client{Timeout: 2 * time.Second}))
		p.cls = append(p.cls, c)
		s := c.Events(ctx, p.project, client.StreamOptions{})
		p.streams = append(p.streams, s)
		go func() {
			for ev := range s.C {
				p.mu.Lock()
				p.got = append(p.got, check.Received{At: time.Now(), Event: ev})
				p.mu.Unlock()
			}
		}()
	}
	return p
}

func (p *probe) close() {
	for _, s := range p.streams {
		s.Close()
	}
}

// lock takes a lock of ttl on the probe project and returns it.
func (p *probe) lock(ctx context.Context, file string, ttl time.Duration) (filelock.Lock, error) {
	r, err := p.cls[0].Lock(ctx, client.LockRequest{ProjectID: p.project, File: file, UserID: "probe-" + file, TTL: ttl})
	return r.Lock, err
}

// requestsBack waits until a status request succeeds on every instance
// and returns when the last one did.
func (p *probe) requestsBack(ctx context.Context) (time.Time, error) {
	deadline := time.Now().Add(60 * time.Second)
	var last time.Time
	for _, c := range p.cls {
		for {
			if _, err := c.Status(ctx, p.project); err == nil {
				last = time.Now()
				break
			} else if time.Now().After(deadline) {
				return last, fmt.Errorf("requests not back within 60s: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return last, nil
}

// released waits until a probe stream got the lock_released of token and
// returns when it first arrived.
func (p *probe) released(token int64, timeout time.Duration) (time.Time, string, error) {
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		for _, rc := range p.got {
			if rc.Event.Type == filelock.EventLockReleased && rc.Event.Lock.Token == token {
				p.mu.Unlock()
				return rc.At, rc.Event.Reason, nil
			}
		}
		p.mu.Unlock()
		if time.Now().After(deadline) {
			return time.Time{}, "", fmt.Errorf("no lock_released of token %d within %v", token, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
