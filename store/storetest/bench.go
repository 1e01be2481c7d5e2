package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filelock"
	"filelock/store"
)

// Bench runs the store benchmarks; each reports ops/s (one op is the pair
// or the single call named by the benchmark):
//   - LockUnlock: acquire then release, in parallel over many projects and
//     users without contention;
//   - Contended: acquire attempts of many users on few files of one project
//     (a refusal counts as an op), releasing what was won;
//   - Heartbeat: heartbeats of many users' locks;
//   - LockUnlockLoaded/{none,100k}: LockUnlock with the reaper running,
//     beside no other lock or beside 100,000 live locks over 10,000
//     projects (the cost of a lock must not grow with the locks held);
//   - ExpiryLag: how long after expires_at a feed sees the expired release
//     (I4 asks for under 1 s), reported as lag-mean-ms and lag-max-ms.
func Bench(b *testing.B, newStore func(b *testing.B, opts store.Options) store.Store) {
	opts := store.DefaultOptions()
	b.Run("LockUnlock", func(b *testing.B) {
		s := newStore(b, opts)
		var worker atomic.Int64
		runParallel(b, func(pb *testing.PB) {
			w := worker.Add(1)
			project := fmt.Sprintf("bench-%d", w%16)
			user := fmt.Sprintf("user-%d", w)
			file := fmt.Sprintf("images/%d.jpg", w)
			lockUnlock(b, s, pb, project, file, user)
		})
	})
	b.Run("Contended", func(b *testing.B) {
		s := newStore(b, opts)
		var worker atomic.Int64
		runParallel(b, func(pb *testing.PB) {
			w := worker.Add(1)
			user := fmt.Sprintf("user-%d", w)
			i := int(w)
			for pb.Next() {
				i++
				file := fmt.Sprintf("images/%d.jpg", i%4)
				_, err := s.Acquire(b.Context(), store.AcquireRequest{ProjectID: "bench", File: file, User: user})
				if err != nil {
					if filelock.ErrorCode(err) != filelock.EFileLocked {
						b.Error(err)
						return
					}
					continue
				}
				if _, err := s.Release(b.Context(), store.ReleaseRequest{ProjectID: "bench", File: file, User: user}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("ExpiryLag", func(b *testing.B) { benchExpiryLag(b, newStore) })
	for _, held := range []struct {
		name            string
		projects, files int
	}{{"none", 0, 0}, {"100k", 10000, 10}} {
		b.Run("LockUnlockLoaded/"+held.name, func(b *testing.B) {
			s := newStore(b, opts)
			ctx, cancel := context.WithCancel(b.Context())
			ran := make(chan struct{})
			go func() { _ = s.Run(ctx); close(ran) }()
			defer func() { cancel(); <-ran }()
			fill(b, s, held.projects, held.files)
			var worker atomic.Int64
			runParallel(b, func(pb *testing.PB) {
				w := worker.Add(1)
				project := fmt.Sprintf("held-%d", int(w)*7919%max(held.projects, 16))
				user := fmt.Sprintf("bench-%d", w)
				file := fmt.Sprintf("bench/%d.jpg", w)
				lockUnlock(b, s, pb, project, file, user)
			})
		})
	}
	b.Run("Heartbeat", func(b *testing.B) {
		s := newStore(b, opts)
		var worker atomic.Int64
		runParallel(b, func(pb *testing.PB) {
			w := worker.Add(1)
			project := fmt.Sprintf("bench-%d", w%16)
			user := fmt.Sprintf("user-%d", w)
			if _, err := s.Acquire(b.Context(), store.AcquireRequest{ProjectID: project, File: user + ".jpg", User: user}); err != nil {
				b.Error(err)
				return
			}
			for pb.Next() {
				if _, err := s.Heartbeat(b.Context(), project, user); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func benchExpiryLag(b *testing.B, newStore func(b *testing.B, opts store.Options) store.Store) {
	opts := store.DefaultOptions()
	opts.MinTTL = 10 * time.Millisecond
	s := newStore(b, opts)
	ctx, cancel := context.WithCancel(b.Context())
	ran := make(chan struct{})
	go func() { _ = s.Run(ctx); close(ran) }()
	defer func() { cancel(); <-ran }()
	f, err := s.Feed(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Subscribe(ctx, "lag"); err != nil {
		b.Fatal(err)
	}
	var total, worst time.Duration
	b.ResetTimer()
	for i := range b.N {
		file := fmt.Sprintf("f%d", i)
		r, err := s.Acquire(ctx, store.AcquireRequest{ProjectID: "lag", File: file, User: file, TTL: 30 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		for seen := false; !seen; {
			select {
			case n := <-f.Notices():
				seen = n.Event.Type == filelock.EventLockReleased && n.Event.Lock.File == file
				if seen && n.Event.Reason != filelock.ReasonExpired {
					b.Fatalf("released with reason %q", n.Event.Reason)
				}
			case <-time.After(10 * time.Second):
				b.Fatal("no expiry within 10s")
			}
		}
		lag := time.Since(r.Lock.ExpiresAt)
		total += lag
		worst = max(worst, lag)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "lag-mean-ms")
	b.ReportMetric(float64(worst.Microseconds())/1000, "lag-max-ms")
}

// fill takes files locks (of an hour) in each of projects projects, 32 at
// a time.
func fill(b *testing.B, s store.Store, projects, files int) {
	b.Helper()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for j := range jobs {
				p, f := j/files, j%files
				_, err := s.Acquire(b.Context(), store.AcquireRequest{ProjectID: fmt.Sprintf("held-%d", p),
					File: fmt.Sprintf("img/%d.jpg", f), User: fmt.Sprintf("u%d", f), TTL: time.Hour})
				if err != nil {
					b.Error(err)
				}
			}
		})
	}
	for j := range projects * files {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
}

// runParallel runs body with 4 goroutines per GOMAXPROCS and reports ops/s.
func runParallel(b *testing.B, body func(pb *testing.PB)) {
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(body)
	b.StopTimer()
	if d := time.Since(start); d > 0 {
		b.ReportMetric(float64(b.N)/d.Seconds(), "ops/s")
	}
}

// lockUnlock takes and gives up file as user, with its token, until pb is
// done; an error fails the benchmark.
func lockUnlock(b *testing.B, s store.Store, pb *testing.PB, project, file, user string) {
	for pb.Next() {
		r, err := s.Acquire(b.Context(), store.AcquireRequest{ProjectID: project, File: file, User: user})
		if err != nil {
			b.Error(err)
			return
		}
		tok := r.Lock.Token
		if _, err := s.Release(b.Context(), store.ReleaseRequest{ProjectID: project, File: file, User: user, Token: &tok}); err != nil {
			b.Error(err)
			return
		}
	}
}
