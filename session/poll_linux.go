//go:build linux

package session

import (
	"errors"
	"net"
	"sync"
	"syscall"
)

// poller tells, from one goroutine for all of them, when watched
// connections have something to read (or were hung up), so that an idle
// connection that must read (a WebSocket) needs no goroutine of its own: an
// epoll set of its own beside the runtime's, one-shot and level-triggered,
// re-armed by the reader once it has read what came.
type poller struct {
	spawn func(func()) // runs a ready on a goroutine of its own
	epfd  int
	wake  [2]int // a pipe: a byte on it ends run

	mu      sync.Mutex
	watches map[int32]*Watch
	closed  bool
	done    chan struct{}
}

// Watch is one watched connection.
type Watch struct {
	p       *poller
	fd      int32
	ready   func()
	stopped bool // guarded by p.mu
}

func newPoller(run func(func())) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &poller{spawn: run, epfd: epfd, watches: map[int32]*Watch{}, done: make(chan struct{})}
	if err := syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p.wake[0])}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFDs()
		return nil, err
	}
	go p.run()
	return p, nil
}

func (p *poller) closeFDs() {
	syscall.Close(p.wake[0])
	syscall.Close(p.wake[1])
	syscall.Close(p.epfd)
}

const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// watch arms c: when it has something to read, ready runs once, on a
// goroutine of its own; Rearm arms it again. The caller must Stop the
// watch before it closes c.
func (p *poller) watch(c net.Conn, ready func()) (*Watch, error) {
	rc, ok := rawConn(c)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	w := &Watch{p: p, ready: ready}
	var cerr error
	err := rc.Control(func(fd uintptr) {
		w.fd = int32(fd)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			cerr = net.ErrClosed
			return
		}
		p.watches[w.fd] = w
		ev := syscall.EpollEvent{Events: pollEvents, Fd: w.fd}
		if cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev); cerr != nil {
			delete(p.watches, w.fd)
		}
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

// Rearm watches the connection again, after its reader has read what
// came (what came since is reported at once).
func (w *Watch) Rearm() error {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	if w.stopped || w.p.closed {
		return net.ErrClosed
	}
	ev := syscall.EpollEvent{Events: pollEvents, Fd: w.fd}
	return syscall.EpollCtl(w.p.epfd, syscall.EPOLL_CTL_MOD, int(w.fd), &ev)
}

// Stop ends the watch; it must come before the connection closes (its
// descriptor may then be reused). Stop is idempotent.
func (w *Watch) Stop() {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	if w.stopped {
		return
	}
	w.stopped = true
	if w.p.watches[w.fd] == w {
		delete(w.p.watches, w.fd)
		if !w.p.closed {
			_ = syscall.EpollCtl(w.p.epfd, syscall.EPOLL_CTL_DEL, int(w.fd), nil)
		}
	}
}

func (p *poller) run() {
	defer close(p.done)
	var evs [128]syscall.EpollEvent
	var ready []*Watch
	for {
		n, err := syscall.EpollWait(p.epfd, evs[:], -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		ready = ready[:0]
		p.mu.Lock()
		for _, ev := range evs[:n] {
			if ev.Fd == int32(p.wake[0]) {
				p.mu.Unlock()
				return
			}
			if w := p.watches[ev.Fd]; w != nil && !w.stopped {
				ready = append(ready, w)
			}
		}
		p.mu.Unlock()
		for _, w := range ready {
			p.spawn(w.ready)
		}
		clear(ready)
	}
}

// close stops the poller; the watches are forgotten.
func (p *poller) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	_, _ = syscall.Write(p.wake[1], []byte{1})
	<-p.done
	p.mu.Lock()
	clear(p.watches)
	p.mu.Unlock()
	p.closeFDs()
}
