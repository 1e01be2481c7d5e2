//go:build !unix

package session

import "net"

// ConnGone reports ok false where no non-blocking read is available: the
// caller needs a reader of its own.
func ConnGone(net.Conn) (gone func() bool, ok bool) { return nil, false }
