package handlers

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"filelock"
	"filelock/events"
	"filelock/metrics"
)

// getEvents serves GET /events/{project_id} (SPEC §5 SSE).
//
//	@Summary		Event stream of a project (SSE)
//	@Description	text/event-stream of the project's events (lock_acquired, lock_released, user_joined, user_left,
//	@Description	snapshot). Each event is "id: <event_id>", "event: <name>", "data: <JSON>". Without a resume id the
//	@Description	stream starts with a snapshot; with Last-Event-ID (or last_event_id) still in the history it replays
//	@Description	what came after it, otherwise it sends a fresh snapshot. A ": keepalive" comment every sse.keepalive.
//	@Description	With user_id the stream counts as the user's connection for presence and the disconnect release.
//	@Description	In auth.mode jwt the stream ends when its token expires; reopen it with a fresh token.
//	@Tags			events
//	@Produce		text/event-stream
//	@Param			project_id		path	string	true	"project id"
//	@Param			user_id			query	string	false	"the user this stream belongs to (presence)"
//	@Param			last_event_id	query	string	false	"resume after this event id (as the Last-Event-ID header)"
//	@Param			Last-Event-ID	header	string	false	"resume after this event id"
//	@Param			token			query	string	false	"JWT (auth.mode jwt)"
//	@Success		200	{string}	string	"the event stream"
//	@Failure		400	{object}	ErrorBody	"invalid_request"
//	@Failure		401	{object}	ErrorBody	"unauthorized (auth.mode jwt)"
//	@Failure		403	{object}	ErrorBody	"forbidden or user_mismatch (auth.mode jwt), or an Origin not allowed by cors.allowed_origins"
//	@Failure		429	{object}	ErrorBody	"rate_limited: limits.max_connections or limits.max_connections_per_user reached"
//	@Failure		503	{object}	ErrorBody	"store_unavailable"
//	@Router			/events/{project_id} [get]
func (s *Server) getEvents(c *gin.Context) {
	r := c.Request
	if !s.cfg.CORS.CheckOrigin(r) {
		s.writeError(c, errOrigin)
		return
	}
	who, err := s.identify(r)
	if err != nil {
		s.writeError(c, err)
		return
	}
	projectID := c.Param("project_id")
	if err := filelock.ValidateProjectID(projectID); err != nil {
		s.writeError(c, err)
		return
	}
	user, err := s.streamUser(who, projectID, c.Query("user_id"), false)
	if err != nil {
		s.writeError(c, err)
		return
	}
	release, err := s.acquireConn(who, user)
	if err != nil {
		s.writeError(c, err)
		return
	}
	defer release()
	expired, stopExpiry := s.expiry(who)
	defer stopExpiry()
	resume := r.Header.Get("Last-Event-ID")
	if resume == "" {
		resume = c.Query("last_event_id")
	}
	if !s.rt.track() {
		s.writeError(c, filelock.Errorf(filelock.EUnavailable, "server shutting down"))
		return
	}
	defer s.rt.live.Done()

	ctx := r.Context()
	if user != "" {
		connID := newConnID("sse")
		if err := s.rt.presence.connect(ctx, projectID, user, connID); err != nil {
			s.writeError(c, err)
			return
		}
		defer s.rt.presence.disconnect(projectID, connID)
	}
	sub, err := s.rt.hub.Subscribe(ctx, projectID, resume)
	if err != nil {
		s.writeError(c, hubError(err))
		return
	}
	defer sub.Close()
	defer s.metrics.ConnOpened(metrics.SSE)()

	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	c.Status(http.StatusOK)
	rc := http.NewResponseController(c.Writer)
	// A stream outlives the server's read and write timeouts; each write
	// gets its own deadline instead, so a stalled client is cut off.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	w := bufio.NewWriterSize(c.Writer, 8192)
	write := func(ev filelock.Event) { writeSSE(w, ev); s.metrics.EventsDelivered(metrics.SSE, 1) }
	flush := func() bool {
		_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.StreamWriteTimeout))
		return w.Flush() == nil && rc.Flush() == nil
	}

	_, _ = w.WriteString("retry: 2000\n\n")
	for _, ev := range sub.Initial {
		write(ev)
	}
	if !flush() {
		return
	}
	// dropped ends a stream the hub dropped (too far behind, history gone,
	// shutdown): it sends what was queued; EventSource resumes from its
	// last id, on another instance when this one is shutting down.
	dropped := func() {
		s.metrics.dropped(sub.Err())
		for ev := range sub.C {
			write(ev)
		}
		if errors.Is(sub.Err(), events.ErrClosed) {
			_, _ = w.WriteString("retry: 2000\n: server shutting down, reconnect\n\n")
		}
		flush()
	}
	keepalive := time.NewTicker(s.cfg.SSEKeepalive)
	defer keepalive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-expired: // the client reopens the stream with a fresh token
			_, _ = w.WriteString(": token expired\n\n")
			flush()
			return
		case <-sub.Done():
			dropped()
			return
		case <-keepalive.C:
			_, _ = w.WriteString(": keepalive\n\n")
		case ev, ok := <-sub.C:
			if !ok {
				dropped()
				return
			}
			write(ev)
			for more := true; more; { // send what else is queued in one flush
				select {
				case ev, ok := <-sub.C:
					if !ok {
						more = false
						break
					}
					write(ev)
				default:
					more = false
				}
			}
		}
		if !flush() {
			return
		}
	}
}

// writeSSE writes one event. The data is one line: JSON escapes every
// control character, and identifiers cannot hold any.
func writeSSE(w *bufio.Writer, ev filelock.Event) {
	data, err := json.Marshal(ev)
	if err != nil {
		return
	}
	_, _ = w.WriteString("id: " + ev.ID() + "\nevent: " + ev.Type + "\ndata: ")
	_, _ = w.Write(data)
	_, _ = w.WriteString("\n\n")
}
