package handlers

import (
	"sync"
	"sync/atomic"
	"time"
)

// workerIdleTick is how often idle workers look at the clock: a worker
// idle for two ticks (1–2 of them) exits.
const workerIdleTick = time.Second

// workers runs functions on goroutines that are kept between calls, so that
// a store call (storeCall) does not pay for a new goroutine and the growth
// of its stack each time. A function is handed to an idle worker when
// there is one, else to a new goroutine: it never waits for another to
// finish, so a hung call holds up nothing but its own goroutine. A worker
// idle for 1–2 s exits, so a burst (or a store that hangs for a while)
// leaves no goroutines behind; after close, each worker exits once its
// function returns. The zero value is not usable: see newWorkers.
type workers struct {
	jobs chan func() // unbuffered: a send succeeds only when a worker waits

	tick atomic.Pointer[chan struct{}] // closed at each tick, then replaced

	closed atomic.Bool

	mu    sync.Mutex
	live  int         // workers running
	timer *time.Timer // drives the ticks while any worker lives
}

func newWorkers() *workers {
	w := &workers{jobs: make(chan func())}
	ch := make(chan struct{})
	w.tick.Store(&ch)
	return w
}

// run calls f on a worker.
func (w *workers) run(f func()) {
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

func (w *workers) loop(f func()) {
	defer w.exited()
	for f != nil {
		f()
		f = w.next()
	}
}

// next waits for the worker's next function: nil when it has been idle
// for two ticks, or the workers are closed.
func (w *workers) next() func() {
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

func (w *workers) exited() {
	w.mu.Lock()
	w.live--
	w.mu.Unlock()
}

// onTick wakes the idle workers and schedules the next tick while any
// worker lives.
func (w *workers) onTick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.broadcast()
	if w.live > 0 && !w.closed.Load() {
		w.timer.Reset(workerIdleTick)
	} else {
		w.timer = nil
	}
}

func (w *workers) broadcast() {
	ch := make(chan struct{})
	close(*w.tick.Swap(&ch))
}

// close makes idle workers exit now and busy ones once they are done.
func (w *workers) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed.Store(true)
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.broadcast()
}

// running returns how many workers are alive (tests).
func (w *workers) running() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.live
}
