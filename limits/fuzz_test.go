package limits

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// FuzzCheckOrigin feeds arbitrary Origin and Host values (and an arbitrary
// comma-separated allow-list) to the origin checks and the CORS middleware.
// Nothing may panic; an allowed origin is sane and listed; CheckOrigin
// allows exactly: no Origin, the same origin, or AllowOrigin; the
// middleware echoes only an origin CheckOrigin allows, byte for byte.
func FuzzCheckOrigin(f *testing.F) {
	gin.SetMode(gin.ReleaseMode)
	fixed := CORSConfig{AllowedOrigins: []string{"https://label.example.com", "http://localhost:3000"}}
	engines := map[string]*gin.Engine{}
	for name, cfg := range map[string]CORSConfig{"list": fixed, "star": {AllowedOrigins: []string{"*"}}, "none": {}} {
		e := gin.New()
		e.Use(CORS(cfg))
		e.POST("/lock", func(c *gin.Context) { c.Status(http.StatusOK) })
		engines[name] = e
	}
	cfgs := map[string]CORSConfig{"list": fixed, "star": {AllowedOrigins: []string{"*"}}, "none": {}}

	f.Fuzz(func(t *testing.T, origin, host, allowed string) {
		fuzzed := CORSConfig{AllowedOrigins: strings.Split(allowed, ",")}
		if fuzzed.AllowOrigin(origin) {
			if !saneOriginSpec(origin) {
				t.Fatalf("allowed an insane origin %q", origin)
			}
			listed := false
			for _, o := range fuzzed.AllowedOrigins {
				o = strings.TrimRight(strings.TrimSpace(o), "/")
				listed = listed || o == "*" || strings.EqualFold(o, origin)
			}
			if !listed {
				t.Fatalf("allowed %q, not in %q", origin, allowed)
			}
		}
		for name, cfg := range cfgs {
			r := &http.Request{Method: "OPTIONS", Host: host, URL: &url.URL{Path: "/lock"}, Header: http.Header{}}
			if origin != "" {
				r.Header["Origin"] = []string{origin}
			}
			got := cfg.CheckOrigin(r)
			same := host != "" && !strings.ContainsAny(host, "/?#@") && saneOriginSpec(origin) &&
				(strings.EqualFold(origin, "http://"+host) || strings.EqualFold(origin, "https://"+host))
			if want := origin == "" || same || cfg.AllowOrigin(origin); got != want {
				t.Fatalf("%s: CheckOrigin(origin %q, host %q) = %v, want %v", name, origin, host, got, want)
			}

			r.Header["Access-Control-Request-Method"] = []string{"POST"}
			w := httptest.NewRecorder()
			engines[name].ServeHTTP(w, r)
			acao := w.Header().Values("Access-Control-Allow-Origin")
			switch {
			case origin != "" && got:
				if w.Code != http.StatusNoContent || len(acao) != 1 || acao[0] != origin {
					t.Fatalf("%s: allowed preflight from %q: %d %q", name, origin, w.Code, acao)
				}
			case origin != "":
				if w.Code != http.StatusForbidden || len(acao) != 0 {
					t.Fatalf("%s: refused preflight from %q: %d %q", name, origin, w.Code, acao)
				}
			default:
				if len(acao) != 0 {
					t.Fatalf("%s: CORS headers without an Origin: %q", name, acao)
				}
			}
		}
	})
}

// saneOriginSpec restates what an origin that may be echoed is: 1–2048
// bytes of printable ASCII without spaces.
func saneOriginSpec(o string) bool {
	if len(o) == 0 || len(o) > 2048 {
		return false
	}
	for _, r := range []byte(o) {
		if r < 0x21 || r > 0x7e {
			return false
		}
	}
	return true
}
