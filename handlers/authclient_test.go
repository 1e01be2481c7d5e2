package handlers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"filelock/auth"
	"filelock/handlers"
	"filelock/store/memory"
)

// Helpers of the auth and limits tests: a server in auth.mode jwt, tokens
// good and bad, and clients that carry a token (or an Origin) on each
// transport and report a refusal as the status and error body, or the
// Socket.IO connect_error, they got.

const testSecret = "test-secret-0123456789-0123456789-abc"

// jwtServer serves a memory store in auth.mode jwt (HS256 testSecret, the
// given leeway); tweak may change the rest of the config.
func jwtServer(t *testing.T, leeway time.Duration, tweak func(*handlers.Config)) *server {
	t.Helper()
	v, err := auth.New(auth.Config{Mode: auth.ModeJWT, Secret: testSecret, Leeway: leeway})
	if err != nil {
		t.Fatal(err)
	}
	o := rtOptions()
	cfg := rtConfig(running(t, memory.New(o)), o)
	cfg.Auth = v
	if tweak != nil {
		tweak(&cfg)
	}
	return startServer(t, cfg)
}

// noneServer serves a memory store in auth.mode none.
func noneServer(t *testing.T, tweak func(*handlers.Config)) *server {
	t.Helper()
	o := rtOptions()
	cfg := rtConfig(running(t, memory.New(o)), o)
	if tweak != nil {
		tweak(&cfg)
	}
	return startServer(t, cfg)
}

// token mints a valid HS256 token.
func token(t *testing.T, sub string, projects []string, admin bool, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.Mint(testSecret, sub, projects, admin, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signed signs claims with method and key (jwt.UnsafeAllowNoneSignatureType
// for "none").
func signed(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// callAs sends method path with body ("" for none) and the token as a
// Bearer header ("" for none).
func (s *server) callAs(tok, method, path, body string) response {
	s.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return s.send(req)
}

// jsonBody marshals v.
func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withToken adds ?token= (or &token=) to a path when tok is not empty.
func withToken(path, tok string) string {
	if tok == "" {
		return path
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "token=" + url.QueryEscape(tok)
}

// wsURL is the ws:// form of base + path.
func wsURL(base, path string) string { return "ws" + strings.TrimPrefix(base, "http") + path }

// dialWSAs opens /ws with the token in ?token= and the given headers; on a
// refused upgrade it returns nil and the HTTP answer.
func dialWSAs(t *testing.T, base, tok string, header http.Header) (*wsClient, response) {
	t.Helper()
	conn, res, err := websocket.DefaultDialer.Dial(wsURL(base, withToken("/ws", tok)), header)
	if err != nil {
		if res == nil {
			t.Fatalf("ws dial: %v", err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return nil, response{status: res.StatusCode, header: res.Header, body: b}
	}
	c := &wsClient{t: t, conn: conn, log: newEventLog(), replies: map[string]chan map[string]any{}, errs: make(chan map[string]any, 100)}
	t.Cleanup(func() { conn.Close() })
	return c.start(), response{status: res.StatusCode, header: res.Header}
}

// dialSIOAs connects to Socket.IO over the websocket transport with the
// handshake auth object (nil: none), the query (e.g. "&token=…") and
// headers. It returns the connected client, or nil and the connect_error
// packet's {message, data}; refusedHTTP is set when the engine's upgrade
// itself was refused.
func dialSIOAs(t *testing.T, base string, authObj any, query string, header http.Header) (c *sioClient, connectErr map[string]any, refusedHTTP *response) {
	t.Helper()
	conn, res, err := websocket.DefaultDialer.Dial(wsURL(base, "/socket.io/?EIO=4&transport=websocket"+query), header)
	if err != nil {
		if res == nil {
			t.Fatalf("sio dial: %v", err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return nil, nil, &response{status: res.StatusCode, header: res.Header, body: b}
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(rtWait))
	if _, b, err := conn.ReadMessage(); err != nil || len(b) == 0 || b[0] != '0' {
		t.Fatalf("sio open: %q %v", b, err)
	}
	connect := "40"
	if authObj != nil {
		connect += jsonBody(t, authObj)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(connect)); err != nil {
		t.Fatal(err)
	}
	_, b, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("sio connect: %v", err)
	}
	switch s := string(b); {
	case strings.HasPrefix(s, "40"):
		_ = conn.SetReadDeadline(time.Time{})
		c = &sioClient{t: t, conn: conn, log: newEventLog(), acks: map[int]chan map[string]any{}, errs: make(chan map[string]any, 100)}
		go c.read()
		return c, nil, nil
	case strings.HasPrefix(s, "44"):
		if err := json.Unmarshal([]byte(s[2:]), &connectErr); err != nil {
			t.Fatalf("connect_error packet %q: %v", s, err)
		}
		return nil, connectErr, nil
	default:
		t.Fatalf("sio connect: unexpected packet %q", s)
	}
	return nil, nil, nil
}

// connectErrorCode is the code of a connect_error packet's data.
func connectErrorCode(t *testing.T, ce map[string]any) string {
	t.Helper()
	data, _ := ce["data"].(map[string]any)
	code, _ := data["code"].(string)
	msg, _ := data["message"].(string)
	if code == "" || msg == "" || ce["message"] == "" {
		t.Fatalf("connect_error without code and message: %v", ce)
	}
	return code
}

// replyCode is the error code of a failed WebSocket or Socket.IO reply.
func replyCode(t *testing.T, r map[string]any) string {
	t.Helper()
	if ok, _ := r["ok"].(bool); ok {
		t.Fatalf("reply ok, want an error: %v", r)
	}
	e, _ := r["error"].(map[string]any)
	code, _ := e["code"].(string)
	if code == "" {
		t.Fatalf("reply without error code: %v", r)
	}
	return code
}

// replyOK asserts a successful reply.
func replyOK(t *testing.T, what string, r map[string]any) {
	t.Helper()
	if ok, _ := r["ok"].(bool); !ok {
		t.Fatalf("%s: reply %v, want ok", what, r)
	}
}

// sseAs opens an SSE stream of path with the token in ?token=.
func sseAs(t *testing.T, base, path, tok string, header http.Header) *sseClient {
	t.Helper()
	return openSSE(t, base+withToken(path, tok), header)
}

// sseRefused reads a refused stream's answer.
func sseRefused(t *testing.T, c *sseClient) response {
	t.Helper()
	if c.res.StatusCode == http.StatusOK {
		t.Fatalf("stream opened (200), want it refused")
	}
	b, _ := io.ReadAll(c.res.Body)
	return response{status: c.res.StatusCode, header: c.res.Header, body: b}
}

// untilTrue polls cond until it holds or the deadline passes.
func untilTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(rtWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
