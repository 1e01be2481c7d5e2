//go:build !linux

package session

import (
	"errors"
	"net"
)

// Where there is no epoll, there is no poller: readers read their
// connections themselves.
type poller struct{}

// Watch is never handed out here.
type Watch struct{}

func newPoller(func(func())) (*poller, error) { return nil, errors.ErrUnsupported }

func (p *poller) watch(net.Conn, func()) (*Watch, error) { return nil, errors.ErrUnsupported }
func (p *poller) close()                                 {}

// Rearm does nothing.
func (w *Watch) Rearm() error { return errors.ErrUnsupported }

// Stop does nothing.
func (w *Watch) Stop() {}
