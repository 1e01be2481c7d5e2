package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"filelock/handlers"
	"filelock/internal/redistest"
	"filelock/store"
	"filelock/store/memory"
	redisstore "filelock/store/redis"
)

// BenchmarkClaim measures POST /claim over real HTTP with lists of 10 and
// 1000 files of which only the last is free (every other one is held by
// another user, so the whole list is looked at), on the memory store and
// on Redis. It reports claims/s.
func BenchmarkClaim(b *testing.B) {
	for _, backend := range []string{"memory", "redis"} {
		for _, n := range []int{10, 1000} {
			b.Run(fmt.Sprintf("%s/files=%d", backend, n), func(b *testing.B) {
				var st store.Store
				if backend == "memory" {
					st = memory.New(store.DefaultOptions())
				} else {
					st = redisstore.New(goredis.NewClient(redistest.Start(b).Options()), store.DefaultOptions(), redistest.Prefix(b))
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { _ = st.Run(ctx); close(done) }()
				h := handlers.New(handlers.Config{Store: st, MaxBodyBytes: 64 << 10, Logger: slog.New(slog.DiscardHandler)}) // 1000 names: about 18 KB
				ts := httptest.NewServer(h)
				b.Cleanup(func() { ts.Close(); _ = h.Close(); cancel(); <-done; _ = st.Close() })

				files := make([]string, n)
				for i := range files {
					files[i] = fmt.Sprintf("images/%04d.jpg", i)
					if i < n-1 {
						if _, err := st.Acquire(ctx, store.AcquireRequest{ProjectID: "bench", File: files[i], User: fmt.Sprintf("holder%d", i), TTL: time.Hour}); err != nil {
							b.Fatal(err)
						}
					}
				}
				body, _ := json.Marshal(map[string]any{"project_id": "bench", "user_id": "claimer", "files": files})
				client := ts.Client()
				b.ResetTimer()
				start := time.Now()
				for b.Loop() {
					res, err := client.Post(ts.URL+"/claim", "application/json", bytes.NewReader(body))
					if err != nil {
						b.Fatal(err)
					}
					var r struct {
						Lock struct {
							File string `json:"file"`
						} `json:"lock"`
					}
					err = json.NewDecoder(res.Body).Decode(&r)
					res.Body.Close()
					if err != nil || res.StatusCode != http.StatusOK || r.Lock.File != files[n-1] {
						b.Fatalf("claim: %d %v %+v", res.StatusCode, err, r)
					}
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "claims/s")
			})
		}
	}
}
