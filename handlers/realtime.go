package handlers

import "github.com/gin-gonic/gin"

// routesRealtime mounts SSE, WebSocket and Socket.IO (SPEC §5).
func (s *Server) routesRealtime(r *gin.Engine) {}
