package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"filelock"
	"filelock/handlers"
)

// TestOriginRule: with cors.allowed_origins listing origins, a request
// from any other Origin is refused 403 forbidden on every route, the
// text/plain POST a browser sends without preflight included, and changes
// nothing; requests without Origin, and from a listed one, go through.
func TestOriginRule(t *testing.T) {
	const good, evil = "https://label.example.com", "https://evil.example.com"
	s := noneServer(t, func(c *handlers.Config) { c.CORS.AllowedOrigins = []string{good} })
	s.lock("p", "held.jpg", "owner")
	before := s.status("p")
	send := func(origin, method, path, body string) response {
		req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "text/plain")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		return s.send(req)
	}
	routes := []struct{ method, path, body string }{
		{http.MethodPost, "/lock", `{"project_id":"p","file":"a.jpg","user_id":"mallory"}`},
		{http.MethodPost, "/claim", `{"project_id":"p","files":["a.jpg"],"user_id":"mallory"}`},
		{http.MethodPost, "/unlock", `{"project_id":"p","file":"held.jpg","user_id":"mallory","force":true}`},
		{http.MethodPost, "/heartbeat", `{"project_id":"p","user_id":"owner"}`},
		{http.MethodGet, "/status/p", ""},
		{http.MethodGet, "/locks/p/held.jpg", ""},
		{http.MethodGet, "/healthz", ""},
		{http.MethodGet, "/nowhere", ""},
	}
	for _, r := range routes {
		res := send(evil, r.method, r.path, r.body)
		res.fail(t, http.StatusForbidden, filelock.EForbidden)
		if res.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s %s: refusal carries Access-Control-Allow-Origin", r.method, r.path)
		}
	}
	sameState(t, "requests from a foreign origin", before, s.status("p"))
	for _, origin := range []string{"", good, s.url} {
		if res := send(origin, http.MethodGet, "/locks/p/held.jpg", ""); res.status != http.StatusOK {
			t.Errorf("origin %q: %d %s", origin, res.status, res.body)
		}
		if res := send(origin, http.MethodPost, "/heartbeat", `{"project_id":"p","user_id":"owner"}`); res.status != http.StatusOK {
			t.Errorf("origin %q: heartbeat %d %s", origin, res.status, res.body)
		}
	}
}
