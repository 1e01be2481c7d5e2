package webhooks_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"filelock/internal/redistest"
	"filelock/store"
	"filelock/store/memory"
	"filelock/store/redis"
	"filelock/store/storetest"
	"filelock/webhooks"
)

// benchReceiver answers 204 at once and tells who waits for a webhook-id.
type benchReceiver struct {
	mu      sync.Mutex
	arrived map[string]time.Time
	waiters map[string]chan struct{}
	count   int
	all     chan struct{} // closed when count reaches want
	want    int
}

func newBenchReceiver(b *testing.B) (*benchReceiver, string) {
	r := &benchReceiver{arrived: map[string]time.Time{}, waiters: map[string]chan struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: r}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return r, "http://" + ln.Addr().String() + "/hook"
}

func (r *benchReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	if _, dup := r.arrived[id]; !dup {
		r.arrived[id] = time.Now()
		r.count++
		if r.count == r.want && r.all != nil {
			close(r.all)
		}
	}
	if ch := r.waiters[id]; ch != nil {
		close(ch)
		delete(r.waiters, id)
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// wait returns a channel closed when id has arrived.
func (r *benchReceiver) wait(id string) <-chan struct{} {
	ch := make(chan struct{})
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.arrived[id]; ok {
		close(ch)
	} else {
		r.waiters[id] = ch
	}
	return ch
}

func benchStores(b *testing.B) map[string]func(b *testing.B) store.Store {
	return map[string]func(b *testing.B) store.Store{
		"memory": func(b *testing.B) store.Store {
			s := memory.New(storetest.Opts())
			b.Cleanup(func() { _ = s.Close() })
			return s
		},
		"redis": func(b *testing.B) store.Store {
			srv := redistest.Shared(b)
			return redis.New(srv.Client(b), storetest.Opts(), redistest.Prefix(b))
		},
	}
}

func benchDeliverer(b *testing.B, st store.Store, url string) {
	opts := testOpts(url)
	opts.Events = []string{"lock_acquired", "lock_released", "user_joined", "user_left"}
	opts.IdleAfter = time.Minute
	d, err := webhooks.New(st, opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
}

// event appends one event to the project (a connect or a disconnect)
// and returns its webhook-id.
func event(b *testing.B, st store.Store, project string, i int) string {
	ctx := context.Background()
	var err error
	if i%2 == 0 {
		err = st.Connect(ctx, project, "u", "c", time.Minute)
	} else {
		err = st.Disconnect(ctx, project, "c")
	}
	if err != nil {
		b.Fatal(err)
	}
	s, err := st.Status(ctx, project)
	if err != nil {
		b.Fatal(err)
	}
	return project + ":" + s.LastEventID
}

// BenchmarkDeliveryLatency: one event at a time, from the store call that
// appends it to its arrival at a local receiver (p50, p99).
func BenchmarkDeliveryLatency(b *testing.B) {
	for name, newStore := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			st := newStore(b)
			r, url := newBenchReceiver(b)
			benchDeliverer(b, st, url)
			<-r.wait(event(b, st, "bench", 0)) // the project is known and leased
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				id := event(b, st, "bench", i+1)
				select {
				case <-r.wait(id):
				case <-time.After(waitFor):
					b.Fatalf("%s not delivered within %v", id, waitFor)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkDeliveryThroughput: b.N events appended as fast as 8 projects
// take them, until all arrived at a local receiver (events/s).
func BenchmarkDeliveryThroughput(b *testing.B) {
	const projects = 8
	for name, newStore := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			st := newStore(b)
			r, url := newBenchReceiver(b)
			benchDeliverer(b, st, url)
			for p := range projects { // known and leased
				<-r.wait(event(b, st, fmt.Sprint("bench", p), 0))
			}
			r.mu.Lock()
			r.want, r.all = r.count+b.N, make(chan struct{})
			if b.N == 0 {
				close(r.all)
			}
			r.mu.Unlock()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for p := range projects {
				wg.Go(func() {
					for i := p; i < b.N; i += projects {
						event(b, st, fmt.Sprint("bench", p), i/projects+1)
					}
				})
			}
			wg.Wait()
			select {
			case <-r.all:
			case <-time.After(5 * time.Minute):
				b.Fatal("not all delivered within 5 minutes")
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}
