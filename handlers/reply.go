package handlers

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"filelock"
)

// The 200 bodies of the lock path (lock, claim, unlock, heartbeat, the
// fencing check) are written by hand: byte for byte what encoding/json
// writes for them (reply_test.go holds the two side by side), without its
// reflection and the re-scanning of filelock.Lock's MarshalJSON output.

// jsonAppender is a reply that appends its own JSON encoding (as
// session.OK takes it too).
type jsonAppender interface{ AppendJSON(b []byte) []byte }

// replyBufs holds the buffers replies are encoded into.
var replyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeReply answers 200 with v as JSON (as gin's c.JSON does).
func writeReply(c *gin.Context, v any) {
	a, ok := v.(jsonAppender)
	if !ok {
		c.JSON(http.StatusOK, v)
		return
	}
	bp := replyBufs.Get().(*[]byte)
	b := a.AppendJSON((*bp)[:0])
	c.Data(http.StatusOK, "application/json; charset=utf-8", b)
	if cap(b) <= 16<<10 {
		*bp = b
		replyBufs.Put(bp)
	}
}

// AppendJSON appends r as JSON: byte for byte what encoding/json writes.
func (r LockReply) AppendJSON(b []byte) []byte {
	b = append(b, `{"acquired":`...)
	b = strconv.AppendBool(b, r.Acquired)
	b = append(b, `,"renewed":`...)
	b = strconv.AppendBool(b, r.Renewed)
	b = append(b, `,"lock":`...)
	b = appendLock(b, r.Lock)
	if r.Released != nil {
		b = append(b, `,"released":`...)
		b = appendLock(b, *r.Released)
	}
	b = append(b, `,"heartbeat_interval_seconds":`...)
	b = appendFloat(b, r.HeartbeatIntervalSeconds)
	return append(b, '}')
}

// AppendJSON appends r as JSON: byte for byte what encoding/json writes.
func (r UnlockReply) AppendJSON(b []byte) []byte {
	b = append(b, `{"released":`...)
	b = strconv.AppendBool(b, r.Released)
	b = append(b, `,"lock":`...)
	b = appendLock(b, r.Lock)
	return append(b, '}')
}

// AppendJSON appends r as JSON: byte for byte what encoding/json writes.
func (r HeartbeatReply) AppendJSON(b []byte) []byte {
	b = append(b, `{"lock":`...)
	b = appendLock(b, r.Lock)
	b = append(b, `,"heartbeat_interval_seconds":`...)
	b = appendFloat(b, r.HeartbeatIntervalSeconds)
	return append(b, '}')
}

// AppendJSON appends r as JSON: byte for byte what encoding/json writes.
func (r LockInfo) AppendJSON(b []byte) []byte {
	b = append(b, `{"lock":`...)
	b = appendLock(b, r.Lock)
	return append(b, '}')
}

// appendLock appends what filelock.Lock's MarshalJSON writes.
func appendLock(b []byte, l filelock.Lock) []byte {
	b = append(b, `{"project_id":`...)
	b = appendString(b, l.ProjectID)
	b = append(b, `,"file":`...)
	b = appendString(b, l.File)
	b = append(b, `,"user":`...)
	b = appendString(b, l.User)
	b = append(b, `,"token":`...)
	b = strconv.AppendInt(b, l.Token, 10)
	b = append(b, `,"acquired_at":`...)
	b = appendTime(b, l.AcquiredAt)
	b = append(b, `,"expires_at":`...)
	b = appendTime(b, l.ExpiresAt)
	return append(b, '}')
}

// appendTime appends t as filelock.FormatTime writes it, quoted (digits
// and "-:.TZ" only: nothing to escape).
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, filelock.TimeFormat)
	return append(b, '"')
}

// appendString appends s as encoding/json writes a string: quoted as is
// when encoding/json would leave it unchanged, else through encoding/json
// (which escapes control and HTML characters, U+2028 and U+2029, and
// replaces invalid UTF-8).
func appendString(b []byte, s string) []byte {
	if plainJSON(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}

// plainJSON reports whether encoding/json writes s between quotes unchanged.
func plainJSON(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += size
	}
	return true
}

// appendFloat appends f as encoding/json writes a float64 (a non-finite
// number, which encoding/json refuses, as null; a reply never holds one).
func appendFloat(b []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(b, "null"...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // 1e-07 → 1e-7, as encoding/json writes it
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
