package handlers

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	swaggerFiles "github.com/swaggo/files"
	ginSwagger "github.com/swaggo/gin-swagger"
	"golang.org/x/net/webdav"

	_ "filelock/docs" // registers the generated OpenAPI spec served at /docs/doc.json
)

// HealthReply is the body of /healthz and of a ready /readyz.
type HealthReply struct {
	Status string `json:"status" example:"ok"`
}

// routesHealth mounts /healthz, /readyz, /metrics and the API docs.
func (s *Server) routesHealth(r *gin.Engine) {
	r.GET("/healthz", s.getHealthz)
	r.GET("/readyz", s.getReadyz)
	r.GET("/metrics", s.metrics.handler())
	// The Swagger UI's files come from a handler of this Server's own: the
	// package's shared one remembers the first prefix it served.
	files := &webdav.Handler{FileSystem: swaggerFiles.FS, LockSystem: webdav.NewMemLS()}
	toIndex := func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/docs/index.html") }
	ui := ginSwagger.WrapHandler(files)
	r.GET("/docs", toIndex)
	r.GET("/docs/*any", func(c *gin.Context) {
		if c.Param("any") == "/" {
			toIndex(c)
			return
		}
		ui(c)
	})
}

// getHealthz serves GET /healthz.
//
//	@Summary		Liveness
//	@Description	200 while the process runs.
//	@Tags			operations
//	@Produce		json
//	@Success		200	{object}	HealthReply
//	@Router			/healthz [get]
func (s *Server) getHealthz(c *gin.Context) {
	c.JSON(http.StatusOK, HealthReply{Status: "ok"})
}

// getReadyz serves GET /readyz.
//
//	@Summary		Readiness
//	@Description	200 only while the store answers a ping within the store timeout (2 s).
//	@Tags			operations
//	@Produce		json
//	@Success		200	{object}	HealthReply
//	@Failure		503	{object}	ErrorBody	"store_unavailable"
//	@Router			/readyz [get]
func (s *Server) getReadyz(c *gin.Context) {
	_, err := storeCall(c.Request.Context(), s, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.cfg.Store.Ping(ctx)
	})
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, HealthReply{Status: "ready"})
}
