package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	goredis "github.com/redis/go-redis/v9"

	"filelock/handlers"
	"filelock/internal/redistest"
	redisstore "filelock/store/redis"
)

// redisInstancesB is redisInstances for a benchmark, with the default
// realtime settings: two servers on one Redis, each with its own store.
func redisInstancesB(b *testing.B, rs *redistest.Server) []*server {
	prefix := redistest.Prefix(b)
	var out []*server
	for range 2 {
		st := redisstore.New(goredis.NewClient(rs.Options()), rtOptions(), prefix)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = st.Run(ctx); close(done) }()
		h := handlers.New(handlers.Config{Store: st, Options: rtOptions()})
		ts := httptest.NewServer(h)
		b.Cleanup(func() {
			ts.Close()
			_ = h.Close()
			cancel()
			<-done
			_ = st.Close()
		})
		out = append(out, &server{url: ts.URL})
	}
	return out
}

// BenchmarkEventLatencyTwoInstances measures the time from a lock request
// on one instance to its lock_acquired event at a WebSocket subscriber of
// the other instance, both on one Redis; it reports p50 and p99.
func BenchmarkEventLatencyTwoInstances(b *testing.B) {
	rs := redistest.Start(b)
	srvs := redisInstancesB(b, rs)
	a, z := srvs[0], srvs[1]
	project := newProject()
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(z.url, "http")+"/ws", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteJSON(map[string]any{"event": "join_project", "data": map[string]any{"project_id": project, "user_id": "w"}}); err != nil {
		b.Fatal(err)
	}
	next := func(name string) map[string]any {
		for {
			var f struct {
				Event string         `json:"event"`
				Data  map[string]any `json:"data"`
			}
			if err := conn.ReadJSON(&f); err != nil {
				b.Fatal(err)
			}
			if f.Event == name {
				return f.Data
			}
		}
	}
	next("snapshot")
	client := &http.Client{}
	post := func(path, body string) {
		res, err := client.Post(a.url+path, "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("%s: %d", path, res.StatusCode)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		f := "f" + strconv.Itoa(i)
		start := time.Now()
		post("/lock", `{"project_id":"`+project+`","file":"`+f+`","user_id":"u"}`)
		next("lock_acquired")
		lat = append(lat, time.Since(start))
		post("/unlock", `{"project_id":"`+project+`","file":"`+f+`","user_id":"u"}`)
		next("lock_released")
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds()), "p99-µs")
}
