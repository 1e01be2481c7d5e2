package handlers

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// The routes whose requests stay open for as long as the client listens
// (SSE, WebSocket, Socket.IO polling and WebSocket): http.read_timeout
// does not cut them.
var (
	streamingPrefixes = []string{"/events/", "/socket.io/"}
	streamingPaths    = []string{"/ws"}
)

// readDeadline bounds the reading of a request of every non-streaming
// route, matched or not, to Config.ReadTimeout from the moment its headers
// are in (http.read_timeout; the headers themselves are bounded by the
// http.Server): a body dribbled in slower is cut off, its connection
// closed, instead of holding a goroutine and a socket. Streaming routes
// are left unbounded.
func (s *Server) readDeadline(c *gin.Context) {
	if s.cfg.ReadTimeout > 0 && !streaming(c.Request.URL.Path) {
		_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	}
	c.Next()
}

func streaming(path string) bool {
	if slices.Contains(streamingPaths, path) {
		return true
	}
	for _, p := range streamingPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}
