package handlers_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"filelock/handlers"
)

func TestMetrics(t *testing.T) {
	s := startServer(t, handlers.Config{Store: memoryStore(t)})
	s.lock("p1", "a.jpg", "user1")
	s.post("/lock", `{"project_id":"p1","file":"a.jpg","user_id":"user2"}`).fail(t, 409, "file_locked")
	s.post("/lock", `{"project_id":"p1","file":"b.jpg","user_id":"user1","release_previous":true}`).ok(t, nil)
	s.post("/unlock", `{"project_id":"p1","file":"b.jpg","user_id":"user1"}`).ok(t, nil)
	s.post("/lock", `{}`).fail(t, 400, "invalid_request")
	sse := openSSE(t, s.url+"/events/p1?user_id=watcher", nil)
	sse.log.waitFor(t, "snapshot", func(e wireEvent) bool { return e.Name == "snapshot" })
	res := s.do(http.MethodGet, "/metrics", "")
	if res.status != 200 || !strings.HasPrefix(res.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", res.status, res.header.Get("Content-Type"))
	}
	body := string(res.body)
	for _, want := range []string{
		`filelock_http_requests_total{method="POST",route="/lock",status="200"} 2`,
		`filelock_http_requests_total{method="POST",route="/lock",status="400"} 1`,
		`filelock_http_request_duration_seconds_count{method="POST",route="/unlock"} 1`,
		`filelock_locks_acquired_total 2`,
		`filelock_locks_released_total{reason="switched"} 1`,
		`filelock_locks_released_total{reason="unlocked"} 1`,
		`filelock_store_errors_total 0`,
		`filelock_connections{transport="sse"} 1`,
		`filelock_connections{transport="ws"} 0`,
		`filelock_events_delivered_total{transport="sse"} 1`,
		`filelock_lock_conflicts_total{code="file_locked"} 1`,
		`filelock_lock_conflicts_total{code="user_has_lock"} 0`,
		`filelock_store_duration_seconds_count{op="acquire"} 3`,
		"filelock_event_projects 1\n",
		"filelock_event_subscribers 1\n",
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A second server counts on its own.
	other := startServer(t, handlers.Config{Store: &stubStore{err: errDeadline}})
	other.do(http.MethodGet, "/status/p1", "").fail(t, 503, "store_unavailable")
	body = string(other.do(http.MethodGet, "/metrics", "").body)
	if !strings.Contains(body, "filelock_store_errors_total 1") || strings.Contains(body, `route="/lock"`) {
		t.Errorf("second server's metrics:\n%s", body)
	}
}

func TestDocs(t *testing.T) {
	s := startServer(t, handlers.Config{Store: memoryStore(t)})
	res := s.do(http.MethodGet, "/docs", "")
	if res.status/100 != 3 || res.header.Get("Location") != "/docs/index.html" {
		t.Fatalf("/docs: %d Location %q", res.status, res.header.Get("Location"))
	}
	res = s.do(http.MethodGet, "/docs/index.html", "")
	if res.status != 200 || !strings.Contains(string(res.body), "swagger") {
		t.Fatalf("/docs/index.html: %d", res.status)
	}
	if res := s.do(http.MethodGet, "/docs/swagger-ui.css", ""); res.status != 200 {
		t.Fatalf("/docs/swagger-ui.css: %d", res.status)
	}
	res = s.do(http.MethodGet, "/docs/doc.json", "")
	var spec struct {
		Paths map[string]map[string]struct {
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(res.body, &spec); err != nil || res.status != 200 {
		t.Fatalf("/docs/doc.json: %d %v", res.status, err)
	}
	want := map[string][]string{
		"/lock":                      {"post", "200", "400", "409", "413", "503"},
		"/unlock":                    {"post", "200", "400", "403", "404", "409", "413", "503"},
		"/heartbeat":                 {"post", "200", "400", "404", "413", "503"},
		"/status/{project_id}":       {"get", "200", "400", "503"},
		"/claim":                     {"post", "200", "400", "401", "403", "409", "413", "429", "503"},
		"/locks/{project_id}/{file}": {"get", "200", "400", "401", "403", "404", "409", "503"},
		"/healthz":                   {"get", "200"},
		"/readyz":                    {"get", "200", "503"},
		"/metrics":                   {"get", "200"},
	}
	for path, w := range want {
		op, ok := spec.Paths[path][w[0]]
		if !ok {
			t.Errorf("doc.json lacks %s %s", w[0], path)
			continue
		}
		for _, code := range w[1:] {
			if _, ok := op.Responses[code]; !ok {
				t.Errorf("doc.json: %s %s lacks response %s", w[0], path, code)
			}
		}
	}
}
