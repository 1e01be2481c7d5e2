package session

import (
	"net"
	"sync"
	"time"

	"filelock/internal/workers"
)

// Config tunes a Manager.
type Config struct {
	// MaxProjects is how many projects one session may join
	// (limits.max_projects_per_connection; 0: no cap).
	MaxProjects int
	// Tick is the period of the one timer every session shares: it writes
	// the keepalives that are due and asks each Prober whether its client
	// has gone. Keepalives are due within a Tick of their time.
	Tick time.Duration
}

// Manager holds the live sessions of a server: it opens them, drives
// their keepalives from one shared timer, and closes them all on Shutdown.
type Manager struct {
	cfg Config

	mu       sync.Mutex
	sessions map[*Session]struct{}
	closed   bool
	live     sync.WaitGroup // sessions not wound down yet

	stop chan struct{}
	wg   sync.WaitGroup

	pollOnce sync.Once
	poll     *poller // nil: none (not Linux, or it failed)

	// work runs the readers the poller wakes and the drains of queued
	// events on kept goroutines: a new one per message or batch would
	// grow its stack anew each time.
	work *workers.Pool
}

// Watch reports, from one goroutine for every watched connection, when c
// has something to read (or was hung up): ready then runs once, on a
// goroutine of its own, and the reader reads what came without waiting
// (ReadNow) and re-arms the watch. An idle reader thus needs no goroutine.
// It must Stop the watch before it closes c. ok is false where no such
// watch is available (not Linux): then the reader reads c itself.
func (m *Manager) Watch(c net.Conn, ready func()) (w *Watch, ok bool) {
	m.pollOnce.Do(func() {
		m.mu.Lock()
		closed := m.closed
		m.mu.Unlock()
		if !closed {
			m.poll, _ = newPoller(m.work.Run)
		}
	})
	if m.poll == nil {
		return nil, false
	}
	w, err := m.poll.watch(c, ready)
	return w, err == nil
}

// NewManager starts a manager; Shutdown stops it.
func NewManager(cfg Config) *Manager {
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	m := &Manager{cfg: cfg, sessions: map[*Session]struct{}{}, stop: make(chan struct{}), work: workers.New()}
	m.wg.Add(1)
	go m.run()
	return m
}

// Open starts a session of transport t run by be. It fails with
// ErrShuttingDown once Shutdown has begun; then nothing of opts runs.
func (m *Manager) Open(t Transport, be Backend, opts Options) (*Session, error) {
	ss := &Session{m: m, t: t, be: be, opts: opts, connID: newConnID(t.Name()),
		done: make(chan struct{})}
	ss.lastKeep.Store(time.Now().UnixNano())
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrShuttingDown
	}
	m.sessions[ss] = struct{}{}
	m.live.Add(1)
	m.mu.Unlock()
	if !opts.Expires.IsZero() {
		ss.mu.Lock()
		ss.expiry = time.AfterFunc(time.Until(opts.Expires), func() { ss.Close(TokenExpired) })
		ss.mu.Unlock()
	}
	return ss, nil
}

func (m *Manager) remove(ss *Session) {
	m.mu.Lock()
	delete(m.sessions, ss)
	m.mu.Unlock()
	m.live.Done()
}

// run is the shared timer.
func (m *Manager) run() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.Tick)
	defer t.Stop()
	var batch []*Session
	for {
		select {
		case <-m.stop:
			return
		case now := <-t.C:
			m.mu.Lock()
			batch = batch[:0]
			for ss := range m.sessions {
				batch = append(batch, ss)
			}
			m.mu.Unlock()
			n := now.UnixNano()
			for _, ss := range batch {
				if p, ok := ss.t.(Prober); ok && p.Gone() {
					go ss.Close(ClientGone)
					continue
				}
				ss.keepalive(n)
			}
			clear(batch)
		}
	}
}

// Len is the number of live sessions.
func (m *Manager) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}

// Shutdown closes every session with Shutdown, refuses new ones, and waits
// up to wait for them to wind down; it reports whether they all did. A
// second call waits likewise.
func (m *Manager) Shutdown(wait time.Duration) bool {
	m.mu.Lock()
	first := !m.closed
	m.closed = true
	all := make([]*Session, 0, len(m.sessions))
	for ss := range m.sessions {
		all = append(all, ss)
	}
	m.mu.Unlock()
	if first {
		close(m.stop)
		m.wg.Wait()
	}
	for _, ss := range all { // a farewell may wait on a stalled client
		go ss.Close(Shutdown)
	}
	done := make(chan struct{})
	go func() { m.live.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
		return false
	}
	m.pollOnce.Do(func() {}) // no poller from now on
	if m.poll != nil {
		m.poll.close()
	}
	m.work.Close()
	return true
}
