//go:build unix

package session

import (
	"errors"
	"io"
	"net"
	"syscall"
)

// ConnGone returns a probe that tells, without blocking and without a
// goroutine of its own, whether the peer of c has closed it (or reset it):
// one non-blocking read per call, whose bytes, if any, are discarded. ok is
// false when c offers no such read; then the caller needs a reader.
func ConnGone(c net.Conn) (gone func() bool, ok bool) {
	rc, ok := rawConn(c)
	if !ok {
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

// WaitReadable returns a read of one byte that waits until c has data
// (or fails: closed, reset, its read deadline passed, io.EOF), holding no
// buffer and little stack while it waits. ok is false when c offers no
// such read; then read it directly.
func WaitReadable(c net.Conn) (readByte func() (byte, error), ok bool) {
	rc, ok := rawConn(c)
	if !ok {
		return nil, false
	}
	return func() (byte, error) {
		var b [1]byte
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, rerr = syscall.Read(int(fd), b[:])
			return !errors.Is(rerr, syscall.EAGAIN) // else wait for data
		})
		switch {
		case err != nil:
			return 0, err
		case rerr != nil:
			return 0, rerr
		case n == 0:
			return 0, io.EOF
		}
		return b[0], nil
	}, true
}

// ReadNow returns a read that takes what c holds without waiting for
// more: 0, nil when it holds nothing. ok is false when c offers no such
// read.
func ReadNow(c net.Conn) (read func(p []byte) (int, error), ok bool) {
	rc, ok := rawConn(c)
	if !ok {
		return nil, false
	}
	return func(p []byte) (int, error) {
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, rerr = syscall.Read(int(fd), p)
			return true // never wait
		})
		switch {
		case err != nil:
			return 0, err
		case errors.Is(rerr, syscall.EAGAIN):
			return 0, nil
		case rerr != nil:
			return 0, rerr
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}, true
}

// rawConn is c's descriptor, for reads of its own; false when c has none.
func rawConn(c net.Conn) (syscall.RawConn, bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, false
	}
	rc, err := sc.SyscallConn()
	return rc, err == nil
}
