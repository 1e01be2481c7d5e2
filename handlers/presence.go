package handlers

import (
	"context"
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
//
// The refresher also records again, with their users, connections the store
// lost (Store.Refresh): after a store outage longer than the lease, or a
// Redis that came back empty, every live connection is present again within
// one refresh period. A disconnect waits for a refresh of its project in
// progress, so a refresh cannot record again a connection just disconnected.
type presence struct {
	srv     *Server
	st      store.Store
	lease   time.Duration
	every   time.Duration
	timeout time.Duration
	log     *slog.Logger

	mu       sync.Mutex
	projects map[string]*presenceProject
	failed   map[string]bool // projects whose last refresh failed; run's own

	stop chan struct{}
	wg   sync.WaitGroup
}

// presenceProject is one project's live connections on this instance.
type presenceProject struct {
	op    sync.Mutex        // held by a refresh of the project and by a removal
	conns map[string]string // connID → user; guarded by presence.mu
}

func newPresence(srv *Server, st store.Store, lease, every, timeout time.Duration, log *slog.Logger) *presence {
	p := &presence{srv: srv, st: st, lease: lease, every: every, timeout: timeout, log: log,
		projects: map[string]*presenceProject{}, stop: make(chan struct{})}
	p.wg.Add(1)
	go p.run()
	return p
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
	pp := p.projects[projectID]
	if pp == nil {
		pp = &presenceProject{conns: map[string]string{}}
		p.projects[projectID] = pp
	}
	pp.conns[connID] = user
	p.mu.Unlock()
	return nil
}

// disconnect removes connID from the project. When the store cannot be
// reached the lease lapses instead, with the same effect later.
func (p *presence) disconnect(projectID, connID string) {
	p.mu.Lock()
	pp := p.projects[projectID]
	p.mu.Unlock()
	if pp != nil {
		pp.op.Lock() // a refresh in progress may still name connID
		p.mu.Lock()
		delete(pp.conns, connID)
		if len(pp.conns) == 0 && p.projects[projectID] == pp {
			delete(p.projects, projectID)
		}
		p.mu.Unlock()
		pp.op.Unlock()
	}
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

// refresh renews (or records again) every live connection, one store call
// per project, each bounded by the store timeout. Projects whose last
// refresh failed go last, so that one project the store cannot reach (its
// Redis Cluster slot down) does not stop the others' renewals.
func (p *presence) refresh() {
	if p.failed == nil {
		p.failed = map[string]bool{}
	}
	p.mu.Lock()
	ids := make([]string, 0, len(p.projects))
	var failed []string
	for id := range p.projects {
		if p.failed[id] {
			failed = append(failed, id)
		} else {
			ids = append(ids, id)
		}
	}
	for id := range p.failed {
		if p.projects[id] == nil {
			delete(p.failed, id)
		}
	}
	p.mu.Unlock()
	ids = append(ids, failed...)
	for _, id := range ids {
		select {
		case <-p.stop:
			return
		default:
		}
		p.mu.Lock()
		pp := p.projects[id]
		p.mu.Unlock()
		if pp == nil {
			continue
		}
		pp.op.Lock()
		p.mu.Lock()
		conns := make([]store.Conn, 0, len(pp.conns))
		for c, u := range pp.conns {
			conns = append(conns, store.Conn{ID: c, User: u})
		}
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
		err := p.st.Refresh(ctx, id, conns, p.lease)
		cancel()
		pp.op.Unlock()
		if err != nil {
			// The store is probably down: the other projects would wait as
			// long; the next round retries them all, this one last.
			p.failed[id] = true
			p.log.Warn("presence: refresh failed", "project_id", id, "err", err)
			return
		}
		delete(p.failed, id)
	}
}

func (p *presence) close() {
	close(p.stop)
	p.wg.Wait()
}
