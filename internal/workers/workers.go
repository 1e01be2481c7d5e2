// Package workers runs functions on goroutines kept between calls.
package workers

import (
	"sync"
	"sync/atomic"
	"time"
)

// workerIdleTick is how often idle workers look at the clock: a worker
// idle for two ticks (1–2 of them) exits.
const workerIdleTick = time.Second

// Pool runs functions on goroutines that are kept between calls, so that
// a short task (a store call, a message read off a connection, a batch of
// events written to one) does not pay for a new goroutine and the growth
// of its stack each time. A function is handed to an idle worker when
// there is one, else to a new goroutine: it never waits for another to
// finish, so a hung call holds up nothing but its own goroutine. A worker
// idle for 1–2 s exits, so a burst (or a store that hangs for a while)
// leaves no goroutines behind; after close, each worker exits once its
// function returns. The zero value is not usable: see New.
type Pool struct {
	jobs chan func() // unbuffered: a send succeeds only when a worker waits

	tick atomic.Pointer[chan struct{}] // closed at each tick, then replaced

	closed atomic.Bool

	mu    sync.Mutex
	live  int         // workers running
	timer *time.Timer // drives the ticks while any worker lives
}

// New returns a pool with no worker; Close ends it.
func New() *Pool {
	w := &Pool{jobs: make(chan func())}
	ch := make(chan struct{})
	w.tick.Store(&ch)
	return w
}

// Run calls f on a worker.
func (w *Pool) Run(f func()) {
	select {
	case w.jobs <- f:
		return
	default:
	}
	w.mu.Lock()
	w.live++
	if w.timer == nil && !w.closed.Load() {
		w.timer = time.AfterFunc(workerIdleTick, w.onTick)
	}
	w.mu.Unlock()
	go w.loop(f)
}

func (w *Pool) loop(f func()) {
	defer w.exited()
	for f != nil {
		f()
		f = w.next()
	}
}

// next waits for the worker's next function: nil when it has been idle
// for two ticks, or the workers are closed.
func (w *Pool) next() func() {
	for ticks := 0; ticks < 2; {
		tick := *w.tick.Load()
		if w.closed.Load() { // after the load: a close from now on closes tick
			return nil
		}
		select {
		case f := <-w.jobs:
			return f
		case <-tick:
			ticks++
		}
	}
	return nil
}

func (w *Pool) exited() {
	w.mu.Lock()
	w.live--
	w.mu.Unlock()
}

// onTick wakes the idle workers and schedules the next tick while any
// worker lives.
func (w *Pool) onTick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.broadcast()
	if w.live > 0 && !w.closed.Load() {
		w.timer.Reset(workerIdleTick)
	} else {
		w.timer = nil
	}
}

func (w *Pool) broadcast() {
	ch := make(chan struct{})
	close(*w.tick.Swap(&ch))
}

// Close makes idle workers exit now and busy ones once they are done;
// functions run after Close still run, each on a worker that then exits.
func (w *Pool) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed.Store(true)
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.broadcast()
}

// Running returns how many workers are alive.
func (w *Pool) Running() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.live
}
