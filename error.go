package filelock

import (
	"errors"
	"fmt"
)

// Error codes of SPEC §3. The HTTP layer maps each to its status in one table.
const (
	EInvalid      = "invalid_request"
	EUnauthorized = "unauthorized"
	EForbidden    = "forbidden"
	ENotOwner     = "not_owner"
	EUserMismatch = "user_mismatch"
	ENotLocked    = "not_locked"
	EFileLocked   = "file_locked"
	EUserHasLock  = "user_has_lock"
	EStaleToken   = "stale_token"
	ENoneFree     = "none_free"
	ENotFound     = "not_found"
	ETooLarge     = "payload_too_large"
	ERateLimited  = "rate_limited"
	EUnavailable  = "store_unavailable"
	EInternal     = "internal"
)

// Error is an error a client can act on: a code of SPEC §3, a human message,
// the offending request field where there is one, and the lock in the way
// where there is one.
type Error struct {
	Code    string
	Message string
	Field   string
	Lock    *Lock
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code and message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an invalid_request *Error naming the offending field.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// LockError returns an *Error carrying the lock in the way.
func LockError(code string, l Lock, format string, args ...any) *Error {
	return &Error{Code: code, Lock: &l, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err if it is (or wraps) an *Error, and
// EInternal otherwise.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}
