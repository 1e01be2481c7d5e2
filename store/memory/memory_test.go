package memory_test

import (
	"testing"
	"time"

	"filelock"
	"filelock/store"
	"filelock/store/memory"
	"filelock/store/storetest"
)

func newStore(tb testing.TB, opts store.Options) store.Store {
	s := memory.New(opts)
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts store.Options) store.Store { return newStore(t, opts) })
	storetest.RunDeliveries(t, func(t *testing.T, opts store.Options) store.Store { return newStore(t, opts) })
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B, opts store.Options) store.Store { return newStore(b, opts) })
}

// A feed whose reader falls behind its buffer gets a Resync notice instead
// of losing events silently, and the store never blocks on it.
func TestFeedOverflowResyncs(t *testing.T) {
	t.Parallel()
	s := newStore(t, storetest.Opts())
	f, err := s.Feed(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Subscribe(t.Context(), "p1"); err != nil {
		t.Fatal(err)
	}
	const n = 20000 // far past the feed's buffer; nobody reads meanwhile
	for i := range n {
		if err := s.Connect(t.Context(), "p1", "u1", "c", time.Minute); err != nil {
			t.Fatal(err)
		}
		if i < n-1 {
			if err := s.Disconnect(t.Context(), "p1", "c"); err != nil {
				t.Fatal(err)
			}
		}
	}
	last, _ := filelock.ParseEventID(mustStatus(t, s, "p1").LastEventID)
	var prev uint64
	resyncs := 0
	deadline := time.After(10 * time.Second)
	for prev != last {
		select {
		case nt := <-f.Notices():
			if nt.Resync {
				resyncs++
				prev = 0
				continue
			}
			if prev != 0 && nt.Event.Seq != prev+1 {
				t.Fatalf("notice %d after %d without a Resync", nt.Event.Seq, prev)
			}
			prev = nt.Event.Seq
		case <-deadline:
			t.Fatalf("last notice %d, want %d", prev, last)
		}
	}
	if resyncs == 0 {
		t.Fatalf("%d events past the buffer without a Resync", 2*n-1)
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	s := memory.New(storetest.Opts())
	f, err := s.Feed(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(t.Context()) }()
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run after Close: %v", err)
	}
	if _, ok := <-f.Notices(); ok {
		t.Fatal("feed open after Close")
	}
	if err := s.Ping(t.Context()); filelock.ErrorCode(err) != filelock.EUnavailable {
		t.Fatalf("Ping after Close: %v", err)
	}
	_, err = s.Acquire(t.Context(), store.AcquireRequest{ProjectID: "p", File: "f", User: "u"})
	if filelock.ErrorCode(err) != filelock.EUnavailable {
		t.Fatalf("Acquire after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// A project's first event is seeded from the clock: unix µs + 1,
// and the first acquisition's token is that Seq.
func TestFirstSeq(t *testing.T) {
	t.Parallel()
	s := newStore(t, storetest.Opts())
	before := uint64(time.Now().UnixMicro())
	r, err := s.Acquire(t.Context(), store.AcquireRequest{ProjectID: "p", File: "f", User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	after := uint64(time.Now().UnixMicro())
	if tok := uint64(r.Lock.Token); tok < before+1 || tok > after+1 {
		t.Fatalf("first token %d, want unix µs+1 in [%d, %d]", tok, before+1, after+1)
	}
}

func mustStatus(t *testing.T, s store.Store, p string) filelock.Status {
	t.Helper()
	st, err := s.Status(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
