package handlers_test

import (
	"context"
	"errors"
	"net/http"
	"time"

	"filelock"
	"filelock/handlers"
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
func (s *stubStore) Release(context.Context, store.ReleaseRequest) (filelock.Lock, error) {
	return filelock.Lock{}, s.wait()
}
func (s *stubStore) Heartbeat(context.Context, string, string) (filelock.Lock, error) {
	return filelock.Lock{}, s.wait()
}
func (s *stubStore) Status(context.Context, string) (filelock.Status, error) {
	return filelock.Status{}, s.wait()
}
func (s *stubStore) Events(context.Context, string, string) ([]filelock.Event, error) {
	return nil, s.wait()
}
func (s *stubStore) Connect(context.Context, string, string, string, time.Duration) error {
	return s.wait()
}
func (s *stubStore) Disconnect(context.Context, string, string) error { return s.wait() }
func (s *stubStore) Refresh(context.Context, string, []string, time.Duration) error {
	return s.wait()
}
func (s *stubStore) Feed(context.Context) (store.Feed, error) { return nil, s.wait() }
func (s *stubStore) Run(ctx context.Context) error            { <-ctx.Done(); return nil }
func (s *stubStore) Ping(context.Context) error               { return s.wait() }
func (s *stubStore) Close() error                             { return nil }

// stubAuth is an Auth whose answers the test sets.
type stubAuth struct {
	identifyErr  error
	authorizeErr error
	user         string // the user Authorize returns ("" : the request's)
	seen         chan handlers.Action
}

func (a *stubAuth) Identify(*http.Request) (handlers.Identity, error) {
	if a.identifyErr != nil {
		return handlers.Identity{}, a.identifyErr
	}
	return handlers.Identity{User: "token-user"}, nil
}

func (a *stubAuth) Authorize(who handlers.Identity, act handlers.Action) (string, error) {
	if a.seen != nil {
		a.seen <- act
	}
	if who.User != "token-user" {
		return "", errors.New("Authorize called without the identity Identify established")
	}
	if a.authorizeErr != nil {
		return "", a.authorizeErr
	}
	if a.user != "" {
		return a.user, nil
	}
	return act.UserID, nil
}
