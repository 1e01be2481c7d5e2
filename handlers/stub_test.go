package handlers_test

import (
	"context"
	"time"

	"filelock"
	"filelock/store"
)

// stubStore answers every call with err, after block is closed when block
// is set (a hung backend that ignores its context), or panics when panicky.
type stubStore struct {
	err     error
	block   <-chan struct{}
	panicky bool
}

var _ store.Store = (*stubStore)(nil)

func (s *stubStore) wait() error {
	if s.block != nil {
		<-s.block
	}
	if s.panicky {
		panic("stub store panics")
	}
	return s.err
}

func (s *stubStore) Acquire(context.Context, store.AcquireRequest) (store.AcquireResult, error) {
	return store.AcquireResult{}, s.wait()
}
func (s *stubStore) Claim(context.Context, store.ClaimRequest) (store.AcquireResult, error) {
	return store.AcquireResult{}, s.wait()
}
func (s *stubStore) Release(context.Context, store.ReleaseRequest) (filelock.Lock, error) {
	return filelock.Lock{}, s.wait()
}
func (s *stubStore) Heartbeat(context.Context, string, string) (filelock.Lock, error) {
	return filelock.Lock{}, s.wait()
}
func (s *stubStore) Status(context.Context, string) (filelock.Status, error) {
	return filelock.Status{}, s.wait()
}
func (s *stubStore) Lock(context.Context, string, string) (filelock.Lock, error) {
	return filelock.Lock{}, s.wait()
}
func (s *stubStore) Events(context.Context, string, string) ([]filelock.Event, error) {
	return nil, s.wait()
}
func (s *stubStore) Connect(context.Context, string, string, string, time.Duration) error {
	return s.wait()
}
func (s *stubStore) Disconnect(context.Context, string, string) error { return s.wait() }
func (s *stubStore) Refresh(context.Context, string, []store.Conn, time.Duration) error {
	return s.wait()
}
func (s *stubStore) Feed(context.Context) (store.Feed, error) { return nil, s.wait() }
func (s *stubStore) Run(ctx context.Context) error            { <-ctx.Done(); return nil }
func (s *stubStore) Ping(context.Context) error               { return s.wait() }
func (s *stubStore) Close() error                             { return nil }
