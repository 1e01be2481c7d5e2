package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"filelock"
)

// LockRequest asks for File of ProjectID for UserID (POST /lock).
type LockRequest struct {
	ProjectID string
	File      string
	UserID    string
	// TTL is the lock's lifetime past each acquisition or heartbeat; 0 means
	// the server's lock.ttl. The server clamps it to [lock.min_ttl, lock.max_ttl].
	TTL time.Duration
	// ReleasePrevious gives up the user's lock on another file of the
	// project in the same atomic step (reason switched).
	ReleasePrevious bool
}

// LockResult is a successful POST /lock or POST /claim.
type LockResult struct {
	// Renewed is true when the user already held the file: the TTL was
	// refreshed and the token kept.
	Renewed bool
	Lock    filelock.Lock
	// Released is the lock given up by ReleasePrevious (or by a claim), if any.
	Released *filelock.Lock
	// HeartbeatInterval is how often to call Heartbeat to keep the lock.
	HeartbeatInterval time.Duration
}

type lockReply struct {
	Acquired          bool           `json:"acquired"`
	Renewed           bool           `json:"renewed"`
	Lock              filelock.Lock  `json:"lock"`
	Released          *filelock.Lock `json:"released"`
	HeartbeatInterval float64        `json:"heartbeat_interval_seconds"`
}

func (r lockReply) result() LockResult {
	return LockResult{Renewed: r.Renewed, Lock: r.Lock, Released: r.Released, HeartbeatInterval: interval(r.HeartbeatInterval)}
}

// Lock takes the file for the user. Errors (*filelock.Error): file_locked
// (another user holds it; Lock is theirs), user_has_lock (the user holds
// another file; Lock is that one), invalid_request, unauthorized,
// forbidden, user_mismatch, rate_limited, store_unavailable.
func (c *Client) Lock(ctx context.Context, req LockRequest) (LockResult, error) {
	body := struct {
		ProjectID       string   `json:"project_id"`
		File            string   `json:"file"`
		UserID          string   `json:"user_id"`
		TTLSeconds      *float64 `json:"ttl_seconds,omitempty"`
		ReleasePrevious bool     `json:"release_previous,omitempty"`
	}{req.ProjectID, req.File, req.UserID, seconds(req.TTL), req.ReleasePrevious}
	var r lockReply
	if err := c.call(ctx, http.MethodPost, "/lock", nil, body, &r); err != nil {
		return LockResult{}, err
	}
	return r.result(), nil
}

// ClaimRequest asks for the first of Files that is free or already held by
// UserID (POST /claim).
type ClaimRequest struct {
	ProjectID string
	UserID    string
	Files     []string // 1–1000 file names, in the order to work on them
	TTL       time.Duration
}

// Claim takes, atomically, the first listed file that is free or already
// the user's; a lock the user held on another file is released (switched)
// and returned as Released. Errors: none_free (every listed file is held by
// others; nothing changed), and those of Lock.
func (c *Client) Claim(ctx context.Context, req ClaimRequest) (LockResult, error) {
	body := struct {
		ProjectID  string   `json:"project_id"`
		UserID     string   `json:"user_id"`
		Files      []string `json:"files"`
		TTLSeconds *float64 `json:"ttl_seconds,omitempty"`
	}{req.ProjectID, req.UserID, req.Files, seconds(req.TTL)}
	var r lockReply
	if err := c.call(ctx, http.MethodPost, "/claim", nil, body, &r); err != nil {
		return LockResult{}, err
	}
	return r.result(), nil
}

// UnlockRequest gives File of ProjectID up (POST /unlock).
type UnlockRequest struct {
	ProjectID string
	File      string
	UserID    string
	// Token, when non-zero, must be the current lock's token (else
	// stale_token): a holder never releases a lock it lost and someone
	// else took since.
	Token int64
	// Force releases whoever holds the file (reason forced); it needs an
	// admin (a JWT with admin, or an API key).
	Force bool
}

// Unlock releases the lock and returns it. Errors: not_locked (nobody holds
// it), not_owner (another user does; Lock is theirs), stale_token (Token is
// not the current one; Lock is the current), forbidden, and those of Lock.
func (c *Client) Unlock(ctx context.Context, req UnlockRequest) (filelock.Lock, error) {
	body := struct {
		ProjectID string `json:"project_id"`
		File      string `json:"file"`
		UserID    string `json:"user_id"`
		Token     *int64 `json:"token,omitempty"`
		Force     bool   `json:"force,omitempty"`
	}{ProjectID: req.ProjectID, File: req.File, UserID: req.UserID, Force: req.Force}
	if req.Token != 0 {
		body.Token = &req.Token
	}
	var r struct {
		Released bool          `json:"released"`
		Lock     filelock.Lock `json:"lock"`
	}
	if err := c.call(ctx, http.MethodPost, "/unlock", nil, body, &r); err != nil {
		return filelock.Lock{}, err
	}
	return r.Lock, nil
}

// HeartbeatResult is a successful POST /heartbeat.
type HeartbeatResult struct {
	Lock              filelock.Lock // the user's lock, its TTL extended
	HeartbeatInterval time.Duration
}

// Heartbeat extends the user's lock in the project by its TTL. Errors:
// not_locked (the user holds none), and those of Lock.
func (c *Client) Heartbeat(ctx context.Context, projectID, userID string) (HeartbeatResult, error) {
	body := struct {
		ProjectID string `json:"project_id"`
		UserID    string `json:"user_id"`
	}{projectID, userID}
	var r struct {
		Lock              filelock.Lock `json:"lock"`
		HeartbeatInterval float64       `json:"heartbeat_interval_seconds"`
	}
	if err := c.call(ctx, http.MethodPost, "/heartbeat", nil, body, &r); err != nil {
		return HeartbeatResult{}, err
	}
	return HeartbeatResult{Lock: r.Lock, HeartbeatInterval: interval(r.HeartbeatInterval)}, nil
}

// Get returns the current lock of the file (GET /locks/{project_id}/{file});
// not_locked when nobody holds it.
func (c *Client) Get(ctx context.Context, projectID, file string) (filelock.Lock, error) {
	return c.Check(ctx, projectID, file, 0, "")
}

// Check is the fencing check a labeling backend makes before it saves work
// on a file (GET /locks/{project_id}/{file}?token=&user_id=). It returns the
// lock, and nil error only when the file is locked with exactly token (when
// token is non-zero) and by userID (when userID is not empty). Errors:
// not_locked (nobody holds the file), stale_token (held with another token;
// Lock is the current lock), not_owner (held by another user; Lock is
// theirs), and invalid_request, unauthorized, forbidden, store_unavailable.
// A backend saves only when err is nil.
func (c *Client) Check(ctx context.Context, projectID, file string, token int64, userID string) (filelock.Lock, error) {
	q := url.Values{}
	if token != 0 {
		q.Set("token", strconv.FormatInt(token, 10))
	}
	if userID != "" {
		q.Set("user_id", userID)
	}
	var r struct {
		Lock filelock.Lock `json:"lock"`
	}
	if err := c.call(ctx, http.MethodGet, "/locks/"+url.PathEscape(projectID)+"/"+escapeFile(file), q, nil, &r); err != nil {
		return filelock.Lock{}, err
	}
	return r.Lock, nil
}

// Status is a project's state (GET /status/{project_id}).
type Status struct {
	ProjectID string
	Locks     []filelock.Lock // sorted by file
	Users     []string        // present users, sorted
	// LastEventID is the id of the newest event the listing includes: an
	// event stream resumed from it misses nothing and repeats nothing.
	LastEventID string
	ServerTime  time.Time
}

// Status returns the project's locks and present users.
func (c *Client) Status(ctx context.Context, projectID string) (Status, error) {
	var r struct {
		ProjectID   string          `json:"project_id"`
		Locks       []filelock.Lock `json:"locks"`
		Users       []string        `json:"users"`
		LastEventID string          `json:"last_event_id"`
		ServerTime  string          `json:"server_time"`
	}
	if err := c.call(ctx, http.MethodGet, "/status/"+url.PathEscape(projectID), nil, nil, &r); err != nil {
		return Status{}, err
	}
	st := Status{ProjectID: r.ProjectID, Locks: r.Locks, Users: r.Users, LastEventID: r.LastEventID}
	st.ServerTime, _ = time.Parse(time.RFC3339Nano, r.ServerTime)
	return st, nil
}

// Healthz returns nil while the server process runs (GET /healthz).
func (c *Client) Healthz(ctx context.Context) error {
	return c.call(ctx, http.MethodGet, "/healthz", nil, nil, nil)
}

// Readyz returns nil while the server's store answers and takes writes
// (GET /readyz); store_unavailable otherwise.
func (c *Client) Readyz(ctx context.Context) error {
	return c.call(ctx, http.MethodGet, "/readyz", nil, nil, nil)
}
