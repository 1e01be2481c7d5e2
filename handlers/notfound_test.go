package handlers_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"filelock/handlers"
)

// TestUnknownEndpoint: a path or method the API does not have is a 404 in
// the error shape of every other answer.
func TestUnknownEndpoint(t *testing.T) {
	s := startServer(t, handlers.Config{Store: memoryStore(t)})
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/nope"}, {http.MethodGet, "/lock"}, {http.MethodDelete, "/status/p"},
		// a slash too many or too few is no redirect either
		{http.MethodPost, "/lock/"}, {http.MethodGet, "/status/p/"}, {http.MethodGet, "/healthz/"}, {http.MethodGet, "/events/p/"},
	} {
		r := s.do(c.method, c.path, "")
		var body handlers.ErrorBody
		if r.status != http.StatusNotFound || json.Unmarshal(r.body, &body) != nil || body.Error.Code != "not_found" {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	for _, p := range []string{"/docs", "/docs/"} {
		if r := s.do(http.MethodGet, p, ""); r.status != http.StatusMovedPermanently || r.header.Get("Location") != "/docs/index.html" {
			t.Errorf("GET %s: %d to %q", p, r.status, r.header.Get("Location"))
		}
	}
}
