package redis

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"filelock"
)

// wireEvent is the compact JSON of an event in the stream and on Pub/Sub,
// written by lua/lib.lua's emit. Numbers travel as strings (Lua would round
// them): s seq, p the seq of the event before it (0: none), k token, a acquired_at ms, x expires_at ms, l ttl ms.
type wireEvent struct {
	T string `json:"t"`
	S string `json:"s"`
	P string `json:"p"`
	F string `json:"f"`
	U string `json:"u"`
	K string `json:"k"`
	A string `json:"a"`
	X string `json:"x"`
	L string `json:"l"`
	R string `json:"r"`
}

// decodeEvent reads one event of the project. An event written by the
// previous version of the store (no p) comes with Prev 0, so a reader that
// follows the project sees a gap and catches up, or takes a snapshot.
func decodeEvent(projectID, js string) (filelock.Event, error) {
	var w wireEvent
	if err := json.Unmarshal([]byte(js), &w); err != nil {
		return filelock.Event{}, fmt.Errorf("redis store: bad event %q: %w", js, err)
	}
	seq, err := strconv.ParseUint(w.S, 10, 64)
	if err != nil {
		return filelock.Event{}, fmt.Errorf("redis store: bad event seq %q", w.S)
	}
	var prev uint64 // an event of the previous version has no p: Prev 0, a gap to readers
	if w.P != "" {
		if prev, err = strconv.ParseUint(w.P, 10, 64); err != nil || prev >= seq {
			return filelock.Event{}, fmt.Errorf("redis store: bad event prev %q", w.P)
		}
	}
	ev := filelock.Event{Type: w.T, ProjectID: projectID, Seq: seq, Prev: prev}
	switch w.T {
	case filelock.EventLockAcquired, filelock.EventLockReleased:
		ev.Lock = filelock.Lock{ProjectID: projectID, File: w.F, User: w.U, Token: num(w.K),
			AcquiredAt: ms(w.A), ExpiresAt: ms(w.X), TTL: time.Duration(num(w.L)) * time.Millisecond}
		ev.Reason = w.R
		if w.T == filelock.EventLockReleased {
			ev.Lock.AcquiredAt, ev.Lock.ExpiresAt = time.Time{}, time.Time{}
		}
	case filelock.EventUserJoined, filelock.EventUserLeft:
		ev.User = w.U
	default:
		return filelock.Event{}, fmt.Errorf("redis store: unknown event type %q", w.T)
	}
	return ev, nil
}

func num(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func ms(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	return time.UnixMilli(num(s)).UTC()
}

// decodeLock reads a lock reply of lua/lib.lua's lock_reply:
// {file, user, token, acquired_at ms, expires_at ms, ttl ms}.
func decodeLock(projectID string, v any) (filelock.Lock, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 6 {
		return filelock.Lock{}, fmt.Errorf("redis store: bad lock reply %v", v)
	}
	var f [6]string
	for i, x := range a {
		if f[i], ok = x.(string); !ok {
			return filelock.Lock{}, fmt.Errorf("redis store: bad lock reply %v", v)
		}
	}
	return filelock.Lock{ProjectID: projectID, File: f[0], User: f[1], Token: num(f[2]),
		AcquiredAt: ms(f[3]), ExpiresAt: ms(f[4]), TTL: time.Duration(num(f[5])) * time.Millisecond}, nil
}

// reply splits a script's {code, ...} reply.
func (s *Store) reply(v any) (code string, rest []any, err error) {
	a, ok := v.([]any)
	if !ok || len(a) == 0 {
		return "", nil, fmt.Errorf("redis store: bad reply %v", v)
	}
	code, ok = a[0].(string)
	if !ok {
		return "", nil, fmt.Errorf("redis store: bad reply %v", v)
	}
	rest = a[1:]
	if n := len(rest); n > 0 {
		if r, ok := rest[n-1].([]any); ok && len(r) == 3 && r[0] == "#released" {
			s.released(r[1], r[2])
			rest = rest[:n-1]
		}
	}
	return code, rest, nil
}

// released tells Options.OnRelease of the releases a script carried out:
// expired and disconnected, counts as the script replied them.
func (s *Store) released(expired, disconnected any) {
	f := s.opts.OnRelease
	if f == nil {
		return
	}
	if n, _ := expired.(int64); n > 0 {
		f(filelock.ReasonExpired, int(n))
	}
	if n, _ := disconnected.(int64); n > 0 {
		f(filelock.ReasonDisconnected, int(n))
	}
}

// reapReply reads a reap script's reply (lua/reap.lua): the slot's next due
// time, counting its releases; ok false when the script failed.
func (s *Store) reapReply(c *call) (next string, ok bool) {
	if c.cmd.Err() != nil {
		return "", false
	}
	a, _ := c.cmd.Val().([]any)
	if len(a) != 3 {
		return "", false
	}
	s.released(a[1], a[2])
	next, ok = a[0].(string)
	return next, ok
}
