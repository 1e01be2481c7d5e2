package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"filelock/internal/redistest"
)

// TestMetricsStoreReleases: releases the store carries out itself, an
// expiry and a disconnect release, are counted in
// filelock_locks_released_total by the instance (SPEC §9), on either store.
func TestMetricsStoreReleases(t *testing.T) {
	common := map[string]string{"FILELOCK_LOCK_MIN_TTL": "1s", "FILELOCK_LOCK_DISCONNECT_GRACE": "500ms"}
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			env := map[string]string{"FILELOCK_STORE_BACKEND": backend}
			for k, v := range common {
				env[k] = v
			}
			if backend == "redis" {
				env["FILELOCK_REDIS_ADDRS"] = redistest.Start(t).Addr
			}
			base, _ := start(t, []string{"--http.addr", "127.0.0.1:0", "--log.level", "error"}, env)
			res, err := http.Post(base+"/lock", "application/json", strings.NewReader(`{"project_id":"p","file":"a.jpg","user_id":"u1","ttl_seconds":1}`))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("lock: %d", res.StatusCode)
			}
			ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
			if err != nil {
				t.Fatal(err)
			}
			if r := wsCall(t, ws, "join_project", map[string]any{"project_id": "p", "user_id": "u2"}, nil); r["ok"] != true {
				t.Fatalf("join: %v", r)
			}
			if r := wsCall(t, ws, "lock", map[string]any{"project_id": "p", "file": "b.jpg", "ttl_seconds": 60}, nil); r["ok"] != true {
				t.Fatalf("lock: %v", r)
			}
			ws.Close()
			deadline := time.Now().Add(15 * time.Second)
			for {
				fams := scrape(t, base+"/metrics")
				exp, _ := sample(fams, "filelock_locks_released_total", "reason", "expired")
				disc, _ := sample(fams, "filelock_locks_released_total", "reason", "disconnected")
				if exp == 1 && disc == 1 {
					return
				}
				if exp > 1 || disc > 1 || time.Now().After(deadline) {
					t.Fatalf("filelock_locks_released_total: expired %v, disconnected %v; want 1 and 1", exp, disc)
				}
				time.Sleep(50 * time.Millisecond) // poll interval
			}
		})
	}
}
