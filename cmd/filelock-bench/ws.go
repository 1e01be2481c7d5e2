package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// wsDialer dials from a spread source address for connection i.
func wsDialer(i int) *websocket.Dialer {
	return &websocket.Dialer{
		HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024,
		NetDialContext: func(_ context.Context, _, addr string) (net.Conn, error) { return dialSpread(i, addr) },
	}
}

func wsURL(base string) string { return "ws" + strings.TrimPrefix(base, "http") + "/ws" }

// wsMsg is a WebSocket frame of filelock (SPEC §5).
type wsMsg struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	Ref   string          `json:"ref,omitempty"`
}

// wsSubscriber joins the project over GET /ws as one shared user (so joins
// cost one user_joined, not one per connection) and reads its events.
func (b *fanBench) wsSubscriber(i int, isReady *bool) error {
	c, _, err := wsDialer(i).Dial(wsURL(b.c.base), nil)
	if err != nil {
		return err
	}
	b.track(c.NetConn())
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(b.c.timeout))
	join := fmt.Sprintf(`{"event":"join_project","ref":"join","data":{"project_id":%q,"user_id":"bench"}}`, b.c.project)
	if err := c.WriteMessage(websocket.TextMessage, []byte(join)); err != nil {
		return err
	}
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return err
		}
		now := time.Now().UnixNano()
		var m wsMsg
		if json.Unmarshal(msg, &m) != nil {
			continue
		}
		switch {
		case m.Event == "reply" && m.Ref == "join":
			if !strings.Contains(string(m.Data), `"ok":true`) {
				return fmt.Errorf("join refused: %s", m.Data)
			}
			_ = c.SetReadDeadline(time.Time{})
			b.setReady(i, isReady)
		case m.Event == "lock_acquired":
			b.deliver(i, string(m.Data), now)
		}
	}
}
