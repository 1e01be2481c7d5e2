package workers

import (
	"sync"
	"testing"
	"time"
)

// waitWorkers waits until w has n workers alive.
func waitWorkers(t *testing.T, w *Pool, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for w.Running() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers alive after %v, want %d", w.Running(), within, n)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

// TestWorkersNeverWait: a function never waits for another to finish, and
// workers are reused.
func TestWorkersNeverWait(t *testing.T) {
	w := New()
	defer w.Close()
	block := make(chan struct{})
	var started sync.WaitGroup
	for range 8 { // eight hung calls
		started.Add(1)
		w.Run(func() { started.Done(); <-block })
	}
	started.Wait()
	done := make(chan struct{})
	w.Run(func() { close(done) })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a call waited for the hung ones")
	}
	close(block)
	// Sequential calls reuse an idle worker instead of starting more.
	waitIdle := func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			ran := make(chan struct{})
			before := w.Running()
			w.Run(func() { close(ran) })
			<-ran
			if w.Running() <= before {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("every call starts a worker (%d alive)", w.Running())
			}
		}
	}
	waitIdle()
	n := w.Running()
	for range 100 {
		ran := make(chan struct{})
		w.Run(func() { close(ran) })
		<-ran
	}
	if got := w.Running(); got > n+1 {
		t.Fatalf("100 sequential calls: %d workers alive, %d before", got, n)
	}
}

// TestWorkersIdleExit: workers idle for two ticks exit; after close, idle
// ones exit at once and busy ones when done.
func TestWorkersIdleExit(t *testing.T) {
	w := New()
	defer w.Close()
	var wg sync.WaitGroup
	block := make(chan struct{})
	for range 20 {
		wg.Add(1)
		w.Run(func() { defer wg.Done(); <-block })
	}
	waitWorkers(t, w, 20, time.Second)
	close(block)
	wg.Wait()
	waitWorkers(t, w, 0, 10*workerIdleTick)

	// The ticks stop after the last worker and start again with a new one.
	deadline := time.Now().Add(10 * workerIdleTick)
	for {
		w.mu.Lock()
		stopped := w.timer == nil
		w.mu.Unlock()
		if stopped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ticks still scheduled with no worker alive")
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	ran := make(chan struct{})
	w.Run(func() { close(ran) })
	<-ran
	waitWorkers(t, w, 0, 10*workerIdleTick)

	busy := make(chan struct{})
	hold := make(chan struct{})
	w.Run(func() { close(busy); <-hold })
	w.Run(func() {})
	<-busy
	w.Close()
	waitWorkers(t, w, 1, 10*time.Second) // the idle one left at once
	close(hold)
	waitWorkers(t, w, 0, 10*time.Second)
	ran = make(chan struct{})
	w.Run(func() { close(ran) }) // still runs after close, on a worker that then exits
	<-ran
	waitWorkers(t, w, 0, 10*time.Second)
}
