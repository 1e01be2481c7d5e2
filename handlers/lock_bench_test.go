package handlers_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"filelock/handlers"
	"filelock/store"
	"filelock/store/memory"
)

// BenchmarkLockUnlock is the server's own work for a lock and an unlock on
// the memory store, request parsing to reply, with no network (the handler
// called directly): ns/op and allocs/op are of one lock+unlock pair.
func BenchmarkLockUnlock(b *testing.B) {
	st := memory.New(store.DefaultOptions())
	b.Cleanup(func() { _ = st.Close() })
	h := handlers.New(handlers.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	b.Cleanup(func() { _ = h.Close() })
	var users atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		u := strconv.FormatInt(users.Add(1), 10)
		body := `{"project_id":"p` + u + `","file":"f.jpg","user_id":"u` + u + `"}`
		for pb.Next() {
			for _, path := range []string{"/lock", "/unlock"} {
				req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", path, w.Code, w.Body)
				}
			}
		}
	})
}
