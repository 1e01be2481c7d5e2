// Package store defines the lock rules of filelock (SPEC §1) as one
// interface, Store, with two implementations that pass one conformance suite
// (store/storetest): store/memory for one instance and store/redis for many.
//
// Every change a Store makes (an acquisition, a release, a presence change)
// appends its event to the project's event log in the same atomic step, so no
// change can happen without its event and no event without its change.
package store

import (
	"context"
	"errors"
	"time"

	"filelock"
)

// ErrHistoryGone is returned by Store.Events when the id to resume from is
// unknown or its successors have fallen out of the history window: the
// reader must start over from a snapshot (Store.Status).
var ErrHistoryGone = errors.New("store: event id not in history")

// Options are the lock rules' tunables (SPEC §7 lock.*, events.history).
type Options struct {
	DefaultTTL      time.Duration // lock.ttl, 90s
	MinTTL          time.Duration // lock.min_ttl, 5s
	MaxTTL          time.Duration // lock.max_ttl, 1h
	History         int           // events.history, 1000 events per project
	DisconnectGrace time.Duration // lock.disconnect_grace, 10s

	// OnRelease, when set, is told of the releases the store carries out
	// itself on this instance: n locks released with reason expired or
	// disconnected, by Run or by the lazy expiry of a call (SPEC §9
	// filelock_locks_released_total: counted by the instance that carried
	// the release out). The other reasons are the caller's to count. It
	// may be called with the store's internal lock held: it must be quick
	// and must not call the store.
	OnRelease func(reason string, n int)
}

// CallTimeout is the default bound on one store call made for a client or
// for the server's background work (SPEC §8: a request never hangs past
// 2 s on a store that does not answer). It is under 2 s so that the 503
// reaches the client before then.
const CallTimeout = 1500 * time.Millisecond

// Immediate is implemented by a Store whose calls wait on nothing but its
// own short critical sections (no I/O, no other process), so a call always
// returns in far less than CallTimeout: a caller may run it on its own
// goroutine, with no bound of its own. Immediate reports whether that holds
// (a wrapper may pass on its inner store's answer).
type Immediate interface{ Immediate() bool }

// DefaultOptions returns the defaults of SPEC §7.
func DefaultOptions() Options {
	return Options{DefaultTTL: 90 * time.Second, MinTTL: 5 * time.Second, MaxTTL: time.Hour, History: 1000, DisconnectGrace: 10 * time.Second}
}

// WithDefaults returns o with its zero (or negative) fields filled from
// DefaultOptions: MinTTL no higher and MaxTTL no lower than DefaultTTL; a
// negative DisconnectGrace is 0. Both stores' constructors apply it, so a
// zero field never means 0 (History 0 is not an empty history).
func (o Options) WithDefaults() Options {
	def := DefaultOptions()
	if o.DefaultTTL <= 0 {
		o.DefaultTTL = def.DefaultTTL
	}
	if o.MinTTL <= 0 {
		o.MinTTL = min(def.MinTTL, o.DefaultTTL)
	}
	if o.MaxTTL <= 0 {
		o.MaxTTL = max(def.MaxTTL, o.DefaultTTL)
	}
	if o.History <= 0 {
		o.History = def.History
	}
	if o.DisconnectGrace < 0 {
		o.DisconnectGrace = 0
	}
	return o
}

// ClampTTL returns the lifetime of a lock requested with ttl (0: the default),
// clamped to [MinTTL, MaxTTL].
func (o Options) ClampTTL(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		ttl = o.DefaultTTL
	}
	return min(max(ttl, o.MinTTL), o.MaxTTL)
}

// TTLSeconds returns the lifetime of a lock requested with ttl_seconds v
// (SPEC §2: any number is clamped to [MinTTL, MaxTTL]): zero and negative
// values give MinTTL, values past MaxTTL (+Inf included) MaxTTL. NaN is not
// a number of seconds: the caller refuses it.
func (o Options) TTLSeconds(v float64) time.Duration {
	if v >= o.MaxTTL.Seconds() {
		return o.MaxTTL
	}
	return max(time.Duration(v*float64(time.Second)), o.MinTTL) // v <= 0 and v < 1 ns included
}

// AcquireRequest asks for File of ProjectID on behalf of User.
type AcquireRequest struct {
	ProjectID       string
	File            string
	User            string
	TTL             time.Duration // 0: Options.DefaultTTL; clamped to [MinTTL, MaxTTL]
	ReleasePrevious bool
}

// AcquireResult is a successful acquisition.
type AcquireResult struct {
	Lock     filelock.Lock
	Renewed  bool           // the user already held the file: TTL refreshed, token kept, no event
	Released *filelock.Lock // the lock given up by ReleasePrevious (reason switched)
}

// ClaimRequest asks for the first file of Files (in order) that is free or
// already held by User (SPEC §3 POST /claim).
type ClaimRequest struct {
	ProjectID string
	Files     []string // 1–1000 valid file names, in the caller's order
	User      string
	TTL       time.Duration // as AcquireRequest.TTL
}

// ReleaseRequest gives File of ProjectID up on behalf of User.
type ReleaseRequest struct {
	ProjectID string
	File      string
	User      string
	Token     *int64 // when set, must be the current token
	Force     bool   // release whoever holds it (reason forced); authorization is the caller's job
}

// Conn is one live connection of User, as Store.Refresh renews it.
type Conn struct {
	ID   string
	User string
}

// Store owns the lock rules I1–I4 and the event log of SPEC §1 and §4.
// Lock expiry is judged by the store's clock (Redis: the server's TIME).
// Every method returns an error of code store_unavailable (filelock.Error)
// when the backend cannot be reached; callers bound them with a context.
type Store interface {
	// Acquire takes the file for the user (SPEC §3 POST /lock).
	// The rules, checked atomically in this order:
	//   - the user already holds the file: renew (expires_at = now+ttl, same
	//     token, same acquired_at, Renewed, no event);
	//   - another user holds the file: file_locked with that lock;
	//   - the user holds another file of the project: user_has_lock with that
	//     lock, unless ReleasePrevious: then lock_released (switched) of the
	//     old lock and lock_acquired of the new one, both or neither;
	//   - otherwise lock_acquired; the token is the event's Seq.
	// A lock in the way whose expires_at has passed is first released with
	// reason expired (and its event), as the reaper would have done.
	Acquire(ctx context.Context, req AcquireRequest) (AcquireResult, error)

	// Claim takes, in one atomic step, the first file of req.Files that is
	// free or already held by the user, as Acquire with ReleasePrevious
	// would take it: the user's own listed file is renewed; a lock the user
	// holds on another file is released (switched) right before the new
	// lock_acquired. An expired lock counts as free (released expired
	// first). When every listed file is held by another user: none_free, no
	// lock, and nothing changes.
	Claim(ctx context.Context, req ClaimRequest) (AcquireResult, error)

	// Release gives the file up (SPEC §3 POST /unlock) and returns the lock
	// released. Errors: not_locked (nobody holds it), not_owner (another user
	// holds it and !Force), stale_token (Token set and not the current one).
	// The event's reason is unlocked, or forced when Force.
	Release(ctx context.Context, req ReleaseRequest) (filelock.Lock, error)

	// Heartbeat extends the user's lock in the project to now + its TTL and
	// returns it; not_locked when the user holds none. No event.
	Heartbeat(ctx context.Context, projectID, user string) (filelock.Lock, error)

	// Status returns the project's locks and present users as of its newest
	// event, whose id is Status.LastEventID (filelock.InitialEventID when the
	// project has had no event yet), and the store's clock at that read
	// (Status.ServerTime, the clock expires_at is judged by).
	Status(ctx context.Context, projectID string) (filelock.Status, error)

	// Lock returns the live lock of the file (SPEC §3 GET /locks, the
	// fencing check), or not_locked (ErrNotLocked) when nobody holds it; a
	// lock whose expires_at has passed by the store's clock counts as
	// gone, even before it is reaped. A read of the one file: it changes
	// nothing, and its cost does not grow with the project's locks.
	Lock(ctx context.Context, projectID, file string) (filelock.Lock, error)

	// Events returns the events of the project after the event afterID, in
	// order, or ErrHistoryGone when afterID is unknown, from another life of
	// the store, or older than the history window (Options.History events).
	// afterID filelock.InitialEventID replays the whole history while it
	// still starts with the project's first event.
	Events(ctx context.Context, projectID, afterID string) ([]filelock.Event, error)

	// Connect records a live connection connID of user to the project (a
	// WebSocket or Socket.IO join, an SSE stream that named the user), leased
	// until now+lease. The user's first live connection appends user_joined;
	// it also cancels a pending disconnect release of the user. Connecting an
	// already live connID of the same user only renews its lease; under
	// another user it counts as its Disconnect followed by a Connect. A
	// lease <= 0 never lapses: the connection lives until Disconnect.
	Connect(ctx context.Context, projectID, user, connID string, lease time.Duration) error

	// Disconnect removes the connection (closed, or left the project); an
	// unknown connID is not an error. When it was the user's last live
	// connection, it appends user_left and, if the user holds a lock in the
	// project, schedules its release with reason disconnected at now +
	// Options.DisconnectGrace, cancelled by a Connect of the user before then.
	Disconnect(ctx context.Context, projectID, connID string) error

	// Refresh renews the leases of the given live connections of the project
	// to now+lease. An instance refreshes its connections well within the
	// lease; a connection whose lease lapses (its instance died) is
	// disconnected by Run as if Disconnect had been called. A connection
	// the store does not know (its lease lapsed while its instance could
	// not reach the store, or the backend came back empty) is recorded
	// again as Connect records it: the user's first live connection
	// appends user_joined and cancels a pending disconnect release. So an
	// instance must not refresh a connection it has disconnected. With no
	// connections it does nothing and returns nil. A lease <= 0 as Connect's.
	Refresh(ctx context.Context, projectID string, conns []Conn, lease time.Duration) error

	// Feed returns a new live feed of appended events. See Feed.
	Feed(ctx context.Context) (Feed, error)

	// Run releases expired locks with reason expired within a second of their
	// expires_at, carries out due disconnect releases, and disconnects lapsed
	// connections, until ctx ends. Several instances may run it on one
	// backend: each expiry is released (and its event appended) exactly once.
	Run(ctx context.Context) error

	// Ping reports whether the backend answers.
	Ping(ctx context.Context) error

	// Close releases the store's resources.
	Close() error
}

// Feed carries events appended by any instance to this one, for the
// projects it subscribed to. It is a hint, not the log: a notice may be lost
// (Redis Pub/Sub drops messages while disconnected). Whenever delivery may
// have lost something, the Feed sends a Notice with Resync set; readers then
// catch up from Store.Events. Readers also catch up when an Event's Seq is
// not the one they expected.
type Feed interface {
	// Subscribe starts notices of the project. It returns once the
	// subscription is in effect: every event appended afterwards is notified.
	Subscribe(ctx context.Context, projectID string) error
	// Unsubscribe stops notices of the project.
	Unsubscribe(ctx context.Context, projectID string) error
	// Notices is the channel of notices; it is closed by Close.
	Notices() <-chan Notice
	// Close ends the feed.
	Close() error
}

// Notice is one message of a Feed: an appended event of ProjectID, or, when
// Resync is set, a request to catch up ProjectID ("" means every project).
type Notice struct {
	ProjectID string
	Event     filelock.Event
	Resync    bool
}

// Unavailable wraps a backend failure as a store_unavailable error.
func Unavailable(err error) error {
	return &filelock.Error{Code: filelock.EUnavailable, Message: "store unavailable: " + err.Error()}
}
