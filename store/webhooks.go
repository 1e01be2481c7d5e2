package store

import (
	"context"
	"errors"
	"time"
)

// ErrLeaseLost is returned by Deliveries.AckDelivery and
// Deliveries.LeaseDelivery when the caller no longer holds the project's
// delivery lease with the fence it names: it expired, or another owner took
// it. The caller must stop delivering the project.
var ErrLeaseLost = errors.New("store: delivery lease lost")

// Deliveries is the webhook delivery state of SPEC §5 (Webhooks), kept in
// the store so that every instance sharing it agrees on it: which projects
// have events, which instance delivers a project (a lease with a fencing
// number), and up to which event each receiver URL has acknowledged a
// project's events. Both stores implement it and pass one conformance
// suite (storetest.RunDeliveries). Every method returns an error of code
// store_unavailable when the backend cannot be reached.
type Deliveries interface {
	// WebhookProjects returns, in no particular order, the id of every
	// project whose history holds events. Each project is listed once.
	// When part of the backend fails (a Cluster master), the projects
	// found on the rest may be returned beside the error.
	WebhookProjects(ctx context.Context) ([]string, error)

	// WatchProjects returns hints until ctx ends (then the channel is
	// closed): a project id after that project appended an event (hints
	// of one project may be coalesced), and "" when hints may have been
	// lost, so that the reader catches up with WebhookProjects. A project
	// that had no events before the watch started is hinted too. The
	// channel is buffered; a reader that falls behind gets "" instead of
	// the hints it missed.
	WatchProjects(ctx context.Context) (<-chan string, error)

	// LeaseDelivery takes or renews the project's delivery lease for
	// owner, until ttl from now. With fence 0 it takes the lease when it
	// is free (or already owner's) and returns its fence; held by another
	// owner, it returns 0 and no error. With the fence of a lease taken
	// earlier it renews that lease and returns the same fence, or
	// ErrLeaseLost when the lease is no longer held with that fence.
	// Fences of one project only grow: a new lease always gets a fence
	// above every earlier one (also when the backend came back empty, as
	// long as its clock is not behind).
	LeaseDelivery(ctx context.Context, projectID, owner string, fence int64, ttl time.Duration) (int64, error)

	// ReleaseDelivery gives the lease up if owner still holds it with
	// fence; otherwise it does nothing.
	ReleaseDelivery(ctx context.Context, projectID, owner string, fence int64) error

	// DeliveryPositions returns, per receiver URL, the event id up to which
	// the project's events were acknowledged (an absent URL has none).
	DeliveryPositions(ctx context.Context, projectID string) (map[string]string, error)

	// AckDelivery records, atomically with a check that owner holds the
	// lease with fence, that url acknowledged the project's events up to
	// eventID; ErrLeaseLost (and no change) otherwise. The position is
	// set as given, even below the previous one (the holder knows where it
	// is: a snapshot of a project the store has forgotten is at id 0).
	AckDelivery(ctx context.Context, projectID, owner string, fence int64, url, eventID string) error
}
