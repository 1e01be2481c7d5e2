package limits

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"
)

func TestAllowOrigin(t *testing.T) {
	list := CORSConfig{AllowedOrigins: []string{"https://label.example.com", " http://localhost:3000/ "}}
	star := CORSConfig{AllowedOrigins: []string{"*"}}
	none := CORSConfig{}
	cases := []struct {
		cfg    CORSConfig
		origin string
		want   bool
	}{
		{list, "https://label.example.com", true},
		{list, "https://LABEL.example.com", true},
		{list, "http://localhost:3000", true},
		{list, "http://label.example.com", false},       // other scheme
		{list, "https://label.example.com:8443", false}, // other port
		{list, "https://evil.label.example.com", false},
		{list, "https://label.example.com.evil", false},
		{list, "null", false},
		{list, "", false},
		{star, "https://anything.test", true},
		{star, "null", true},
		{star, "", false},
		{star, "https://a.test\r\nSet-Cookie: x=1", false},
		{star, "https://a.test b", false},
		{star, "https://" + strings.Repeat("a", maxOriginLen), false},
		{none, "https://label.example.com", false},
	}
	for _, c := range cases {
		if got := c.cfg.AllowOrigin(c.origin); got != c.want {
			t.Errorf("%v.AllowOrigin(%q) = %v, want %v", c.cfg.AllowedOrigins, c.origin, got, c.want)
		}
	}
}

func TestCheckOrigin(t *testing.T) {
	cfg := CORSConfig{AllowedOrigins: []string{"https://label.example.com"}}
	cases := []struct {
		host, origin string
		want         bool
	}{
		{"lock.example.com", "", true},
		{"lock.example.com", "https://lock.example.com", true},
		{"lock.example.com", "http://LOCK.example.com", true},
		{"lock.example.com:8000", "http://lock.example.com:8000", true},
		{"lock.example.com:8000", "http://lock.example.com", false},
		{"lock.example.com", "https://label.example.com", true},
		{"lock.example.com", "https://evil.test", false},
		{"lock.example.com", "https://x@lock.example.com", false},
		{"lock.example.com", "https://lock.example.com/path", false},
		{"lock.example.com", "ws://lock.example.com", false},
		{"lock.example.com", "null", false},
		{"", "null", false},
		{"", "http://", false},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/ws", nil)
		r.Host = c.host
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if got := cfg.CheckOrigin(r); got != c.want {
			t.Errorf("host %q origin %q: CheckOrigin = %v, want %v", c.host, c.origin, got, c.want)
		}
	}
}

// corsServer serves a Gin engine with the CORS middleware, a POST-only
// /lock and a GET /status, on loopback.
func corsServer(t *testing.T, cfg CORSConfig) *httptest.Server {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(CORS(cfg))
	e.POST("/lock", func(c *gin.Context) { c.String(http.StatusOK, "locked") })
	e.GET("/status", func(c *gin.Context) { c.String(http.StatusOK, "status") })
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestCORSMiddleware(t *testing.T) {
	const good, bad = "https://label.example.com", "https://evil.test"
	srv := corsServer(t, CORSConfig{AllowedOrigins: []string{good}})

	// Preflight of an allowed origin, on a route that has no OPTIONS handler.
	resp, _ := do(t, "OPTIONS", srv.URL+"/lock", map[string]string{
		"Origin": good, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type, authorization"})
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != good ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Content-Type") ||
		h.Get("Access-Control-Max-Age") == "" || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
		t.Errorf("allowed preflight: %d %v", resp.StatusCode, h)
	}

	// Preflight of a foreign origin: 403 in the error shape, no CORS headers.
	resp, body := do(t, "OPTIONS", srv.URL+"/lock", map[string]string{"Origin": bad, "Access-Control-Request-Method": "POST"})
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" ||
		!strings.Contains(body, `"code":"forbidden"`) {
		t.Errorf("foreign preflight: %d %v %s", resp.StatusCode, resp.Header, body)
	}

	// Listed, same-origin and Origin-less requests reach the handler; only
	// an origin gets the header.
	for _, c := range []struct{ origin, wantACAO string }{{good, good}, {"", ""}, {srv.URL, srv.URL}} {
		hdr := map[string]string{}
		if c.origin != "" {
			hdr["Origin"] = c.origin
		}
		resp, body := do(t, "POST", srv.URL+"/lock", hdr)
		if resp.StatusCode != http.StatusOK || body != "locked" || resp.Header.Get("Access-Control-Allow-Origin") != c.wantACAO {
			t.Errorf("POST with origin %q: %d %q ACAO %q, want ACAO %q", c.origin, resp.StatusCode, body,
				resp.Header.Get("Access-Control-Allow-Origin"), c.wantACAO)
		}
	}
	// Any other origin is refused before the handler runs, on every method
	// and route, the simple text/plain POST a browser sends unasked included.
	for _, c := range []struct{ method, path, origin string }{
		{"POST", "/lock", bad}, {"GET", "/status", bad}, {"POST", "/nowhere", bad}, {"OPTIONS", "/status", bad},
		{"POST", "/lock", "null"}, {"POST", "/lock", "https://label.example.com.evil.test"}, {"POST", "/lock", "http://label.example.com"},
	} {
		resp, body := do(t, c.method, srv.URL+c.path, map[string]string{"Origin": c.origin, "Content-Type": "text/plain"})
		if resp.StatusCode != http.StatusForbidden || body == "locked" || !strings.Contains(body, `"code":"forbidden"`) ||
			resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s %s from %q: %d %q %v, want 403 forbidden", c.method, c.path, c.origin, resp.StatusCode, body, resp.Header)
		}
	}

	// A plain OPTIONS (not a preflight) is not answered by the middleware.
	resp, _ = do(t, "OPTIONS", srv.URL+"/status", map[string]string{"Origin": good})
	if resp.StatusCode == http.StatusNoContent {
		t.Errorf("plain OPTIONS answered as a preflight")
	}
}

func TestCORSStar(t *testing.T) {
	srv := corsServer(t, CORSConfig{AllowedOrigins: []string{"*"}})
	resp, _ := do(t, "GET", srv.URL+"/status", map[string]string{"Origin": "https://anywhere.test"})
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://anywhere.test" {
		t.Errorf("* must allow every origin: %v", resp.Header)
	}
	// With "*", an Origin that cannot be echoed is not refused either; it
	// only gets no CORS headers.
	resp, body := do(t, "POST", srv.URL+"/lock", map[string]string{"Origin": "has space"})
	if resp.StatusCode != http.StatusOK || body != "locked" || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("* and an odd Origin: %d %q %v", resp.StatusCode, body, resp.Header)
	}
}

func TestCheckOriginWebSocket(t *testing.T) {
	cfg := CORSConfig{AllowedOrigins: []string{"https://label.example.com"}}
	up := websocket.Upgrader{CheckOrigin: cfg.CheckOrigin}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c.Close()
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	for _, c := range []struct {
		origin string
		ok     bool
	}{{"", true}, {srv.URL, true}, {"https://label.example.com", true}, {"https://evil.test", false}} {
		hdr := http.Header{}
		if c.origin != "" {
			hdr.Set("Origin", c.origin)
		}
		conn, resp, err := websocket.DefaultDialer.Dial(url, hdr)
		if conn != nil {
			conn.Close()
		}
		if (err == nil) != c.ok {
			t.Errorf("origin %q: dial err %v, want ok=%v", c.origin, err, c.ok)
		}
		if !c.ok && (resp == nil || resp.StatusCode != http.StatusForbidden) {
			t.Errorf("origin %q: want 403, got %v", c.origin, resp)
		}
	}
}
