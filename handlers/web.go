package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"filelock/web"
)

// pageCSP keeps the demo page to its own origin: no inline script, no CDN.
// worker-src blob: lets filelock.js run its heartbeat timers in a worker
// (a hidden tab's own timers are throttled).
const pageCSP = "default-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; worker-src 'self' blob:; " +
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// routesWeb mounts the demo page at /, the browser client at /filelock.js and
// the page's assets under /static/, all from the embedded web package.
func (s *Server) routesWeb(r *gin.Engine) {
	assets := newAssets(web.Files())
	page := func(c *gin.Context) {
		c.Header("Content-Security-Policy", pageCSP)
		assets.serve(c, "index.html")
	}
	r.GET("/", page)
	r.HEAD("/", page)
	client := func(c *gin.Context) { assets.serve(c, "filelock.js") }
	r.GET("/filelock.js", client)
	r.HEAD("/filelock.js", client)
	static := func(c *gin.Context) {
		name := strings.TrimPrefix(c.Param("filepath"), "/")
		if !fs.ValidPath(name) { // "..", "." or empty elements: nothing outside static/
			c.String(http.StatusNotFound, "404 page not found")
			return
		}
		assets.serve(c, "static/"+name)
	}
	r.GET("/static/*filepath", static)
	r.HEAD("/static/*filepath", static)
}

// asset is one embedded file, read once, with its strong ETag.
type asset struct {
	body  []byte
	etag  string
	ctype string
}

type assets map[string]asset

// newAssets reads every file of fsys into memory (the tree is small and
// immutable for the life of the binary).
func newAssets(fsys fs.FS) assets {
	a := assets{}
	_ = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a[name] = asset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, ctype: contentType(name)}
		return nil
	})
	return a
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json":
		return "application/json; charset=utf-8"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// serve answers with the named asset (404 for anything else, directories
// included); conditional requests get 304 by ETag. Assets are revalidated on
// every load, so a new server version is picked up at once.
func (s assets) serve(c *gin.Context, name string) {
	a, ok := s[name]
	if !ok {
		c.String(http.StatusNotFound, "404 page not found")
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(c.Writer, c.Request, "", time.Time{}, bytes.NewReader(a.body))
}
