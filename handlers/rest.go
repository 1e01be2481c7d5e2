package handlers

import "github.com/gin-gonic/gin"

// routesREST mounts the REST API (SPEC §3).
func (s *Server) routesREST(r *gin.Engine) {}
