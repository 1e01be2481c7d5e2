// Package filelock holds the domain of the filelock server: locks, events and
// the error codes every layer speaks. It depends on nothing but the standard
// library; the store, the event fan-out and the transports build on it.
package filelock

import (
	"encoding/json"
	"time"
)

// TimeFormat is the wire format of every timestamp: UTC, millisecond precision.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// FormatTime renders t in TimeFormat.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// Lock is held by one User on one File of one ProjectID (SPEC §1).
// Token is the fencing token: strictly increasing per project over all
// acquisitions, never reused. TTL is the lifetime a heartbeat extends the
// lock by; it is not part of the wire format.
type Lock struct {
	ProjectID  string
	File       string
	User       string
	Token      int64
	AcquiredAt time.Time
	ExpiresAt  time.Time
	TTL        time.Duration
}

type lockJSON struct {
	ProjectID  string `json:"project_id"`
	File       string `json:"file"`
	User       string `json:"user"`
	Token      int64  `json:"token"`
	AcquiredAt string `json:"acquired_at"`
	ExpiresAt  string `json:"expires_at"`
}

// MarshalJSON writes the SPEC's Lock object.
func (l Lock) MarshalJSON() ([]byte, error) {
	return json.Marshal(lockJSON{l.ProjectID, l.File, l.User, l.Token, FormatTime(l.AcquiredAt), FormatTime(l.ExpiresAt)})
}

// UnmarshalJSON reads the SPEC's Lock object (used by clients and tests).
func (l *Lock) UnmarshalJSON(b []byte) error {
	var v lockJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	acq, err := time.Parse(time.RFC3339Nano, v.AcquiredAt)
	if err != nil {
		return err
	}
	exp, err := time.Parse(time.RFC3339Nano, v.ExpiresAt)
	if err != nil {
		return err
	}
	*l = Lock{ProjectID: v.ProjectID, File: v.File, User: v.User, Token: v.Token, AcquiredAt: acq, ExpiresAt: exp}
	return nil
}

// Status is the state of one project as of the event LastEventID: an event
// stream resumed from LastEventID misses nothing and repeats nothing.
// Locks are sorted by File (byte order), Users sorted. ServerTime is the
// store's clock when it was read (the clock expires_at is judged by).
type Status struct {
	ProjectID   string
	Locks       []Lock
	Users       []string
	LastEventID string
	ServerTime  time.Time
}

// Release reasons of a lock_released event (SPEC §4).
const (
	ReasonUnlocked     = "unlocked"
	ReasonExpired      = "expired"
	ReasonDisconnected = "disconnected"
	ReasonForced       = "forced"
	ReasonSwitched     = "switched"
)
