// Package check records what many concurrent clients of filelock did and
// saw, and checks that history against a model of the SPEC, trusting
// nothing of the code under test:
//
//   - the lock operations (lock, claim, unlock, heartbeat, the fencing
//     check, status) are linearizable (porcupine, one model per project:
//     holders, the user index, the last token; expiry judged by the
//     store's clock, which is this machine's);
//   - tokens never go down: an acquisition's token is above every token any
//     client was shown before it was asked for (SPEC I3), across restarts
//     and lost writes;
//   - each subscriber's stream is the store's log: event ids only grow, one
//     id is one event, no event is skipped unless a snapshot follows (or
//     the store lost it), and snapshot + events reproduce /status (I6);
//   - every acquisition and release has its one event, every lock is
//     released exactly once, an expired one never before its expires_at
//     and within the bound after it (I4, I7).
//
// The workload and the faults that make the history live in run.go and
// the tests.
package check

import (
	"sort"
	"sync"
	"time"

	"filelock"
)

// Kind is the kind of a recorded operation.
type Kind string

// Operations the clients make.
const (
	KLock      Kind = "lock"
	KClaim     Kind = "claim"
	KUnlock    Kind = "unlock"
	KHeartbeat Kind = "heartbeat"
	KCheck     Kind = "check"
	KStatus    Kind = "status"
	// KResync is the status read right after a fault that may lose writes:
	// it starts a new epoch of the project's model from what it lists.
	KResync Kind = "resync"
)

// Input is what a client asked.
type Input struct {
	Kind            Kind
	Project         string
	File            string   // lock, unlock, check
	Files           []string // claim
	User            string
	TTL             time.Duration // the lock's lifetime as the server clamps it (lock, claim)
	ReleasePrevious bool
	Force           bool
	Token           int64 // unlock, check: 0 = none
}

// View is a lock as a reply showed it.
type View struct {
	File  string
	User  string
	Token int64
	Exp   time.Time
}

func view(l *filelock.Lock) *View {
	if l == nil {
		return nil
	}
	return &View{File: l.File, User: l.User, Token: l.Token, Exp: l.ExpiresAt}
}

// Output is what a client was answered.
type Output struct {
	// Unknown: no answer (a transport error, a timeout, store_unavailable,
	// an internal error): the operation may or may not have taken effect.
	Unknown  bool
	Code     string // error code; "" for success
	Lock     *View  // the reply's lock, or the error's lock
	Released *View  // lock, claim: the lock given up
	Renewed  bool
	Locks    []View // status
	LastID   uint64 // status: last_event_id
	Err      string // what went wrong, for reports
	// Refused: the connection was refused, the request reached no server
	// (not recorded).
	Refused bool
}

// Op is one recorded operation.
type Op struct {
	Client int
	Input  Input
	Output Output
	Call   time.Time
	Return time.Time
}

// Received is one event a subscriber got, with when it got it.
type Received struct {
	At    time.Time
	Event filelock.Event
}

// Fault is one injected fault and when it was in effect.
type Fault struct {
	Name  string
	Start time.Time
	End   time.Time
	// Loss: the store may have lost writes (a restart, a failover): the
	// models of every project start a new epoch from a resync.
	Loss bool
}

// History is what the clients did and saw. Its methods are safe for
// concurrent use.
type History struct {
	mu     sync.Mutex
	ops    []Op
	subs   map[int]*sub
	faults []Fault
}

type sub struct {
	project string
	events  []Received
}

// NewHistory returns an empty history.
func NewHistory() *History { return &History{subs: map[int]*sub{}} }

// Add records an operation.
func (h *History) Add(op Op) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// Subscriber registers subscriber id of project and returns the function
// that records what it receives.
func (h *History) Subscriber(id int, project string) func(filelock.Event) {
	h.mu.Lock()
	s := &sub{project: project}
	h.subs[id] = s
	h.mu.Unlock()
	return func(ev filelock.Event) {
		at := time.Now()
		h.mu.Lock()
		s.events = append(s.events, Received{At: at, Event: ev})
		h.mu.Unlock()
	}
}

// AddFault records a fault.
func (h *History) AddFault(f Fault) {
	h.mu.Lock()
	h.faults = append(h.faults, f)
	h.mu.Unlock()
}

// LastSeq returns the id of the last event subscriber id received.
func (h *History) LastSeq(id int) (uint64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.subs[id]
	if s == nil || len(s.events) == 0 {
		return 0, false
	}
	return s.events[len(s.events)-1].Event.Seq, true
}

// snapshot returns copies of the history's parts, ops sorted by call.
func (h *History) snapshot() ([]Op, map[int]*sub, []Fault) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ops := append([]Op(nil), h.ops...)
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Call.Before(ops[j].Call) })
	subs := map[int]*sub{}
	for id, s := range h.subs {
		subs[id] = &sub{project: s.project, events: append([]Received(nil), s.events...)}
	}
	faults := append([]Fault(nil), h.faults...)
	sort.Slice(faults, func(i, j int) bool { return faults[i].Start.Before(faults[j].Start) })
	return ops, subs, faults
}

// Counts are the sizes of a history.
type Counts struct {
	Ops, Unknown, Events, Faults int
}

// Counts returns how many operations (and of them with unknown outcome),
// received events and faults the history holds.
func (h *History) Counts() Counts {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := Counts{Ops: len(h.ops), Faults: len(h.faults)}
	for _, op := range h.ops {
		if op.Output.Unknown {
			c.Unknown++
		}
	}
	for _, s := range h.subs {
		c.Events += len(s.events)
	}
	return c
}
