//go:build unix

package session

import (
	"errors"
	"net"
	"syscall"
)

// ConnGone returns a probe that tells, without blocking and without a
// goroutine of its own, whether the peer of c has closed it (or reset it):
// one non-blocking read per call, whose bytes, if any, are discarded. ok is
// false when c offers no such read; then the caller needs a reader.
func ConnGone(c net.Conn) (gone func() bool, ok bool) {
	sc, isSC := c.(syscall.Conn)
	if !isSC {
		return nil, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, false
	}
	return func() bool {
		var buf [64]byte
		closed := false
		err := rc.Read(func(fd uintptr) bool {
			n, err := syscall.Read(int(fd), buf[:])
			switch {
			case n == 0 && err == nil:
				closed = true
			case err != nil && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EINTR):
				closed = true
			}
			return true // never wait
		})
		return closed || err != nil
	}, true
}
