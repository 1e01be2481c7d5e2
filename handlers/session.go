package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"

	"filelock"
	"filelock/auth"
	"filelock/events"
)

// Client → server message names of WebSocket and Socket.IO (SPEC §5).
const (
	msgJoin      = "join_project"
	msgLeave     = "leave_project"
	msgHeartbeat = "heartbeat"
	msgLock      = "lock"
	msgUnlock    = "unlock"
	msgReply     = "reply"
	msgError     = "error"
)

// session is one WebSocket or Socket.IO connection as the commands see it:
// one user (set by the first join), the projects it joined, each with its
// subscription and a forwarder that hands the project's events to the
// transport. Messages are handled one at a time.
type session struct {
	s       *Server
	who     auth.Identity
	connID  string
	deliver func(filelock.Event) bool       // queue an event; false: the client is too far behind
	kill    func()                          // cut the connection off
	rooms   func(projectID string, in bool) // Socket.IO: enter or leave the project's room

	op    sync.Mutex // one message at a time
	mu    sync.Mutex
	user  string
	joins map[string]*joined
	ended bool

	userConn func() // auth.mode none: the connection counted as its user's (limits), from the first join
}

type joined struct {
	sub  *events.Subscription
	done chan struct{} // the forwarder has returned
}

func newSession(s *Server, who auth.Identity, transport string, deliver func(filelock.Event) bool, kill func()) *session {
	return &session{s: s, who: who, connID: newConnID(transport), deliver: s.metrics.delivering(transport, deliver), kill: kill, joins: map[string]*joined{}}
}

// handle runs one message. It returns the reply's data object (with "ok"),
// or the error to show; then, when not nil, must run once the reply has
// been queued: it queues the join's snapshot and starts its events.
func (ss *session) handle(ctx context.Context, name string, data []byte) (reply json.RawMessage, then func(), err error) {
	ss.op.Lock()
	defer ss.op.Unlock()
	if ss.isEnded() {
		return nil, nil, filelock.Errorf(filelock.EInvalid, "connection closed")
	}
	switch name {
	case msgJoin:
		return ss.join(ctx, data)
	case msgLeave:
		reply, err = ss.leave(data)
	case msgHeartbeat:
		reply, err = ss.heartbeat(ctx, data)
	case msgLock:
		var p LockParams
		if err = DecodeParams(data, &p); err == nil {
			if p.UserID, err = ss.userFor(p.UserID); err == nil {
				var r LockReply
				if r, err = ss.s.cmdLock(ctx, ss.who, p); err == nil {
					reply = okJSON(r)
				}
			}
		}
	case msgUnlock:
		var p UnlockParams
		if err = DecodeParams(data, &p); err == nil {
			if p.UserID, err = ss.userFor(p.UserID); err == nil {
				var r UnlockReply
				if r, err = ss.s.cmdUnlock(ctx, ss.who, p); err == nil {
					reply = okJSON(r)
				}
			}
		}
	default:
		err = filelock.FieldError("event", "unknown event %q (join_project, leave_project, heartbeat, lock, unlock)", name)
	}
	return reply, nil, err
}

func (ss *session) isEnded() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.ended
}

// userFor is the user a message acts for: the connection's, which a
// message naming another user may not change.
func (ss *session) userFor(named string) (string, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	switch {
	case named == "":
		return ss.user, nil
	case ss.user != "" && named != ss.user:
		return "", &filelock.Error{Code: filelock.EUserMismatch, Field: "user_id",
			Message: "this connection is already used by another user"}
	}
	return named, nil
}

type joinParams struct {
	ProjectID string `json:"project_id"`
	UserID    string `json:"user_id"`
}

func (ss *session) join(ctx context.Context, data []byte) (json.RawMessage, func(), error) {
	var p joinParams
	if err := DecodeParams(data, &p); err != nil {
		return nil, nil, err
	}
	if err := filelock.ValidateProjectID(p.ProjectID); err != nil {
		return nil, nil, err
	}
	named, err := ss.userFor(p.UserID)
	if err != nil {
		return nil, nil, err
	}
	user, err := ss.s.streamUser(ss.who, p.ProjectID, named, true)
	if err != nil {
		return nil, nil, err
	}
	if user, err = ss.userFor(user); err != nil {
		return nil, nil, err
	}
	if ss.who.Anonymous && ss.userConn == nil { // jwt: counted by its sub at the handshake
		release, err := ss.s.conns.AcquireUser(user)
		if err != nil {
			return nil, nil, err
		}
		ss.userConn = release
	}
	ss.stopJoin(p.ProjectID) // a second join starts over with a fresh snapshot
	if err := ss.s.rt.presence.connect(ctx, p.ProjectID, user, ss.connID); err != nil {
		return nil, nil, err
	}
	sub, err := ss.s.rt.hub.Subscribe(ctx, p.ProjectID, "")
	if err != nil {
		ss.s.rt.presence.disconnect(p.ProjectID, ss.connID)
		return nil, nil, hubError(err)
	}
	j := &joined{sub: sub, done: make(chan struct{})}
	ss.mu.Lock()
	ss.user = user
	ss.joins[p.ProjectID] = j
	ss.mu.Unlock()
	if ss.rooms != nil {
		ss.rooms(p.ProjectID, true)
	}
	then := func() {
		for _, ev := range sub.Initial {
			if !ss.deliver(ev) {
				ss.kill()
				break
			}
		}
		go ss.forward(j)
	}
	return okJSON(sub.Initial[0]), then, nil
}

// forward hands a joined project's live events to the transport until the
// subscription ends; a subscription dropped by the hub (lagging, history
// gone, shutdown) cuts the connection off, and the client resumes.
func (ss *session) forward(j *joined) {
	defer close(j.done)
	for ev := range j.sub.C {
		if !ss.deliver(ev) {
			ss.kill()
			return
		}
	}
	if j.sub.Err() != nil {
		ss.s.metrics.dropped(j.sub.Err())
		ss.kill()
	}
}

// stopJoin ends the subscription of a joined project and waits for its
// forwarder; it reports whether the project was joined.
func (ss *session) stopJoin(projectID string) bool {
	ss.mu.Lock()
	j := ss.joins[projectID]
	delete(ss.joins, projectID)
	ss.mu.Unlock()
	if j == nil {
		return false
	}
	j.sub.Close()
	<-j.done
	if ss.rooms != nil {
		ss.rooms(projectID, false)
	}
	return true
}

func (ss *session) leave(data []byte) (json.RawMessage, error) {
	var p struct {
		ProjectID string `json:"project_id"`
	}
	if err := DecodeParams(data, &p); err != nil {
		return nil, err
	}
	if err := filelock.ValidateProjectID(p.ProjectID); err != nil {
		return nil, err
	}
	if ss.stopJoin(p.ProjectID) {
		ss.s.rt.presence.disconnect(p.ProjectID, ss.connID)
	}
	return okJSON(struct {
		ProjectID string `json:"project_id"`
	}{p.ProjectID}), nil
}

// heartbeat extends the user's lock in the project named, or in every
// joined project; without a project it answers the locks it extended.
func (ss *session) heartbeat(ctx context.Context, data []byte) (json.RawMessage, error) {
	var p HeartbeatParams
	if err := DecodeParams(data, &p); err != nil {
		return nil, err
	}
	user, err := ss.userFor(p.UserID)
	if err != nil {
		return nil, err
	}
	if p.ProjectID != "" {
		r, err := ss.s.cmdHeartbeat(ctx, ss.who, HeartbeatParams{ProjectID: p.ProjectID, UserID: user})
		if err != nil {
			return nil, err
		}
		return okJSON(r), nil
	}
	ss.mu.Lock()
	projects := make([]string, 0, len(ss.joins))
	for id := range ss.joins {
		projects = append(projects, id)
	}
	ss.mu.Unlock()
	slices.Sort(projects)
	locks := []filelock.Lock{}
	for i, id := range projects { // one message, one request of the user's rate
		r, err := ss.s.heartbeat(ctx, ss.who, HeartbeatParams{ProjectID: id, UserID: user}, i == 0)
		switch {
		case err == nil:
			locks = append(locks, r.Lock)
		case filelock.ErrorCode(err) != filelock.ENotLocked:
			return nil, err
		}
	}
	return okJSON(struct {
		Locks []filelock.Lock `json:"locks"`
	}{locks}), nil
}

// close ends the session: every joined project is left (SPEC §1 I5).
func (ss *session) close() {
	ss.mu.Lock()
	if ss.ended {
		ss.mu.Unlock()
		return
	}
	ss.ended = true
	ss.mu.Unlock()
	ss.op.Lock() // let a message in progress finish
	defer ss.op.Unlock()
	ss.mu.Lock()
	projects := make([]string, 0, len(ss.joins))
	for id := range ss.joins {
		projects = append(projects, id)
	}
	ss.mu.Unlock()
	for _, id := range projects {
		ss.stopJoin(id)
		ss.s.rt.presence.disconnect(id, ss.connID)
	}
	if ss.userConn != nil {
		ss.userConn()
	}
}

// okJSON is v's JSON object with "ok": true in front.
func okJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil || len(b) < 2 || b[0] != '{' {
		return json.RawMessage(`{"ok":true}`)
	}
	if string(b) == "{}" {
		return json.RawMessage(`{"ok":true}`)
	}
	return append([]byte(`{"ok":true,`), b[1:]...)
}

// errorJSON is a failed reply's data: the REST error body with "ok": false.
func (s *Server) errorJSON(err error) json.RawMessage {
	_, body := s.ErrorReply(err)
	b, _ := json.Marshal(body)
	return append([]byte(`{"ok":false,`), b[1:]...)
}

// errorEventJSON is the data of an error event (a message without ref).
func (s *Server) errorEventJSON(err error) json.RawMessage {
	_, body := s.ErrorReply(err)
	b, _ := json.Marshal(body.Error)
	return b
}

// hubError maps the hub's own errors to what a client is shown.
func hubError(err error) error {
	if errors.Is(err, events.ErrClosed) {
		return filelock.Errorf(filelock.EUnavailable, "server shutting down")
	}
	return err
}
