package handlers_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"filelock/handlers"
	"filelock/store"
	"filelock/store/memory"
)

// webGet fetches path from a server with the demo page mounted.
func webGet(t *testing.T, url, path string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func TestWebServesTheEmbeddedPage(t *testing.T) {
	h := handlers.New(handlers.Config{Store: running(t, memory.New(store.DefaultOptions()))})
	ts := httptest.NewServer(h)
	t.Cleanup(func() { ts.Close(); _ = h.Close() })

	for _, c := range []struct{ path, ctype, contains string }{
		{"/", "text/html", `<script type="module" src="/static/app.js">`},
		{"/filelock.js", "text/javascript", "export class FileLockClient"},
		{"/static/app.js", "text/javascript", `from "/filelock.js"`},
		{"/static/app.css", "text/css", ".tile"},
		{"/static/samples/index.json", "application/json", `"images/scene-01.svg"`},
		{"/static/samples/scene-36.svg", "image/svg+xml", "<svg"},
		{"/static/vendor/socket.io.esm.min.js", "text/javascript", "Socket.IO v4.8"},
	} {
		res, body := webGet(t, ts.URL, c.path, nil)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", c.path, res.StatusCode)
			continue
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, c.ctype) {
			t.Errorf("GET %s: Content-Type %q, want %s", c.path, ct, c.ctype)
		}
		if !strings.Contains(body, c.contains) {
			t.Errorf("GET %s: body lacks %q", c.path, c.contains)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no X-Content-Type-Options: nosniff", c.path)
		}
		// Revalidation by ETag answers 304 without a body.
		etag := res.Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", c.path)
			continue
		}
		res2, body2 := webGet(t, ts.URL, c.path, http.Header{"If-None-Match": {etag}})
		if res2.StatusCode != http.StatusNotModified || body2 != "" {
			t.Errorf("GET %s with If-None-Match: %d, %d bytes; want 304, none", c.path, res2.StatusCode, len(body2))
		}
	}

	res, _ := webGet(t, ts.URL, "/", nil)
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("page CSP = %q, want default-src 'self'", csp)
	}

	// Directories, missing files and escapes from static/ are 404.
	for _, path := range []string{"/static/", "/static/samples", "/static/nope.js", "/static/../web.go",
		"/static/%2e%2e/index.html", "/static/../../go.mod"} {
		if res, _ := webGet(t, ts.URL, path, nil); res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMovedPermanently {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
}
