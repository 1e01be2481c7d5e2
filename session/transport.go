// Package session is the transport-neutral core of a live connection (SPEC
// §5): one Session per SSE stream, WebSocket or Socket.IO socket, with its
// user, the projects it joined and their event subscriptions, its timers
// (token expiry, keepalive), the cut-off of a client too slow for its queue,
// and one way to end it, Close(reason). A transport only turns frames into
// bytes (Transport); the commands a message names are run by the
// connection's Backend. The package knows nothing of HTTP.
package session

import (
	"errors"

	"filelock"
	"filelock/events"
)

// Frame is one event as the hub hands it to every subscriber: shared and
// immutable, encoded once per wire format (events.Frame.Bytes).
type Frame = events.Frame

// Transport is one connection's wire format, as a Session drives it. Its
// methods may be called from any goroutine; the transport serializes its
// own writes (replies it writes itself included) and bounds each one in
// time.
type Transport interface {
	// Name is the transport's name in metrics and logs: sse, ws, socketio.
	Name() string
	// Write writes frames, in order, as one batch; an error ends the session
	// (Close(WriteFailed)).
	Write(frames []*Frame) error
	// Keepalive writes what keeps an idle connection open (an SSE comment,
	// a WebSocket ping); an error ends the session. With wait false it must
	// not block: it returns ErrWouldBlock when it cannot write at once, and
	// is called again, with wait true, from a goroutine of its own.
	Keepalive(wait bool) error
	// Close ends the connection, telling the client why where its wire
	// format can (SPEC §5, §6). It is called once.
	Close(r Reason)
}

// Prober is a Transport that can tell, without blocking, whether its
// client has gone (a stream that has no reader of its own). The manager
// asks every tick and closes a gone one with ClientGone.
type Prober interface {
	Gone() bool
}

// Reason is why a session ended.
type Reason int

// The reasons a session ends.
const (
	ClientGone   Reason = iota // the client closed the connection, or a read failed
	WriteFailed                // a write failed or did not finish within the write timeout
	Lagging                    // the client fell further behind than limits.send_queue
	Resync                     // the events it is owed left the history: it resumes with a snapshot
	TokenExpired               // its token expired (SPEC §6)
	Shutdown                   // the server is shutting down
	IdleTimeout                // the client was silent too long
)

var reasonNames = [...]string{"client_gone", "write_failed", "lagging", "resync", "token_expired", "shutdown", "idle"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// ErrWouldBlock is what Transport.Keepalive(false) returns when it cannot
// write at once.
var ErrWouldBlock = errors.New("session: the write would block")

// ErrShuttingDown is what a client is told when it asks for something the
// closing server can no longer give (a new connection, a join).
var ErrShuttingDown = &filelock.Error{Code: filelock.EUnavailable, Message: "server shutting down"}
