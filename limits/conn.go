package limits

import (
	"sync"

	"filelock"
)

// ConnLimiter counts live connections (WebSocket, Socket.IO, SSE) overall
// and per user, and refuses new ones beyond the caps. A cap ≤ 0 is
// unlimited; a nil *ConnLimiter allows everything. It is safe for concurrent use.
type ConnLimiter struct {
	maxTotal, maxPerUser int

	mu     sync.Mutex
	total  int
	byUser map[string]int
}

// NewConnLimiter returns a limiter with limits.max_connections (maxTotal)
// and limits.max_connections_per_user (maxPerUser); 0 = unlimited.
func NewConnLimiter(maxTotal, maxPerUser int) *ConnLimiter {
	return &ConnLimiter{maxTotal: maxTotal, maxPerUser: maxPerUser, byUser: make(map[string]int)}
}

// Acquire counts one more connection of user ("" = a connection that names
// no user: it counts toward the overall cap only). Over a cap it returns a
// rate_limited *filelock.Error (429) and counts nothing. Otherwise the
// caller must call release when the connection closes; release is
// idempotent.
func (l *ConnLimiter) Acquire(user string) (release func(), err error) {
	return l.acquire(user, true)
}

// AcquireUser counts a connection already counted overall (Acquire(""))
// as one of user's, once its user is known (a WebSocket or Socket.IO
// connection in auth.mode none learns it from its first join). Over the
// per-user cap it returns a rate_limited *filelock.Error and counts
// nothing; otherwise release (idempotent) undoes it.
func (l *ConnLimiter) AcquireUser(user string) (release func(), err error) {
	return l.acquire(user, false)
}

func (l *ConnLimiter) acquire(user string, total bool) (func(), error) {
	if l == nil || (!total && user == "") {
		return func() {}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if total && l.maxTotal > 0 && l.total >= l.maxTotal {
		return nil, filelock.Errorf(filelock.ERateLimited, "too many connections: this server allows %d", l.maxTotal)
	}
	if user != "" && l.maxPerUser > 0 && l.byUser[user] >= l.maxPerUser {
		return nil, filelock.Errorf(filelock.ERateLimited, "too many connections for user %s: at most %d at once", user, l.maxPerUser)
	}
	if total {
		l.total++
	}
	if user != "" {
		l.byUser[user]++
	}
	var once sync.Once
	return func() { once.Do(func() { l.release(user, total) }) }, nil
}

func (l *ConnLimiter) release(user string, total bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if total {
		l.total--
	}
	if user != "" {
		if l.byUser[user]--; l.byUser[user] <= 0 {
			delete(l.byUser, user)
		}
	}
}

// Count is the number of live connections overall.
func (l *ConnLimiter) Count() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}
