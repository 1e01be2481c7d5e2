package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"filelock/store"
)

// presence records this instance's live connections in the store (SPEC §1
// I5): a connection that names a user calls connect when it joins a project
// and disconnect when it closes or leaves; a refresher renews the leases of
// all live connections every refresh period. If the instance dies, its
// connections' leases lapse and the store's Run disconnects them: presence
// outlives a crash by at most lease + the reaper's poll, and the lock of a
// user who had no other connection is released disconnect_grace after that.
type presence struct {
	srv     *Server
	st      store.Store
	lease   time.Duration
	every   time.Duration
	timeout time.Duration
	log     *slog.Logger

	mu    sync.Mutex
	conns map[string]map[string]struct{} // project → live connIDs

	stop chan struct{}
	wg   sync.WaitGroup
}

func newPresence(srv *Server, st store.Store, lease, every, timeout time.Duration, log *slog.Logger) *presence {
	p := &presence{srv: srv, st: st, lease: lease, every: every, timeout: timeout, log: log,
		conns: map[string]map[string]struct{}{}, stop: make(chan struct{})}
	p.wg.Add(1)
	go p.run()
	return p
}

// newConnID returns a fresh connection id for presence.
func newConnID(transport string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return transport + "-" + hex.EncodeToString(b[:])
}

// connect records connID of user as live in the project.
func (p *presence) connect(ctx context.Context, projectID, user, connID string) error {
	_, err := storeCall(ctx, p.srv, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, p.st.Connect(ctx, projectID, user, connID, p.lease)
	})
	if err != nil {
		return err
	}
	p.mu.Lock()
	m := p.conns[projectID]
	if m == nil {
		m = map[string]struct{}{}
		p.conns[projectID] = m
	}
	m[connID] = struct{}{}
	p.mu.Unlock()
	return nil
}

// disconnect removes connID from the project. When the store cannot be
// reached the lease lapses instead, with the same effect later.
func (p *presence) disconnect(projectID, connID string) {
	p.mu.Lock()
	if m := p.conns[projectID]; m != nil {
		delete(m, connID)
		if len(m) == 0 {
			delete(p.conns, projectID)
		}
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	if err := p.st.Disconnect(ctx, projectID, connID); err != nil {
		p.log.Warn("presence: disconnect failed; the lease will lapse", "project_id", projectID, "err", err)
	}
}

// run renews the leases of the live connections until close.
func (p *presence) run() {
	defer p.wg.Done()
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.refresh()
		}
	}
}

func (p *presence) refresh() {
	p.mu.Lock()
	batch := make(map[string][]string, len(p.conns))
	for project, m := range p.conns {
		for id := range m {
			batch[project] = append(batch[project], id)
		}
	}
	p.mu.Unlock()
	for project, ids := range batch {
		ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
		if err := p.st.Refresh(ctx, project, ids, p.lease); err != nil {
			p.log.Warn("presence: refresh failed", "project_id", project, "err", err)
		}
		cancel()
	}
}

func (p *presence) close() {
	close(p.stop)
	p.wg.Wait()
}
