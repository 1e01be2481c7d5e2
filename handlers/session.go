package handlers

import (
	"context"
	"encoding/json"
	"errors"

	"filelock"
	"filelock/auth"
	"filelock/events"
	"filelock/session"
)

// Client → server message names of WebSocket and Socket.IO (SPEC §5)
// besides the session's own (join_project, leave_project, heartbeat), and
// the server → client names of replies and errors.
const (
	msgHeartbeat = session.MsgHeartbeat
	msgLock      = "lock"
	msgClaim     = "claim"
	msgUnlock    = "unlock"
	msgReply     = "reply"
	msgError     = "error"
)

// messages are every client message name, for transports that register
// each (Socket.IO).
var messages = []string{session.MsgJoin, session.MsgLeave, session.MsgHeartbeat, msgLock, msgClaim, msgUnlock}

// backend is session.Backend for one connection: the server's commands,
// presence and hub, as the connection's identity; its subscriptions read
// events in the connection's wire format.
type backend struct {
	s      *Server
	who    auth.Identity
	format *events.Format
}

func (s *Server) backend(who auth.Identity, format *events.Format) backend {
	return backend{s: s, who: who, format: format}
}

func (b backend) Decode(data []byte, dst any) error { return DecodeParams(data, dst) }

func (b backend) JoinUser(projectID, named string) (string, error) {
	return b.s.streamUser(b.who, projectID, named, true)
}

// CountUser counts the connection by its user in auth.mode none; in jwt
// mode it was counted by its token's sub when it opened.
func (b backend) CountUser(user string) (func(), error) {
	if !b.who.Anonymous {
		return func() {}, nil
	}
	return b.s.conns.AcquireUser(user)
}

func (b backend) Connect(ctx context.Context, projectID, user, connID string) error {
	return b.s.rt.presence.connect(ctx, projectID, user, connID)
}

func (b backend) Disconnect(projectID, connID string) { b.s.rt.presence.disconnect(projectID, connID) }

// Subscribe maps what the hub returns as storeCall maps a store's errors:
// anything but a *filelock.Error (or the hub's ErrClosed, which the
// session shows as shutting down) means the store did not answer properly.
func (b backend) Subscribe(ctx context.Context, projectID, afterID string) (*events.Subscription, error) {
	sub, err := b.s.rt.hub.Subscribe(ctx, projectID, afterID, b.format)
	var fe *filelock.Error
	if err != nil && !errors.As(err, &fe) && !errors.Is(err, events.ErrClosed) {
		b.s.log.Warn("store error", "err", err)
		err = errUnavailable(err.Error())
	}
	return sub, err
}

func (b backend) Heartbeat(ctx context.Context, projectID, user string, counted bool) (any, filelock.Lock, error) {
	r, err := b.s.heartbeat(ctx, b.who, HeartbeatParams{ProjectID: projectID, UserID: user}, counted)
	return r, r.Lock, err
}

func (b backend) HeartbeatInterval(l filelock.Lock) float64 { return b.s.heartbeatInterval(l) }

// Command runs lock, claim and unlock as REST does, as the connection's
// user (a message naming another is user_mismatch).
func (b backend) Command(ctx context.Context, name, user string, data []byte) (any, error) {
	var err error
	switch name {
	case msgLock:
		var p LockParams
		if err = DecodeParams(data, &p); err == nil {
			if p.UserID, err = session.ActAs(p.UserID, user); err == nil {
				r, err := b.s.cmdLock(ctx, b.who, p)
				return r, err
			}
		}
	case msgClaim:
		var p ClaimParams
		if err = DecodeParams(data, &p); err == nil {
			if p.UserID, err = session.ActAs(p.UserID, user); err == nil {
				r, err := b.s.cmdClaim(ctx, b.who, p)
				return r, err
			}
		}
	case msgUnlock:
		var p UnlockParams
		if err = DecodeParams(data, &p); err == nil {
			if p.UserID, err = session.ActAs(p.UserID, user); err == nil {
				r, err := b.s.cmdUnlock(ctx, b.who, p)
				return r, err
			}
		}
	default:
		err = filelock.FieldError("event", "unknown event %q (join_project, leave_project, heartbeat, lock, claim, unlock)", name)
	}
	return nil, err
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
