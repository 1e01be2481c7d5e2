package events

import (
	"sync"
	"sync/atomic"

	"filelock"
)

// Format is one wire format of events (an SSE block, a WebSocket text
// message, a Socket.IO packet...). Transports supply it; the hub knows no
// wire format. A Format is compared by identity: create each one once, as a
// package variable of its transport, and pass that value to Frame.Bytes.
type Format struct {
	name   string
	encode func(ev *filelock.Event) ([]byte, error)
}

// NewFormat returns the wire format called name whose bytes for an event
// are encode's. encode is called at most once per (Frame, Format), possibly
// from any goroutine; it must not keep or modify ev, and must not retain the
// returned slice for writing.
func NewFormat(name string, encode func(ev *filelock.Event) ([]byte, error)) *Format {
	return &Format{name: name, encode: encode}
}

// Name is the name the format was created with.
func (f *Format) Name() string { return f.name }

// Frame is one event as the hub hands it out. One Frame is shared by every
// local subscriber that receives the event, so a Frame and the bytes it
// returns are immutable: read Event, never write it or the bytes.
type Frame struct {
	// Event is the event itself (read only).
	Event filelock.Event

	after uint64 // Seq the hub had delivered right before this frame
	mu    sync.Mutex
	enc   atomic.Pointer[[]encoding] // copy on write, appended under mu
}

type encoding struct {
	f   *Format
	b   []byte
	err error
}

// Bytes is the frame's event in format f: encoded on the first call for f,
// then the same bytes (and error) for every caller. Safe for concurrent use;
// the caller must not modify the returned slice.
func (fr *Frame) Bytes(f *Format) ([]byte, error) {
	if p := fr.enc.Load(); p != nil {
		for _, e := range *p {
			if e.f == f {
				return e.b, e.err
			}
		}
	}
	fr.mu.Lock()
	defer fr.mu.Unlock()
	var cur []encoding
	if p := fr.enc.Load(); p != nil {
		cur = *p
		for _, e := range cur {
			if e.f == f {
				return e.b, e.err
			}
		}
	}
	b, err := f.encode(&fr.Event)
	next := make([]encoding, len(cur), len(cur)+1)
	copy(next, cur)
	next = append(next, encoding{f: f, b: b, err: err})
	fr.enc.Store(&next)
	return b, err
}
