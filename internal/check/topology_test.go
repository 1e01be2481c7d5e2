package check_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"filelock/internal/check"
	"filelock/internal/redistest"
)

// runRounds runs rounds on the rig built by setup: one in make test, as
// many as fit in CHECK_SOAK otherwise. Each round's seed is printed; set
// CHECK_SEED to replay a round's schedule.
//
// CHECK_FAULTS (comma-separated fault names) keeps only those faults, to
// tell which fault a failing schedule needs.
func runRounds(t *testing.T, setup func(t *testing.T) *rig, faults []fault) {
	if only := os.Getenv("CHECK_FAULTS"); only != "" {
		var kept []fault
		for _, f := range faults {
			if slices.Contains(strings.Split(only, ","), f.name) {
				kept = append(kept, f)
			}
		}
		faults = kept
	}
	base := seed(t)
	until := time.Now().Add(soak(t))
	var total check.Counts
	for n := 0; ; n++ {
		s := base + uint64(n)
		ok := t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
			t.Logf("round %d: seed %d (replay with CHECK_SEED=%d)", n, s, s)
			r := setup(t)
			rep := r.round(context.Background(), s, n, faults)
			total.Ops += rep.Counts.Ops
			total.Unknown += rep.Counts.Unknown
			total.Events += rep.Counts.Events
			total.Faults += rep.Counts.Faults
			t.Logf("round %d (seed %d): %s", n, s, rep)
			if !rep.OK() {
				t.Fatalf("round %d: the history breaks the SPEC; replay with CHECK_SEED=%d", n, s)
			}
		})
		if !ok || !time.Now().Before(until) {
			break
		}
	}
	t.Logf("checked: %d operations (%d with unknown outcome), %d events, %d faults", total.Ops, total.Unknown, total.Events, total.Faults)
}

// instances starts n filelockd instances with the environment e.
func instances(t *testing.T, n int, e map[string]string) []*check.Instance {
	var out []*check.Instance
	for range n {
		in, err := check.StartInstance(bin, env(e))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(in.Kill)
		out = append(out, in)
	}
	return out
}

func TestCheckMemory(t *testing.T) {
	runRounds(t, func(t *testing.T) *rig {
		return &rig{t: t, memory: true, inst: instances(t, 1, map[string]string{"FILELOCK_STORE_BACKEND": "memory"})}
	}, []fault{instanceKill})
}

func redisEnv(addrs []string, master, prefix string) map[string]string {
	e := map[string]string{
		"FILELOCK_STORE_BACKEND":    "redis",
		"FILELOCK_REDIS_ADDRS":      strings.Join(addrs, ","),
		"FILELOCK_REDIS_KEY_PREFIX": prefix,
	}
	if master != "" {
		e["FILELOCK_REDIS_MASTER_NAME"] = master
	}
	return e
}

func TestCheckRedis(t *testing.T) {
	runRounds(t, func(t *testing.T) *rig {
		srv := redistest.Start(t)
		prefix := redistest.Prefix(t)
		return &rig{t: t, redis: srv, prefix: prefix, inst: instances(t, 3, redisEnv([]string{srv.Addr}, "", prefix))}
	}, []fault{pause, killPubSub(func(r *rig) []*redistest.Server { return []*redistest.Server{r.redis} }),
		killRestart, olderRDB, evict, deleteLocks, instanceKill})
}

func TestCheckSentinel(t *testing.T) {
	runRounds(t, func(t *testing.T) *rig {
		s := redistest.StartSentinel(t)
		prefix := redistest.Prefix(t)
		return &rig{t: t, sentinel: s, prefix: prefix, inst: instances(t, 2, redisEnv(s.SentinelAddrs(), redistest.MasterName, prefix))}
	}, []fault{sentinelFailover, killPubSub(func(r *rig) []*redistest.Server {
		m, err := r.sentinel.Master(context.Background())
		if err != nil {
			r.t.Fatal(err)
		}
		return []*redistest.Server{m}
	}), instanceKill})
}

func TestCheckCluster(t *testing.T) {
	runRounds(t, func(t *testing.T) *rig {
		c := redistest.StartClusterReplicas(t)
		prefix := redistest.Prefix(t)
		return &rig{t: t, cluster: c, prefix: prefix, inst: instances(t, 3, redisEnv(c.Addrs(), "", prefix))}
	}, []fault{clusterMasterKill, clusterReaperKill, killPubSub(func(r *rig) []*redistest.Server { return r.cluster.Nodes() }), instanceKill})
}
