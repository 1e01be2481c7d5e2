package handlers

import (
	"strconv"

	"filelock"
)

// appendEventData appends an event's data object (SPEC §4) byte for byte
// as encoding/json writes filelock.Event (its MarshalJSON, compacted):
// every wire format carries it, and it is encoded once per event and
// format (eventjson_test.go holds the two side by side).
func appendEventData(b []byte, ev *filelock.Event) []byte {
	b = append(b, `{"project_id":`...)
	b = appendString(b, ev.ProjectID)
	b = append(b, `,"event_id":"`...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, '"')
	switch ev.Type {
	case filelock.EventLockAcquired:
		b = appendEventLock(b, ev.Lock)
		b = append(b, `,"acquired_at":`...)
		b = appendTime(b, ev.Lock.AcquiredAt)
		b = append(b, `,"expires_at":`...)
		b = appendTime(b, ev.Lock.ExpiresAt)
	case filelock.EventLockReleased:
		b = appendEventLock(b, ev.Lock)
		b = append(b, `,"reason":`...)
		b = appendString(b, ev.Reason)
	case filelock.EventSnapshot:
		b = append(b, `,"locks":[`...)
		for i, l := range ev.Locks {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendLock(b, l)
		}
		b = append(b, `],"users":[`...)
		for i, u := range ev.Users {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, u)
		}
		b = append(b, ']')
	default: // user_joined, user_left
		b = append(b, `,"user":`...)
		b = appendString(b, ev.User)
	}
	return append(b, '}')
}

// appendEventLock appends the file, user and token members that both lock
// events carry.
func appendEventLock(b []byte, l filelock.Lock) []byte {
	b = append(b, `,"file":`...)
	b = appendString(b, l.File)
	b = append(b, `,"user":`...)
	b = appendString(b, l.User)
	b = append(b, `,"token":`...)
	return strconv.AppendInt(b, l.Token, 10)
}
