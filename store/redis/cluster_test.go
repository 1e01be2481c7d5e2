package redis_test

import (
	"fmt"
	"testing"

	"filelock"
	"filelock/internal/redistest"
	"filelock/store"
	"filelock/store/redis"
	"filelock/store/storetest"
)

// On a Redis Cluster (the shared private one: three masters), the store
// behaves as on one server: every script runs on its project's slot (or the
// reaper's), Pub/Sub reaches every node.

// newClusterStore is the conformance factory on the shared cluster.
func newClusterStore(tb testing.TB, opts store.Options) *redis.Store {
	c := redistest.SharedCluster(tb)
	s := redis.New(c.Client(tb), opts, redistest.Prefix(tb))
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformanceCluster(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store { return newClusterStore(t, opts) })
	storetest.RunDeliveries(t, func(t *testing.T, opts store.Options) store.Store { return newClusterStore(t, opts) })
}

// clusterPair returns two Store instances on one prefix of the cluster,
// each with its own cluster client.
func clusterPair(t *testing.T) (*redis.Store, *redis.Store) {
	c := redistest.SharedCluster(t)
	prefix := redistest.Prefix(t)
	opts := storetest.Opts()
	return redis.New(c.Client(t), opts, prefix), redis.New(c.Client(t), opts, prefix)
}

// spreadProjects returns one project per cluster node: project i's keys
// live on a different master than project j's.
func spreadProjects(t *testing.T) []string {
	t.Helper()
	c := redistest.SharedCluster(t)
	rdb := c.Client(t)
	byNode := map[string]string{}
	for i := 0; len(byNode) < len(c.Addrs()); i++ {
		if i == 1000 {
			t.Fatalf("1000 projects on only %d of %d nodes", len(byNode), len(c.Addrs()))
		}
		p := fmt.Sprint("p", i)
		node, err := rdb.MasterForKey(t.Context(), "{"+p+"}")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := byNode[node.Options().Addr]; !ok {
			byNode[node.Options().Addr] = p
		}
	}
	var projects []string
	for _, p := range byNode {
		projects = append(projects, p)
	}
	return projects
}

// TestClusterTwoInstances: an event one instance publishes reaches the
// other's Feed, whichever node the project lives on; with both reaping,
// every expired lock is released once.
func TestClusterTwoInstances(t *testing.T) {
	a, b := clusterPair(t)
	ctx := t.Context()
	projects := spreadProjects(t)
	f := subscribedFeed(t, b, projects...)
	for _, p := range projects {
		r, err := a.Acquire(ctx, store.AcquireRequest{ProjectID: p, File: "f", User: "u"})
		if err != nil {
			t.Fatal(err)
		}
		n := waitNotice(t, f, isEvent(filelock.EventLockAcquired))
		if n.ProjectID != p || n.Event.Lock.Token != r.Lock.Token {
			t.Fatalf("%s: notice %+v, want the lock_acquired of token %d", p, n, r.Lock.Token)
		}
	}
	a, b = clusterPair(t) // a prefix of their own: no events yet
	expireOnce(t, a, b)
}

// TestClusterFeed: one Feed subscribed to projects on every node gets each
// project's events, and none after Unsubscribe.
func TestClusterFeed(t *testing.T) {
	s := newClusterStore(t, storetest.Opts())
	ctx := t.Context()
	projects := spreadProjects(t)
	f := subscribedFeed(t, s, projects...)
	// Interleaved across nodes; per project the events come in order.
	for _, user := range []string{"u1", "u2"} {
		for _, p := range projects {
			if err := s.Connect(ctx, p, user, p+user, storetest.Opts().MaxTTL); err != nil {
				t.Fatal(err)
			}
		}
	}
	next := map[string]int{}
	for range 2 * len(projects) {
		n := waitNotice(t, f, isEvent(filelock.EventUserJoined))
		want := []string{"u1", "u2"}[min(next[n.ProjectID], 1)]
		if n.Event.User != want || next[n.ProjectID] > 1 {
			t.Fatalf("notice %+v: want user_joined of %s", n, want)
		}
		next[n.ProjectID]++
	}
	for _, p := range projects {
		if next[p] != 2 {
			t.Fatalf("%s: %d user_joined notices, want 2 (all: %v)", p, next[p], next)
		}
	}
	// Unsubscribed from the first project: only the others' events arrive.
	if err := f.Unsubscribe(ctx, projects[0]); err != nil {
		t.Fatal(err)
	}
	for _, p := range projects {
		if _, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: p, File: "f", User: "u1"}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]bool{}
	for len(got) < len(projects)-1 {
		n := waitNotice(t, f, isEvent(filelock.EventLockAcquired))
		if n.ProjectID == projects[0] || got[n.ProjectID] {
			t.Fatalf("notice %+v after lock_acquired of %v; unsubscribed from %s", n, got, projects[0])
		}
		got[n.ProjectID] = true
	}
}
