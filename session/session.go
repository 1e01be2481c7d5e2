package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"filelock"
	"filelock/events"
)

// Backend runs, as one connection's identity, what its session needs from
// the server: authorization, presence (SPEC §1 I5), subscriptions and the
// commands of SPEC §3. Errors are shown to the client as they are.
type Backend interface {
	// Decode decodes a message's data into dst (invalid_request naming the
	// field otherwise).
	Decode(data []byte, dst any) error
	// JoinUser authorizes a join of projectID as the user named and returns
	// the user the join acts as.
	JoinUser(projectID, named string) (string, error)
	// CountUser counts the connection as user's in the connection limits;
	// it is called once, on the first join; release undoes it.
	CountUser(user string) (release func(), err error)
	// Connect records the connection of user as live in the project;
	// Disconnect removes it.
	Connect(ctx context.Context, projectID, user, connID string) error
	Disconnect(projectID, connID string)
	// Subscribe subscribes to the project's events from afterID ("": a
	// snapshot first).
	Subscribe(ctx context.Context, projectID, afterID string) (*events.Subscription, error)
	// Heartbeat extends user's lock in the project; counted says whether it
	// takes one request of the user's rate.
	Heartbeat(ctx context.Context, projectID, user string, counted bool) (reply any, lock filelock.Lock, err error)
	// HeartbeatInterval is how often the holder of l should heartbeat, in
	// seconds (SPEC §3 heartbeat_interval_seconds; l zero: no lock).
	HeartbeatInterval(l filelock.Lock) float64
	// Command runs the message name (lock, claim, unlock, ...) for user (the
	// connection's, "" before its first join) and returns the REST 200 body.
	Command(ctx context.Context, name, user string, data []byte) (any, error)
}

// Message names handled by the session itself; every other goes to
// Backend.Command.
const (
	MsgJoin      = "join_project"
	MsgLeave     = "leave_project"
	MsgHeartbeat = "heartbeat"
)

// Options are a session's own settings.
type Options struct {
	// Keepalive is how often Transport.Keepalive is called (0: never).
	Keepalive time.Duration
	// KeepaliveWhenBusy: keepalives go on while frames are written (a
	// WebSocket's pings, which the client must answer); otherwise any write
	// counts as one (SSE comments).
	KeepaliveWhenBusy bool
	// Expires ends the session with TokenExpired at that time (zero: never).
	Expires time.Time
	// OnEnd runs once the session has wound down, with the reason it
	// closed for (e.g. a connection limit's release, metrics).
	OnEnd func(Reason)
}

// Session is one live connection. Its methods are safe for concurrent use;
// messages run one at a time.
type Session struct {
	m      *Manager
	t      Transport
	be     Backend
	opts   Options
	connID string

	op sync.Mutex // one message at a time; held by the wind-down

	mu       sync.Mutex
	user     string
	joins    []*join // few (limits.max_projects_per_connection): a slice costs least
	userConn func()  // Backend.CountUser's release
	closed   bool
	reason   Reason // why it closed
	expiry   *time.Timer

	lastKeep atomic.Int64 // unix nanos of the last keepalive or counted write
	keeping  atomic.Bool  // a keepalive is being written
	done     chan struct{}
}

// findLocked is the index of the project's join, -1 if none.
func (ss *Session) findLocked(projectID string) int {
	return slices.IndexFunc(ss.joins, func(j *join) bool { return j.sub.ProjectID == projectID })
}

// join is one joined project. It has no goroutine while idle: the hub's
// notice starts a drain, which writes what is queued and returns.
type join struct {
	sub     *events.Subscription
	state   atomic.Int32  // drainIdle, drainRunning, drainAgain, drainDone
	started atomic.Bool   // its live events were started (Join's start)
	done    chan struct{} // closed by the drain that saw the subscription end
}

const (
	drainIdle    = iota
	drainRunning // a drain is writing
	drainAgain   // a drain is writing and more was queued since it took
	drainDone    // the subscription has ended and its last frames are written
)

// ID is the connection's id in presence.
func (ss *Session) ID() string { return ss.connID }

// Done is closed once the session has wound down.
func (ss *Session) Done() <-chan struct{} { return ss.done }

func newConnID(transport string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return transport + "-" + hex.EncodeToString(b[:])
}

// Handle runs one message; ctx carries what its backend calls log with
// (each store call is bounded by the backend). It returns the reply object
// ({"ok":true,...}) or the error to show; then, when not nil, must run once
// the reply has been written: it writes the join's first frames and starts
// its events.
func (ss *Session) Handle(ctx context.Context, name string, data []byte) (reply json.RawMessage, then func(), err error) {
	ss.op.Lock()
	defer ss.op.Unlock()
	if ss.isClosed() {
		return nil, nil, filelock.Errorf(filelock.EInvalid, "connection closed")
	}
	switch name {
	case MsgJoin:
		return ss.joinMessage(ctx, data)
	case MsgLeave:
		reply, err = ss.leaveMessage(data)
	case MsgHeartbeat:
		reply, err = ss.heartbeatMessage(ctx, data)
	default:
		var r any
		if r, err = ss.be.Command(ctx, name, ss.User(), data); err == nil {
			reply = OK(r)
		}
	}
	return reply, nil, err
}

func (ss *Session) isClosed() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.closed
}

// User is the connection's user: set by its first join, "" before.
func (ss *Session) User() string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.user
}

// ActAs is the user a message naming named acts as on a connection of
// user: the connection's, which a message naming another may not change.
func ActAs(named, user string) (string, error) {
	switch {
	case named == "":
		return user, nil
	case user != "" && named != user:
		return "", &filelock.Error{Code: filelock.EUserMismatch, Field: "user_id",
			Message: "this connection is already used by another user"}
	}
	return named, nil
}

type joinParams struct {
	ProjectID   string `json:"project_id"`
	UserID      string `json:"user_id"`
	LastEventID string `json:"last_event_id"`
}

// resumedReply answers a join resumed from a last_event_id still in the
// history: the replayed events follow it, with no snapshot.
type resumedReply struct {
	ProjectID string `json:"project_id"`
	Resumed   bool   `json:"resumed"`
}

func (ss *Session) joinMessage(ctx context.Context, data []byte) (json.RawMessage, func(), error) {
	var p joinParams
	if err := ss.be.Decode(data, &p); err != nil {
		return nil, nil, err
	}
	if err := filelock.ValidateProjectID(p.ProjectID); err != nil {
		return nil, nil, err
	}
	named, err := ActAs(p.UserID, ss.User())
	if err != nil {
		return nil, nil, err
	}
	user, err := ss.be.JoinUser(p.ProjectID, named)
	if err != nil {
		return nil, nil, err
	}
	if user, err = ActAs(user, ss.User()); err != nil {
		return nil, nil, err
	}
	if err := ss.admit(p.ProjectID); err != nil {
		return nil, nil, err
	}
	ss.mu.Lock()
	counted := ss.userConn != nil
	ss.mu.Unlock()
	if !counted {
		release, err := ss.be.CountUser(user)
		if err != nil {
			return nil, nil, err
		}
		ss.mu.Lock()
		ss.userConn = release
		ss.mu.Unlock()
	}
	initial, start, err := ss.Join(ctx, p.ProjectID, user, p.LastEventID)
	if err != nil {
		return nil, nil, err
	}
	then := func() {
		if len(initial) == 0 || ss.write(initial) {
			start()
		}
	}
	if len(initial) > 0 && initial[0].Event.Type == filelock.EventSnapshot {
		return OK(initial[0].Event), then, nil
	}
	return OK(resumedReply{ProjectID: p.ProjectID, Resumed: true}), then, nil
}

// admit refuses a join of one more project than the manager's
// MaxProjects; a project already joined may be joined again.
func (ss *Session) admit(projectID string) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.findLocked(projectID) >= 0 || ss.m.cfg.MaxProjects <= 0 || len(ss.joins) < ss.m.cfg.MaxProjects {
		return nil
	}
	return filelock.Errorf(filelock.ERateLimited,
		"this connection has joined %d projects, the most limits.max_projects_per_connection allows", len(ss.joins))
}

// Join subscribes the session to the project's events as user ("": the
// connection counts for no user in presence) from afterID, replacing an
// earlier join of it; ctx bounds nothing past the backend's own bounds (it
// carries what the calls log with). It returns the first frames (a
// snapshot, or the events after afterID when the history still holds it)
// and start, which the caller runs after writing them: the live events
// then follow.
func (ss *Session) Join(ctx context.Context, projectID, user, afterID string) (initial []*Frame, start func(), err error) {
	ss.stopJoin(projectID) // a second join starts over
	if user != "" {
		if err := ss.be.Connect(ctx, projectID, user, ss.connID); err != nil {
			return nil, nil, err
		}
	}
	sub, err := ss.be.Subscribe(ctx, projectID, afterID)
	if err != nil {
		if user != "" {
			ss.be.Disconnect(projectID, ss.connID)
		}
		if errors.Is(err, events.ErrClosed) {
			err = ErrShuttingDown
		}
		return nil, nil, err
	}
	j := &join{sub: sub, done: make(chan struct{})}
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		sub.Close()
		if user != "" {
			ss.be.Disconnect(projectID, ss.connID)
		}
		return nil, nil, ErrShuttingDown
	}
	if user != "" {
		ss.user = user
	}
	ss.joins = append(ss.joins, j)
	ss.mu.Unlock()
	initial, sub.Initial = sub.Initial, nil // not kept for the subscription's life
	return initial, func() {
		j.started.Store(true)
		sub.Notify(func() { ss.wake(j) })
	}, nil
}

// wake starts a drain of the join unless one is running, which then goes
// round once more.
func (ss *Session) wake(j *join) {
	for {
		switch st := j.state.Load(); st {
		case drainIdle:
			if j.state.CompareAndSwap(drainIdle, drainRunning) {
				ss.m.work.Run(func() { ss.drain(j) })
				return
			}
		case drainRunning:
			if j.state.CompareAndSwap(drainRunning, drainAgain) {
				return
			}
		default:
			return
		}
	}
}

// drain writes a joined project's queued events until none is left; a
// subscription the hub dropped ends the session (the client resumes from
// its last event id), after the frames still queued.
func (ss *Session) drain(j *join) {
	var frames []*Frame
	for {
		var err error
		frames, err = j.sub.Take(frames[:0])
		if len(frames) > 0 && !ss.write(frames) {
			err = events.ErrClosed // the session is closing: the subscription ends with it
		}
		if err != nil {
			j.state.Store(drainDone)
			close(j.done)
			switch err := j.sub.Err(); {
			case err == nil: // closed by the session
			case errors.Is(err, events.ErrLagging):
				ss.Close(Lagging)
			case errors.Is(err, events.ErrResync):
				ss.Close(Resync)
			default:
				ss.Close(Shutdown)
			}
			return
		}
		clear(frames)
		if j.state.CompareAndSwap(drainRunning, drainIdle) {
			return
		}
		j.state.Store(drainRunning) // drainAgain: go round once more
	}
}

// write writes frames; a failure ends the session. It reports success.
func (ss *Session) write(frames []*Frame) bool {
	if err := ss.t.Write(frames); err != nil {
		ss.Close(WriteFailed)
		return false
	}
	if !ss.opts.KeepaliveWhenBusy {
		ss.lastKeep.Store(time.Now().UnixNano())
	}
	return true
}

// keepalive writes a keepalive if one is due at now: at once from the
// manager's timer when the transport can, else from a goroutine of its own
// (at most one at a time per session).
func (ss *Session) keepalive(now int64) {
	if ss.opts.Keepalive <= 0 || now-ss.lastKeep.Load() < int64(ss.opts.Keepalive) || ss.keeping.Load() {
		return
	}
	ss.lastKeep.Store(now)
	switch err := ss.t.Keepalive(false); {
	case err == nil:
	case errors.Is(err, ErrWouldBlock):
		if ss.keeping.CompareAndSwap(false, true) {
			go func() {
				defer ss.keeping.Store(false)
				if err := ss.t.Keepalive(true); err != nil {
					ss.Close(WriteFailed)
				}
			}()
		}
	default:
		go ss.Close(WriteFailed)
	}
}

// stopJoin ends the subscription of a joined project and waits for its
// last drain; it reports whether the project was joined.
func (ss *Session) stopJoin(projectID string) bool {
	ss.mu.Lock()
	var j *join
	if i := ss.findLocked(projectID); i >= 0 {
		j = ss.joins[i]
		ss.joins = slices.Delete(ss.joins, i, i+1)
	}
	ss.mu.Unlock()
	if j == nil {
		return false
	}
	j.sub.Close()
	if j.started.Load() {
		<-j.done
	}
	return true
}

// Leave ends the session's join of the project; it counts as a closed
// connection for presence (SPEC §1 I5).
func (ss *Session) Leave(projectID string) {
	if ss.stopJoin(projectID) {
		ss.be.Disconnect(projectID, ss.connID)
	}
}

func (ss *Session) leaveMessage(data []byte) (json.RawMessage, error) {
	var p struct {
		ProjectID string `json:"project_id"`
	}
	if err := ss.be.Decode(data, &p); err != nil {
		return nil, err
	}
	if err := filelock.ValidateProjectID(p.ProjectID); err != nil {
		return nil, err
	}
	ss.Leave(p.ProjectID)
	return OK(struct {
		ProjectID string `json:"project_id"`
	}{p.ProjectID}), nil
}

// heartbeatMessage extends the user's lock in the project named, or in
// every joined project; without a project it answers the locks it
// extended and the shortest of their heartbeat intervals (the default one
// when none).
func (ss *Session) heartbeatMessage(ctx context.Context, data []byte) (json.RawMessage, error) {
	var p struct {
		ProjectID string `json:"project_id"`
		UserID    string `json:"user_id"`
	}
	if err := ss.be.Decode(data, &p); err != nil {
		return nil, err
	}
	user, err := ActAs(p.UserID, ss.User())
	if err != nil {
		return nil, err
	}
	if p.ProjectID != "" {
		r, _, err := ss.be.Heartbeat(ctx, p.ProjectID, user, true)
		if err != nil {
			return nil, err
		}
		return OK(r), nil
	}
	locks := []filelock.Lock{}
	interval := ss.be.HeartbeatInterval(filelock.Lock{})
	for i, id := range ss.projects() { // one message, one request of the user's rate
		_, l, err := ss.be.Heartbeat(ctx, id, user, i == 0)
		switch {
		case err == nil:
			locks = append(locks, l)
			interval = min(interval, ss.be.HeartbeatInterval(l))
		case filelock.ErrorCode(err) != filelock.ENotLocked:
			return nil, err
		}
	}
	return OK(struct {
		Locks    []filelock.Lock `json:"locks"`
		Interval float64         `json:"heartbeat_interval_seconds"`
	}{locks, interval}), nil
}

// projects are the joined projects, sorted.
func (ss *Session) projects() []string {
	ss.mu.Lock()
	ids := make([]string, 0, len(ss.joins))
	for _, j := range ss.joins {
		ids = append(ids, j.sub.ProjectID)
	}
	ss.mu.Unlock()
	slices.Sort(ids)
	return ids
}

// Close ends the session for reason: the transport closes the connection
// (telling the client why where it can), then, on a goroutine of its own,
// every join is left (SPEC §1 I5), the connection limits are released and
// Done closes. Only the first call counts.
func (ss *Session) Close(r Reason) {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return
	}
	ss.closed, ss.reason = true, r
	if ss.expiry != nil {
		ss.expiry.Stop()
	}
	ss.mu.Unlock()
	ss.t.Close(r)
	go ss.windDown()
}

func (ss *Session) windDown() {
	ss.op.Lock() // let a message in progress finish
	defer ss.op.Unlock()
	for _, id := range ss.projects() {
		ss.Leave(id)
	}
	ss.mu.Lock()
	release := ss.userConn
	ss.mu.Unlock()
	if release != nil {
		release()
	}
	if ss.opts.OnEnd != nil {
		ss.mu.Lock()
		r := ss.reason
		ss.mu.Unlock()
		ss.opts.OnEnd(r)
	}
	ss.m.remove(ss)
	close(ss.done)
}

// Appender is a reply that appends its own JSON object to b: byte for
// byte what encoding/json writes for it.
type Appender interface{ AppendJSON(b []byte) []byte }

// OK is v's JSON object with "ok": true in front: a successful reply. An
// Appender appends its own.
func OK(v any) json.RawMessage {
	if a, ok := v.(Appender); ok {
		const head = `{"ok":true`
		b := a.AppendJSON(append(make([]byte, 0, 320), head...))
		switch {
		case len(b) < len(head)+2 || b[len(head)] != '{':
			return json.RawMessage(`{"ok":true}`)
		case b[len(head)+1] == '}':
			return append(b[:len(head)], '}')
		}
		b[len(head)] = ','
		return b
	}
	b, err := json.Marshal(v)
	if err != nil || len(b) < 2 || b[0] != '{' || string(b) == "{}" {
		return json.RawMessage(`{"ok":true}`)
	}
	return append([]byte(`{"ok":true,`), b[1:]...)
}
