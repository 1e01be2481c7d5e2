package check

import (
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"filelock"
)

// The sequential model of one project (SPEC §1, §3), for porcupine.
//
// A state is the set of live locks and the last token handed out. Expiry is
// judged by this machine's clock, which is the store's (the memory store's
// time.Now, Redis's TIME on the same host): at an operation's linearization
// point t, somewhere in [call, return], a lock with expires_at ≤ t is gone.
// Where the history cannot tell whether t was before or after a lock's
// expiry, the model follows both (a nondeterministic model).
//
// An operation with an unknown outcome may take effect at any time after
// its call (its return is the end of the history); what it would have
// answered is not checked. A lock it took has an unknown token and
// expiry until a later reply shows them.

// clockSlack absorbs the millisecond rounding of expires_at.
const clockSlack = 5 * time.Millisecond

// never is the return time of an operation with an unknown outcome.
const never = int64(math.MaxInt64 / 4)

type held struct {
	file, user string
	token      int64 // 0: unknown (taken by an operation without an answer)
	floor      int64 // an unknown token is above this
	expLo      int64 // unix ms; the expiry is in [expLo, expHi]
	expHi      int64
}

type mstate struct {
	locks []held // sorted by file
	last  int64  // last known token
	key   string
}

func newState(locks []held, last int64) *mstate {
	sort.Slice(locks, func(i, j int) bool { return locks[i].file < locks[j].file })
	var b strings.Builder
	fmt.Fprintf(&b, "%d|", last)
	for _, l := range locks {
		fmt.Fprintf(&b, "%q:%q:%d:%d:%d:%d;", l.file, l.user, l.token, l.floor, l.expLo, l.expHi)
	}
	return &mstate{locks: locks, last: last, key: b.String()}
}

// minput is an operation's input with its times, as the model sees it.
type minput struct {
	in        Input
	call, ret int64 // unix ms; ret is never for an unknown outcome
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// Model returns the porcupine model of one project whose state starts as
// init (nil: no locks, no token yet).
func Model(init []View) porcupine.Model {
	start := func() []any {
		var locks []held
		var last int64
		for _, v := range init {
			e := ms(v.Exp)
			locks = append(locks, held{file: v.File, user: v.User, token: v.Token, expLo: e, expHi: e})
			last = max(last, v.Token)
		}
		return []any{newState(locks, last)}
	}
	nm := porcupine.NondeterministicModel{
		Init: start,
		Step: func(s, in, out any) []any {
			return step(s.(*mstate), in.(minput), out.(Output))
		},
		Equal: func(a, b any) bool { return a.(*mstate).key == b.(*mstate).key },
		Hash: func(s any) uint64 {
			h := fnv.New64a()
			h.Write([]byte(s.(*mstate).key))
			return h.Sum64()
		},
		DescribeOperation: func(in, out any) string { return describe(in.(minput), out.(Output)) },
		DescribeState:     func(s any) string { return s.(*mstate).key },
	}
	return nm.ToModel()
}

func describe(in minput, out Output) string {
	s := fmt.Sprintf("%s(%s %q %q", in.in.Kind, in.in.Project, in.in.File, in.in.User)
	if in.in.Token != 0 {
		s += fmt.Sprintf(" token=%d", in.in.Token)
	}
	if len(in.in.Files) > 0 {
		s += fmt.Sprintf(" files=%q", in.in.Files)
	}
	s += ") → "
	switch {
	case out.Unknown:
		return s + "unknown (" + out.Err + ")"
	case out.Code != "":
		s += out.Code
	default:
		s += "ok"
	}
	if out.Lock != nil {
		s += fmt.Sprintf(" lock{%q %q %d}", out.Lock.File, out.Lock.User, out.Lock.Token)
	}
	if out.Released != nil {
		s += fmt.Sprintf(" released{%q %d}", out.Released.File, out.Released.Token)
	}
	if out.Kind() == KStatus {
		s += " locks"
		for _, l := range out.Locks {
			s += fmt.Sprintf(" {%q %q %d exp %s}", l.File, l.User, l.Token, l.Exp.Format("05.000"))
		}
	}
	return s
}

// Kind is unused by the model; it lets describe print status replies.
func (o Output) Kind() Kind {
	if o.Locks != nil {
		return KStatus
	}
	return ""
}

// step returns every state the project can be in after the operation, if
// it answered out; none when it could not have.
func step(s *mstate, in minput, out Output) []any {
	if in.in.Kind == KStatus || in.in.Kind == KResync {
		return status(s, in, out)
	}
	var next []any
	for _, live := range expiries(s, in) {
		next = append(next, apply(live, s.last, in, out)...)
	}
	// A lock surely expired by this operation stays in the state, unless
	// the operation put another lock on its file: until the reaper's event
	// is appended a listing may still show it (see status).
	var expired []held
	cut := in.call - clockSlack.Milliseconds()
	for _, l := range s.locks {
		if l.expHi <= cut && l.expHi > cut-reapedAfter.Milliseconds() {
			expired = append(expired, l)
		}
	}
	if len(expired) == 0 {
		return next
	}
	for i, n := range next {
		st := n.(*mstate)
		locks := slices.Clone(st.locks)
		for _, l := range expired {
			if find(locks, func(h held) bool { return h.file == l.file }) < 0 {
				locks = append(locks, l)
			}
		}
		next[i] = newState(locks, st.last)
	}
	return next
}

// reapedAfter is how long after its expiry a lock is surely reaped: the
// SPEC's second, and more, for faults that hold the reaper up.
const reapedAfter = 15 * time.Second

// status checks a listing. A lock whose expires_at has passed may still be
// listed until the reaper's lock_released is appended (the listing is the
// state as of its last_event_id; the event's delay is checked on its own),
// so it may be listed or not; one surely alive must be listed; nothing else
// may be. Afterwards, the surely expired are gone.
func status(s *mstate, in minput, out Output) []any {
	call := in.call - clockSlack.Milliseconds()
	ret := in.ret + clockSlack.Milliseconds()
	var live []held
	for _, l := range s.locks {
		if l.expHi > call {
			live = append(live, l)
		}
	}
	if out.Unknown {
		return result(live, s.last)
	}
	if out.Code != "" {
		return nil
	}
	listed := map[string]bool{}
	for _, v := range out.Locks {
		i := find(s.locks, func(l held) bool { return l.file == v.File })
		if i < 0 || listed[v.File] {
			return nil
		}
		listed[v.File] = true
		b, ok := matches(s.locks[i], &v)
		if !ok {
			return nil
		}
		if j := find(live, func(l held) bool { return l.file == v.File }); j >= 0 {
			live[j] = b
		} else {
			live = append(live, b) // expired, not reaped yet: it may be listed again
		}
	}
	for _, l := range s.locks {
		if l.expLo > ret && !listed[l.file] {
			return nil // surely alive, not listed
		}
	}
	return result(live, s.last)
}

// relevant reports whether the lock l can change the operation's outcome.
func relevant(l held, in minput) bool {
	switch in.in.Kind {
	case KStatus, KResync:
		return true
	case KClaim:
		return l.user == in.in.User || slices.Contains(in.in.Files, l.file)
	case KHeartbeat:
		return l.user == in.in.User
	case KLock:
		return l.user == in.in.User || l.file == in.in.File
	default: // unlock, check
		return l.file == in.in.File
	}
}

// expiries returns the possible sets of locks at the operation's
// linearization point: a lock surely expired by then is dropped; one that
// may or may not be, and matters to the operation, is followed both ways;
// the others are kept as they are.
func expiries(s *mstate, in minput) [][]held {
	call := in.call - clockSlack.Milliseconds()
	ret := in.ret + clockSlack.Milliseconds()
	sets := [][]held{nil}
	for _, l := range s.locks {
		switch {
		case l.expHi <= call: // expired before the call
		case l.expLo > ret || !relevant(l, in): // alive throughout, or no matter
			for i := range sets {
				sets[i] = append(sets[i], l)
			}
		default:
			n := len(sets)
			for i := range n {
				sets = append(sets, append(slices.Clone(sets[i]), l))
			}
		}
	}
	return sets
}

// exp returns the expiry interval of a lock set by the operation with ttl:
// exactly the reply's when it has one.
func exp(in minput, out Output, ttl time.Duration) (int64, int64) {
	if !out.Unknown && out.Lock != nil && !out.Lock.Exp.IsZero() {
		e := ms(out.Lock.Exp)
		return e, e
	}
	d := ttl.Milliseconds()
	if in.ret == never {
		return in.call + d, never
	}
	return in.call + d, in.ret + d
}

// matches reports whether the reply's view v shows lock l, and returns l
// with what v tells of it bound (an unknown token or expiry).
func matches(l held, v *View) (held, bool) {
	if v == nil || v.File != l.file || v.User != l.user {
		return l, false
	}
	if l.token == 0 {
		if v.Token <= l.floor {
			return l, false
		}
		l.token = v.Token
	} else if v.Token != l.token {
		return l, false
	}
	if !v.Exp.IsZero() {
		e := ms(v.Exp)
		if e < l.expLo-clockSlack.Milliseconds() || e > l.expHi+clockSlack.Milliseconds() {
			return l, false
		}
		l.expLo, l.expHi = e, e
	}
	return l, true
}

// ops on a lock set

func find(live []held, f func(held) bool) int {
	for i, l := range live {
		if f(l) {
			return i
		}
	}
	return -1
}

func without(live []held, i int) []held {
	return append(slices.Clone(live[:i]), live[i+1:]...)
}

func replaced(live []held, i int, l held) []held {
	c := slices.Clone(live)
	c[i] = l
	return c
}

// result builds the state after an operation.
func result(live []held, last int64) []any { return []any{newState(live, last)} }

// wantErr accepts out when it is the error code carrying lock l (when l is
// not nil), leaving the state as it is but for what the reply told of l.
func wantErr(live []held, last int64, out Output, code string, li int) []any {
	if out.Unknown {
		return result(live, last)
	}
	if out.Code != code {
		return nil
	}
	if li < 0 {
		return result(live, last)
	}
	l, ok := matches(live[li], out.Lock)
	if !ok {
		return nil
	}
	return result(replaced(live, li, l), last)
}

// acquire adds a new lock of file for the user: a new token above last.
func acquire(live []held, last int64, in minput, out Output, file string, released *held) []any {
	lo, hi := exp(in, out, in.in.TTL)
	l := held{file: file, user: in.in.User, floor: last, expLo: lo, expHi: hi}
	if out.Unknown {
		return result(append(slices.Clone(live), l), last)
	}
	if out.Code != "" || out.Renewed || out.Lock == nil || out.Lock.File != file || out.Lock.User != in.in.User || out.Lock.Token <= last {
		return nil
	}
	if (released == nil) != (out.Released == nil) {
		return nil
	}
	if released != nil {
		if _, ok := matches(*released, out.Released); !ok {
			return nil
		}
	}
	l.token = out.Lock.Token
	return result(append(slices.Clone(live), l), l.token)
}

// renew extends lock i (the user's own) and keeps its token.
func renew(live []held, last int64, in minput, out Output, i int, ttl time.Duration) []any {
	l := live[i]
	lo, hi := exp(in, out, ttl)
	if out.Unknown {
		// Extended or not: the expiry is somewhere from what it was to the new one.
		l.expHi = max(l.expHi, hi)
		return result(replaced(live, i, l), last)
	}
	if out.Code != "" || out.Lock == nil {
		return nil
	}
	if in.in.Kind != KHeartbeat && (!out.Renewed || out.Released != nil) {
		return nil
	}
	v := *out.Lock
	v.Exp = time.Time{} // the expiry is the new one, checked below
	l, ok := matches(l, &v)
	if !ok {
		return nil
	}
	l.expLo, l.expHi = lo, hi
	return result(replaced(live, i, l), last)
}

// apply runs the operation on the live locks and returns the states it
// can lead to given out (none: out is impossible).
func apply(live []held, last int64, in minput, out Output) []any {
	user := in.in.User
	mine := find(live, func(l held) bool { return l.user == user })
	switch in.in.Kind {
	case KLock:
		at := find(live, func(l held) bool { return l.file == in.in.File })
		switch {
		case at >= 0 && live[at].user == user:
			return renew(live, last, in, out, at, in.in.TTL)
		case at >= 0:
			return wantErr(live, last, out, filelock.EFileLocked, at)
		case mine >= 0 && !in.in.ReleasePrevious:
			return wantErr(live, last, out, filelock.EUserHasLock, mine)
		case mine >= 0:
			prev := live[mine]
			return acquire(without(live, mine), last, in, out, in.in.File, &prev)
		default:
			return acquire(live, last, in, out, in.in.File, nil)
		}
	case KClaim:
		for _, f := range in.in.Files {
			at := find(live, func(l held) bool { return l.file == f })
			switch {
			case at >= 0 && live[at].user == user:
				return renew(live, last, in, out, at, in.in.TTL)
			case at >= 0:
				continue
			case mine >= 0:
				prev := live[mine]
				return acquire(without(live, mine), last, in, out, f, &prev)
			default:
				return acquire(live, last, in, out, f, nil)
			}
		}
		return wantErr(live, last, out, filelock.ENoneFree, -1)
	case KHeartbeat:
		if mine < 0 {
			return wantErr(live, last, out, filelock.ENotLocked, -1)
		}
		if !out.Unknown && out.Lock != nil { // the expiry is the reply's
			return renew(live, last, in, out, mine, 0)
		}
		if out.Unknown {
			l := live[mine]
			l.expHi = never // extended by an unknown amount, at an unknown time
			return result(replaced(live, mine, l), last)
		}
		return nil
	case KUnlock:
		at := find(live, func(l held) bool { return l.file == in.in.File })
		if at < 0 {
			return wantErr(live, last, out, filelock.ENotLocked, -1)
		}
		l := live[at]
		other := l.user != user && !in.in.Force
		stale := in.in.Token != 0 && (l.token == 0 || in.in.Token != l.token)
		if out.Unknown {
			if other || (stale && l.token != 0) {
				return result(live, last)
			}
			return append(result(without(live, at), last), result(live, last)...)
		}
		switch {
		case other && stale: // either refusal may come first
			return append(wantErr(live, last, out, filelock.ENotOwner, at), wantErr(live, last, out, filelock.EStaleToken, at)...)
		case other:
			return wantErr(live, last, out, filelock.ENotOwner, at)
		case stale && l.token != 0:
			return wantErr(live, last, out, filelock.EStaleToken, at)
		}
		if out.Code == filelock.EStaleToken { // an unknown token that was not in.Token
			return wantErr(live, last, out, filelock.EStaleToken, at)
		}
		if out.Code != "" {
			return nil
		}
		if _, ok := matches(l, out.Lock); !ok {
			return nil
		}
		return result(without(live, at), last)
	case KCheck:
		at := find(live, func(l held) bool { return l.file == in.in.File })
		if at < 0 {
			return wantErr(live, last, out, filelock.ENotLocked, -1)
		}
		l := live[at]
		if out.Unknown {
			return result(live, last)
		}
		var next []any
		if in.in.User != "" && in.in.User != l.user {
			next = append(next, wantErr(live, last, out, filelock.ENotOwner, at)...)
		}
		if in.in.Token != 0 {
			if b, ok := matches(l, out.Lock); ok && b.token != in.in.Token {
				next = append(next, wantErr(live, last, out, filelock.EStaleToken, at)...)
			}
		}
		if out.Code == "" && (in.in.User == "" || in.in.User == l.user) {
			if b, ok := matches(l, out.Lock); ok && (in.in.Token == 0 || b.token == in.in.Token) {
				next = append(next, result(replaced(live, at, b), last)...)
			}
		}
		return next
	}
	return nil
}
