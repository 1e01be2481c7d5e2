package handlers

import (
	"io"
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
// closed, instead of holding a goroutine and a socket. It bounds the
// reading only: once the body has been read to its end (at once for a
// request without one) the deadline is lifted, so that a request that
// arrived in time is answered however long its handling takes (that is
// bounded by Config.StoreTimeout), and the connection stays usable for the
// next one. Streaming routes are left unbounded.
func (s *Server) readDeadline(c *gin.Context) {
	r := c.Request
	if s.cfg.ReadTimeout > 0 && r.Body != nil && r.Body != http.NoBody && !streaming(r.URL.Path) {
		rc := http.NewResponseController(c.Writer)
		if rc.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout)) == nil {
			r.Body = &deadlineBody{ReadCloser: r.Body, lift: func() { _ = rc.SetReadDeadline(time.Time{}) }}
		}
	}
	c.Next()
}

// deadlineBody is a request body whose read deadline is lifted when it has
// been read to its end. Left in place, the deadline would fire in the
// server's background read of the idle connection while the handler runs,
// and cancel the request's context (and the connection's, for every later
// request on it).
type deadlineBody struct {
	io.ReadCloser
	lift   func()
	lifted bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.lifted {
		b.lifted = true
		b.lift()
	}
	return n, err
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
