//go:build !unix

package session

import "net"

// ConnGone reports ok false where no non-blocking read is available: the
// caller needs a reader of its own.
func ConnGone(net.Conn) (gone func() bool, ok bool) { return nil, false }

// WaitReadable reports ok false where no such read is available: read the
// connection directly.
func WaitReadable(net.Conn) (readByte func() (byte, error), ok bool) { return nil, false }

// ReadNow reports ok false where no such read is available.
func ReadNow(net.Conn) (read func(p []byte) (int, error), ok bool) { return nil, false }
