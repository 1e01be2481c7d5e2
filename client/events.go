package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"filelock"
)

// maxReconnectDelay caps the back-off between reconnection attempts.
const maxReconnectDelay = 15 * time.Second

// StreamOptions configure an event stream.
type StreamOptions struct {
	// UserID names the user the stream belongs to: it counts for presence
	// and keeps the user's lock from a disconnect release (SPEC I5). Empty:
	// an anonymous observer, as a backend usually is.
	UserID string
	// LastEventID resumes after this event id (e.g. a Status's
	// LastEventID); empty starts with a snapshot.
	LastEventID string
	// Connected, when set, is called (on the stream's goroutine) each time a
	// connection is established, with the id it resumed from ("" for none).
	Connected func(resumedFrom string)
}

// Stream is a live event stream of one project (GET /events/{project_id}).
//
// Events arrive on C in the order the store applied them, each once. When
// the connection breaks (the network, the server restarting, the server
// dropping a subscriber that fell behind), the stream reconnects, to
// whichever server the base URL reaches, and resumes after the last event
// it delivered (Last-Event-ID). If the server no longer has that event (it
// left the history window, or the store lost it), the server sends a fresh
// snapshot instead: so a snapshot can arrive on C at any time, not only
// first, and it means events may have been missed. A consumer treats every
// snapshot the same way: it replaces all it knew of the project's locks and
// users by the snapshot's Locks and Users, and applies later events on top.
//
// C is closed when the context ends, Close is called, or the server refuses
// the stream for good (invalid_request, unauthorized, forbidden,
// user_mismatch, not_found); Err then says why. A store_unavailable,
// rate_limited, or unreachable server is retried with back-off.
type Stream struct {
	// C delivers the project's events: lock_acquired, lock_released,
	// user_joined, user_left and snapshot (Type says which).
	C <-chan filelock.Event

	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

// Events opens the event stream of the project. It returns at once; the
// stream connects in the background.
func (c *Client) Events(ctx context.Context, projectID string, opts StreamOptions) *Stream {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan filelock.Event, 64)
	s := &Stream{C: ch, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(ch)
		err := c.stream(ctx, projectID, opts, ch)
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
	}()
	return s
}

// Close ends the stream and waits until C is closed.
func (s *Stream) Close() {
	s.cancel()
	<-s.done
}

// Err is why the stream ended: the context's error, or the server's refusal
// (*filelock.Error). nil while it runs.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// stream runs connections until ctx ends or the server refuses for good.
func (c *Client) stream(ctx context.Context, projectID string, opts StreamOptions, ch chan<- filelock.Event) error {
	last := opts.LastEventID
	retry := c.retryMin // the server's "retry:" replaces it
	delay := retry
	for {
		var connected bool
		var err error
		last, connected, err = c.connect(ctx, projectID, opts, last, ch, &retry)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var fe *filelock.Error
		if errors.As(err, &fe) && permanent(fe.Code) {
			return fe
		}
		if connected {
			delay = retry
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		if !connected { // back off while the server cannot be had
			delay = min(2*delay, maxReconnectDelay)
		}
	}
}

// permanent reports whether a refusal will not change by retrying.
func permanent(code string) bool {
	switch code {
	case filelock.EInvalid, filelock.EUnauthorized, filelock.EForbidden, filelock.EUserMismatch, filelock.ENotFound:
		return true
	}
	return false
}

// connect runs one connection resumed after last and returns the id of the
// last event it delivered, whether the server accepted the stream, and why
// it ended.
func (c *Client) connect(ctx context.Context, projectID string, opts StreamOptions, last string, ch chan<- filelock.Event, retry *time.Duration) (string, bool, error) {
	q := url.Values{}
	if opts.UserID != "" {
		q.Set("user_id", opts.UserID)
	}
	req, err := c.newRequest(ctx, http.MethodGet, c.endpoint("/events/"+url.PathEscape(projectID), q), nil)
	if err != nil {
		return last, false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return last, false, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, maxReplyBytes))
		return last, false, decodeError(res.StatusCode, b)
	}
	if opts.Connected != nil {
		opts.Connected(last)
	}
	r := bufio.NewReaderSize(res.Body, 64<<10)
	var id, name string
	var data strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return last, true, err
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" { // dispatch
			if name != "" || data.Len() > 0 {
				ev, perr := parseEvent(name, data.String())
				if perr != nil {
					return last, true, perr
				}
				select {
				case ch <- ev:
				case <-ctx.Done():
					return last, true, ctx.Err()
				}
				if id != "" {
					last = id
				}
			}
			id, name = "", ""
			data.Reset()
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment: keepalive, token expired, shutting down
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id = value
		case "event":
			name = value
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		case "retry":
			if ms, err := strconv.Atoi(value); err == nil && ms > 0 && !c.retrySet {
				*retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}

// eventData is the data of any event of SPEC §4.
type eventData struct {
	ProjectID  string          `json:"project_id"`
	EventID    string          `json:"event_id"`
	File       string          `json:"file"`
	User       string          `json:"user"`
	Token      int64           `json:"token"`
	AcquiredAt string          `json:"acquired_at"`
	ExpiresAt  string          `json:"expires_at"`
	Reason     string          `json:"reason"`
	Locks      []filelock.Lock `json:"locks"`
	Users      []string        `json:"users"`
}

// parseEvent reads one SSE event into a filelock.Event (Seq from event_id;
// Prev is not on the wire and stays 0).
func parseEvent(name, data string) (filelock.Event, error) {
	var d eventData
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return filelock.Event{}, fmt.Errorf("filelock client: event %q: %w", name, err)
	}
	seq, ok := filelock.ParseEventID(d.EventID)
	if !ok {
		return filelock.Event{}, fmt.Errorf("filelock client: event %q: bad event_id %q", name, d.EventID)
	}
	ev := filelock.Event{Type: name, ProjectID: d.ProjectID, Seq: seq, Reason: d.Reason}
	switch name {
	case filelock.EventLockAcquired, filelock.EventLockReleased:
		ev.Lock = filelock.Lock{ProjectID: d.ProjectID, File: d.File, User: d.User, Token: d.Token}
		ev.Lock.AcquiredAt, _ = time.Parse(time.RFC3339Nano, d.AcquiredAt)
		ev.Lock.ExpiresAt, _ = time.Parse(time.RFC3339Nano, d.ExpiresAt)
	case filelock.EventSnapshot:
		ev.Locks, ev.Users = d.Locks, d.Users
		if ev.Locks == nil {
			ev.Locks = []filelock.Lock{}
		}
		if ev.Users == nil {
			ev.Users = []string{}
		}
	default:
		ev.User = d.User
	}
	return ev, nil
}
