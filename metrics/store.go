package metrics

import (
	"context"
	"time"

	"filelock"
	"filelock/store"
)

// Store returns st with the duration of every call of StoreOps recorded in
// filelock_store_duration_seconds; it behaves as st in every other way.
// With a nil m it returns st.
func Store(st store.Store, m *Metrics) store.Store {
	if m == nil || st == nil {
		return st
	}
	return timedStore{st, m}
}

type timedStore struct {
	store.Store
	m *Metrics
}

// Immediate passes on the wrapped store's answer (store.Immediate).
func (t timedStore) Immediate() bool {
	i, ok := t.Store.(store.Immediate)
	return ok && i.Immediate()
}

func (t timedStore) since(op string, start time.Time) { t.m.StoreCall(op, time.Since(start)) }

func (t timedStore) Acquire(ctx context.Context, req store.AcquireRequest) (store.AcquireResult, error) {
	defer t.since("acquire", time.Now())
	return t.Store.Acquire(ctx, req)
}

func (t timedStore) Claim(ctx context.Context, req store.ClaimRequest) (store.AcquireResult, error) {
	defer t.since("claim", time.Now())
	return t.Store.Claim(ctx, req)
}

func (t timedStore) Release(ctx context.Context, req store.ReleaseRequest) (filelock.Lock, error) {
	defer t.since("release", time.Now())
	return t.Store.Release(ctx, req)
}

func (t timedStore) Heartbeat(ctx context.Context, projectID, user string) (filelock.Lock, error) {
	defer t.since("heartbeat", time.Now())
	return t.Store.Heartbeat(ctx, projectID, user)
}

func (t timedStore) Status(ctx context.Context, projectID string) (filelock.Status, error) {
	defer t.since("status", time.Now())
	return t.Store.Status(ctx, projectID)
}

func (t timedStore) Lock(ctx context.Context, projectID, file string) (filelock.Lock, error) {
	defer t.since("lock", time.Now())
	return t.Store.Lock(ctx, projectID, file)
}

func (t timedStore) Events(ctx context.Context, projectID, afterID string) ([]filelock.Event, error) {
	defer t.since("events", time.Now())
	return t.Store.Events(ctx, projectID, afterID)
}

func (t timedStore) Connect(ctx context.Context, projectID, user, connID string, lease time.Duration) error {
	defer t.since("connect", time.Now())
	return t.Store.Connect(ctx, projectID, user, connID, lease)
}

func (t timedStore) Disconnect(ctx context.Context, projectID, connID string) error {
	defer t.since("disconnect", time.Now())
	return t.Store.Disconnect(ctx, projectID, connID)
}

func (t timedStore) Refresh(ctx context.Context, projectID string, conns []store.Conn, lease time.Duration) error {
	defer t.since("refresh", time.Now())
	return t.Store.Refresh(ctx, projectID, conns, lease)
}

func (t timedStore) Ping(ctx context.Context) error {
	defer t.since("ping", time.Now())
	return t.Store.Ping(ctx)
}
