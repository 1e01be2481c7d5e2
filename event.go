package filelock

import (
	"encoding/json"
	"strconv"
)

// Event names (SPEC §4).
const (
	EventLockAcquired = "lock_acquired"
	EventLockReleased = "lock_released"
	EventUserJoined   = "user_joined"
	EventUserLeft     = "user_left"
	EventSnapshot     = "snapshot"
)

// InitialEventID is the position of a project that has had no event yet.
const InitialEventID = "0"

// Event is one entry of a project's event log. Seq orders the events of a
// project: it only grows, but not by one (a store may jump it forward, e.g.
// to stay above ids it handed out before it lost writes). Prev is the Seq of
// the event before it in the log (0 for the project's first event), so a
// reader that last saw Seq s and gets an event whose Prev is not s has
// missed something. ID is Seq in decimal, the opaque event_id of the wire
// format.
//
// Which fields are set depends on Type:
//   - lock_acquired: Lock
//   - lock_released: Lock (File, User, Token of the holder it was taken from) and Reason
//   - user_joined, user_left: User
//   - snapshot: Locks and Users (built by readers, never stored)
type Event struct {
	Type      string
	ProjectID string
	Seq       uint64
	Prev      uint64
	Lock      Lock
	Reason    string
	User      string
	Locks     []Lock
	Users     []string
}

// ID is the event_id of the event.
func (e Event) ID() string { return strconv.FormatUint(e.Seq, 10) }

// ParseEventID reads an event_id; ok is false for anything that is not one.
func ParseEventID(id string) (seq uint64, ok bool) {
	if id == "" || len(id) > 20 {
		return 0, false
	}
	for _, c := range []byte(id) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	seq, err := strconv.ParseUint(id, 10, 64)
	return seq, err == nil
}

// SnapshotEvent turns a Status into the snapshot event of SPEC §4.
func SnapshotEvent(s Status) Event {
	seq, _ := ParseEventID(s.LastEventID)
	return Event{Type: EventSnapshot, ProjectID: s.ProjectID, Seq: seq, Locks: s.Locks, Users: s.Users}
}

// MarshalJSON writes the event's data object of SPEC §4 (project_id and
// event_id beside the type's own fields); the event name travels beside it.
func (e Event) MarshalJSON() ([]byte, error) {
	id := e.ID()
	switch e.Type {
	case EventLockAcquired:
		return json.Marshal(struct {
			ProjectID  string `json:"project_id"`
			EventID    string `json:"event_id"`
			File       string `json:"file"`
			User       string `json:"user"`
			Token      int64  `json:"token"`
			AcquiredAt string `json:"acquired_at"`
			ExpiresAt  string `json:"expires_at"`
		}{e.ProjectID, id, e.Lock.File, e.Lock.User, e.Lock.Token, FormatTime(e.Lock.AcquiredAt), FormatTime(e.Lock.ExpiresAt)})
	case EventLockReleased:
		return json.Marshal(struct {
			ProjectID string `json:"project_id"`
			EventID   string `json:"event_id"`
			File      string `json:"file"`
			User      string `json:"user"`
			Token     int64  `json:"token"`
			Reason    string `json:"reason"`
		}{e.ProjectID, id, e.Lock.File, e.Lock.User, e.Lock.Token, e.Reason})
	case EventSnapshot:
		locks, users := e.Locks, e.Users
		if locks == nil {
			locks = []Lock{}
		}
		if users == nil {
			users = []string{}
		}
		return json.Marshal(struct {
			ProjectID string   `json:"project_id"`
			EventID   string   `json:"event_id"`
			Locks     []Lock   `json:"locks"`
			Users     []string `json:"users"`
		}{e.ProjectID, id, locks, users})
	default: // user_joined, user_left
		return json.Marshal(struct {
			ProjectID string `json:"project_id"`
			EventID   string `json:"event_id"`
			User      string `json:"user"`
		}{e.ProjectID, id, e.User})
	}
}
