package storetest

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filelock"
	"filelock/store"
)

func testContention(t *testing.T, newStore factory) {
	// Many users race for few files: never two holders (I1), every
	// acquisition's token above all before it (I3), and the log replays to
	// a consistent state.
	t.Run("FewFiles", func(t *testing.T) {
		t.Parallel()
		o := Opts()
		o.History = 100000
		s := newStore(t, o)
		const workers, rounds = 12, 40
		files := []string{"a.jpg", "b.jpg", "c.jpg"}
		var holders [3]atomic.Pointer[string]
		var mu sync.Mutex
		var tokens []int64
		var wins atomic.Int64
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				user := fmt.Sprintf("user%02d", w)
				var last int64
				for i := range rounds {
					fi := (w + i) % len(files)
					r, err := s.Acquire(t.Context(), store.AcquireRequest{ProjectID: "p1", File: files[fi], User: user, TTL: o.MaxTTL})
					if err != nil {
						if filelock.ErrorCode(err) != filelock.EFileLocked {
							t.Errorf("%s: Acquire: %v", user, err)
							return
						}
						continue
					}
					if r.Renewed {
						t.Errorf("%s: renewed a lock it had released", user)
					}
					if !holders[fi].CompareAndSwap(nil, &user) {
						t.Errorf("I1 violated: %s acquired %s while %s holds it", user, files[fi], *holders[fi].Load())
						return
					}
					if r.Lock.Token <= last {
						t.Errorf("%s: token %d after its own %d", user, r.Lock.Token, last)
					}
					last = r.Lock.Token
					mu.Lock()
					tokens = append(tokens, r.Lock.Token)
					mu.Unlock()
					wins.Add(1)
					runtime.Gosched()
					holders[fi].Store(nil)
					tok := r.Lock.Token
					if _, err := s.Release(t.Context(), store.ReleaseRequest{ProjectID: "p1", File: files[fi], User: user, Token: &tok}); err != nil {
						t.Errorf("%s: Release: %v", user, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if wins.Load() == 0 {
			t.Fatal("no acquisition succeeded")
		}
		seen := map[int64]bool{}
		for _, tok := range tokens {
			if seen[tok] {
				t.Fatalf("token %d handed out twice", tok)
			}
			seen[tok] = true
		}
		evs := events(t, s, "p1", filelock.InitialEventID)
		m := newModel(filelock.Status{})
		var prev int64
		acquired := 0
		for _, e := range evs {
			if err := m.apply(e); err != nil {
				t.Fatal(err)
			}
			if e.Type == filelock.EventLockAcquired {
				acquired++
				if e.Lock.Token <= prev {
					t.Fatalf("token %d follows %d in the log", e.Lock.Token, prev)
				}
				prev = e.Lock.Token
				if !seen[e.Lock.Token] {
					t.Fatalf("logged token %d was not handed out", e.Lock.Token)
				}
			}
		}
		if acquired != len(tokens) || len(evs) != 2*len(tokens) {
			t.Fatalf("%d events, %d acquisitions logged, %d handed out", len(evs), acquired, len(tokens))
		}
		if err := m.diff(status(t, s, "p1")); err != nil {
			t.Fatal(err)
		}
	})

	// One user races for many files at once: exactly one wins (I2).
	t.Run("OneUserManyFiles", func(t *testing.T) {
		t.Parallel()
		s := newStore(t, Opts())
		const workers = 8
		for round := range 5 {
			var wins atomic.Int64
			var won atomic.Value
			var wg sync.WaitGroup
			start := make(chan struct{})
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					file := fmt.Sprintf("r%d/f%d", round, w)
					_, err := s.Acquire(t.Context(), store.AcquireRequest{ProjectID: "p1", File: file, User: "u1", TTL: 5 * time.Second})
					switch filelock.ErrorCode(err) {
					case filelock.EInternal:
						if err != nil {
							t.Errorf("Acquire: %v", err)
							return
						}
						wins.Add(1)
						won.Store(file)
					case filelock.EUserHasLock:
					default:
						t.Errorf("Acquire: %v", err)
					}
				}()
			}
			close(start)
			wg.Wait()
			if t.Failed() {
				return
			}
			if wins.Load() != 1 {
				t.Fatalf("round %d: %d acquisitions by one user, want 1", round, wins.Load())
			}
			release(t, s, store.ReleaseRequest{ProjectID: "p1", File: won.Load().(string), User: "u1"})
		}
	})

	// Concurrent switches between files never leave a user with two locks
	// nor lose one: the log replays consistently.
	t.Run("Switches", func(t *testing.T) {
		t.Parallel()
		o := Opts()
		o.History = 100000
		s := newStore(t, o)
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				user := fmt.Sprintf("user%d", w)
				for i := range 30 {
					file := fmt.Sprintf("f%d", (w*7+i)%8)
					_, err := s.Acquire(t.Context(), store.AcquireRequest{ProjectID: "p1", File: file, User: user, TTL: o.MaxTTL, ReleasePrevious: true})
					if c := filelock.ErrorCode(err); err != nil && c != filelock.EFileLocked {
						t.Errorf("%s: Acquire: %v", user, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		m := newModel(filelock.Status{})
		for _, e := range events(t, s, "p1", filelock.InitialEventID) {
			if err := m.apply(e); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.diff(status(t, s, "p1")); err != nil {
			t.Fatal(err)
		}
	})
}
