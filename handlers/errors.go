package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"filelock"
)

// httpStatus is the one table from error code to HTTP status (SPEC §3).
var httpStatus = map[string]int{
	filelock.EInvalid:      http.StatusBadRequest,
	filelock.EUnauthorized: http.StatusUnauthorized,
	filelock.EForbidden:    http.StatusForbidden,
	filelock.ENotOwner:     http.StatusForbidden,
	filelock.EUserMismatch: http.StatusForbidden,
	filelock.ENotLocked:    http.StatusNotFound,
	filelock.EFileLocked:   http.StatusConflict,
	filelock.EUserHasLock:  http.StatusConflict,
	filelock.EStaleToken:   http.StatusConflict,
	filelock.ENoneFree:     http.StatusConflict,
	filelock.ENotFound:     http.StatusNotFound,
	filelock.ETooLarge:     http.StatusRequestEntityTooLarge,
	filelock.ERateLimited:  http.StatusTooManyRequests,
	filelock.EUnavailable:  http.StatusServiceUnavailable,
	filelock.EInternal:     http.StatusInternalServerError,
}

// HTTPStatus returns the HTTP status of an error code; 500 for a code it
// does not know.
func HTTPStatus(code string) int {
	if st, ok := httpStatus[code]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// ErrorDetail is the "error" member of an error body.
type ErrorDetail struct {
	Code    string `json:"code" example:"file_locked"`
	Message string `json:"message" example:"images/a.jpg is locked by user2"`
	Field   string `json:"field,omitempty" example:"file"`
}

// ErrorBody is the body of every error response (SPEC §3), and, with "ok"
// beside it, of a failed WebSocket or Socket.IO reply. Lock is the lock in
// the way, where there is one.
type ErrorBody struct {
	Error ErrorDetail    `json:"error"`
	Lock  *filelock.Lock `json:"lock,omitempty"`
}

// errUnavailable is what a store call that did not answer in time returns.
func errUnavailable(cause string) *filelock.Error {
	return &filelock.Error{Code: filelock.EUnavailable, Message: "store unavailable: " + cause}
}

// clientError is the one mapping from any error to the *filelock.Error a
// client is shown, on every transport:
//   - a *filelock.Error (or one wrapped) as is;
//   - anything else is store_unavailable (503), logged: every error the
//     handlers make themselves is a *filelock.Error, so an uncoded one is
//     a backend that did not answer properly (a deadline, a cancelled
//     context, a raw connection error) and the client may retry.
//
// The one 500 (internal) is a panic below the handlers (storeCall).
func (s *Server) clientError(err error) *filelock.Error {
	var fe *filelock.Error
	if errors.As(err, &fe) {
		return fe
	}
	if !errors.Is(err, context.Canceled) {
		s.log.Warn("store error", "err", err)
	}
	return errUnavailable(err.Error())
}

// ErrorReply returns the HTTP status and body of err, as every transport
// shows it.
func (s *Server) ErrorReply(err error) (int, ErrorBody) {
	fe := s.clientError(err)
	return HTTPStatus(fe.Code), ErrorBody{
		Error: ErrorDetail{Code: fe.Code, Message: fe.Message, Field: fe.Field},
		Lock:  fe.Lock,
	}
}

// writeError answers the request with err's status and body.
func (s *Server) writeError(c *gin.Context, err error) {
	status, body := s.ErrorReply(err)
	if status == http.StatusTooManyRequests {
		c.Header("Retry-After", "1")
	}
	c.AbortWithStatusJSON(status, body)
}
