package auth

import (
	"context"

	"github.com/gin-gonic/gin"
)

type ctxKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity NewContext (or Middleware) stored in ctx.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// Middleware authenticates every request of the routes it guards
// (Authenticate) and stores the identity in the request's context
// (FromContext). A request that fails is handed to onError with the
// unauthorized *filelock.Error, and the chain is aborted.
func (v *Verifier) Middleware(onError func(c *gin.Context, err error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := v.Authenticate(c.Request)
		if err != nil {
			onError(c, err)
			c.Abort()
			return
		}
		c.Request = c.Request.WithContext(NewContext(c.Request.Context(), id))
		c.Next()
	}
}
