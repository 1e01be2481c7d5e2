package handlers

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"filelock/store"
	"filelock/store/memory"
)

// oneSlotDown is a store one of whose projects cannot be reached (a Redis
// Cluster with that project's slot down); it counts the refreshes of the others.
type oneSlotDown struct {
	store.Store
	down string

	mu        sync.Mutex
	refreshed map[string]int
}

func (s *oneSlotDown) Refresh(ctx context.Context, projectID string, conns []store.Conn, lease time.Duration) error {
	if projectID == s.down {
		return store.Unavailable(context.DeadlineExceeded)
	}
	s.mu.Lock()
	s.refreshed[projectID]++
	s.mu.Unlock()
	return s.Store.Refresh(ctx, projectID, conns, lease)
}

// A project the store cannot reach must not keep the leases of the others
// from being renewed: they would lapse, and their users' locks be released.
func TestPresenceRefreshSurvivesOneUnreachableProject(t *testing.T) {
	mem := memory.New(store.DefaultOptions())
	defer mem.Close()
	st := &oneSlotDown{Store: mem, down: "bad", refreshed: map[string]int{}}
	p := &presence{st: st, lease: time.Minute, every: time.Hour, timeout: time.Second,
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), projects: map[string]*presenceProject{}, stop: make(chan struct{})}
	for _, id := range []string{"bad", "good"} {
		p.projects[id] = &presenceProject{conns: map[string]string{"c-" + id: "u"}}
	}
	const rounds = 20
	p.refresh() // may learn which project is down
	for range rounds {
		p.refresh()
	}
	if n := st.refreshed["good"]; n < rounds {
		t.Fatalf("the reachable project was refreshed in %d of %d rounds", n, rounds)
	}
}
