// Package logging builds the server's slog loggers (log.format text or
// json) and carries a request id in a context: a record logged with a
// context that has one gets a request_id attribute, so every line a
// request causes carries the id of that request.
package logging

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
)

// RequestIDKey is the attribute name of the request id in log records.
const RequestIDKey = "request_id"

// New returns a logger writing to w in format "text" (logfmt key=value)
// or "json" (one JSON object per line) at level ("debug", "info", "warn",
// "error"). Records logged with a context carrying a request id
// (WithRequestID) get the request_id attribute.
func New(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	return newLogger(w, format, &slog.HandlerOptions{Level: lv})
}

// Always is as New for records of every level: lines that scripts wait
// for (start and stop) whatever log.level says.
func Always(w io.Writer, format string) (*slog.Logger, error) {
	return newLogger(w, format, &slog.HandlerOptions{Level: slog.LevelDebug})
}

func newLogger(w io.Writer, format string, opts *slog.HandlerOptions) (*slog.Logger, error) {
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log.format: %q is not one of text, json", format)
	}
	return slog.New(requestIDHandler{h}), nil
}

type ctxKey struct{}

// WithRequestID returns ctx carrying the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// RequestID returns the request id ctx carries, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// NewRequestID returns a fresh random request id (32 hex digits). The
// ids tell requests apart in logs; they are not secrets (math/rand/v2's
// generator, seeded per process by the runtime).
func NewRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	var out [32]byte
	hex.Encode(out[:], b[:])
	return string(out[:])
}

// requestIDHandler adds the context's request id to each record.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if id := RequestID(ctx); id != "" {
			r.AddAttrs(slog.String(RequestIDKey, id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
