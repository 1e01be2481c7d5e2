package limits

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"filelock"
)

// maxOriginLen bounds the Origin header values considered at all.
const maxOriginLen = 2048

// CORSConfig lists the browser origins (cors.allowed_origins) other than
// the server's own that may call it: exact origins such as
// "https://label.example.com" (compared case-insensitively, a trailing "/"
// in the list ignored), or "*" for any.
type CORSConfig struct {
	AllowedOrigins []string
}

// AllowOrigin reports whether origin is listed (or "*" is). An origin that
// is empty, longer than 2 KiB or holds a space or control character is
// never allowed, so an allowed origin can be echoed in a header as is.
func (c CORSConfig) AllowOrigin(origin string) bool {
	if !saneOrigin(origin) {
		return false
	}
	for _, o := range c.AllowedOrigins {
		o = strings.TrimSpace(o)
		if o == "*" || strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	return false
}

// CheckOrigin reports whether a request may open a WebSocket, Socket.IO or
// SSE connection, or be answered with CORS headers: requests without an
// Origin header (not from a browser) and same-origin requests (Origin is
// http(s)://<the request's Host>) always may; others only if AllowOrigin.
// It fits websocket.Upgrader.CheckOrigin, and Socket.IO's allowRequest via
// the handshake's *http.Request.
func (c CORSConfig) CheckOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	return origin == "" || sameOrigin(origin, r.Host) || c.AllowOrigin(origin)
}

func saneOrigin(origin string) bool {
	if origin == "" || len(origin) > maxOriginLen {
		return false
	}
	for i := 0; i < len(origin); i++ {
		if origin[i] <= ' ' || origin[i] >= 0x7f {
			return false
		}
	}
	return true
}

// sameOrigin reports whether origin is exactly http://<host> or
// https://<host> (case-insensitively) for the request's Host.
func sameOrigin(origin, host string) bool {
	if host == "" || strings.ContainsAny(host, "/?#@") || !saneOrigin(origin) {
		return false
	}
	for _, scheme := range []string{"http://", "https://"} {
		if len(origin) == len(scheme)+len(host) && strings.EqualFold(origin, scheme+host) {
			return true
		}
	}
	return false
}

// CORS headers of a preflight answer.
const (
	corsMethods = "GET, POST, OPTIONS"
	corsHeaders = "Authorization, Content-Type, Last-Event-ID, X-API-Key, X-Requested-With"
	corsMaxAge  = "600"
)

// CORS is a Gin middleware (use it with engine.Use, so it also sees
// requests no route matches) that enforces the origin rule of SPEC §6 on
// every route. A request without an Origin header (a backend, curl) goes
// on untouched. One whose Origin passes CheckOrigin gets
// Access-Control-Allow-Origin set to that origin (and Vary: Origin on every
// response); a preflight (OPTIONS with Access-Control-Request-Method) is
// answered here, 204 with the allowed methods and headers. Any other
// origin is refused, 403 forbidden, whatever the method (a text/plain POST
// that a browser sends without preflight included), before any handler
// runs. Only when "*" is listed does a request whose Origin cannot be
// echoed (not a sane header value) go on, without CORS headers.
func CORS(cfg CORSConfig) gin.HandlerFunc {
	star := cfg.allowsAny()
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Add("Vary", "Origin")
		origin := c.GetHeader("Origin")
		preflight := c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != ""
		if origin == "" {
			c.Next()
			return
		}
		if !cfg.CheckOrigin(c.Request) {
			if star && !preflight {
				c.Next()
				return
			}
			c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"error": gin.H{
				"code": filelock.EForbidden, "message": "origin is not allowed by cors.allowed_origins"}})
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if preflight {
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		c.Next()
	}
}

// allowsAny reports whether "*" is listed.
func (c CORSConfig) allowsAny() bool {
	for _, o := range c.AllowedOrigins {
		if strings.TrimSpace(o) == "*" {
			return true
		}
	}
	return false
}
