package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"filelock"
	"filelock/auth"
	"filelock/session"
	"filelock/store"
	"filelock/store/memory"
)

// Fuzz targets for every decoder of client input (SPEC §2: nothing a client
// sends may crash the server): REST bodies, WebSocket frames and Socket.IO
// event arguments, each through the decoding and commands the transport
// uses, on a memory store that checks that whatever reaches it is valid.
// Seed corpora are in testdata/fuzz/Fuzz*; `make fuzz` fuzzes them.

// checked is a store that records identifiers reaching it which SPEC §2
// forbids; the checks are written out here, independent of filelock's.
type checked struct {
	store.Store
	mu  sync.Mutex
	bad []string
}

func (c *checked) check(what, project, file, user string) {
	var errs []string
	if !validProject(project) {
		errs = append(errs, fmt.Sprintf("project_id %q", project))
	}
	if file != "\x00none" && !validFile(file) {
		errs = append(errs, fmt.Sprintf("file %q", file))
	}
	if user != "\x00none" && !validUser(user) {
		errs = append(errs, fmt.Sprintf("user %q", user))
	}
	if len(errs) > 0 {
		c.mu.Lock()
		c.bad = append(c.bad, what+": "+strings.Join(errs, ", "))
		c.mu.Unlock()
	}
}

// violations returns and forgets what was recorded.
func (c *checked) violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.bad
	c.bad = nil
	return b
}

func (c *checked) Acquire(ctx context.Context, r store.AcquireRequest) (store.AcquireResult, error) {
	c.check("Acquire", r.ProjectID, r.File, r.User)
	if r.TTL < 0 || r.TTL > time.Hour {
		c.check("Acquire ttl "+r.TTL.String(), "", "", "")
	}
	return c.Store.Acquire(ctx, r)
}

func (c *checked) Claim(ctx context.Context, r store.ClaimRequest) (store.AcquireResult, error) {
	if len(r.Files) == 0 || len(r.Files) > MaxClaimFiles {
		c.check(fmt.Sprintf("Claim of %d files", len(r.Files)), "", "", "")
	}
	for _, f := range r.Files {
		c.check("Claim", r.ProjectID, f, r.User)
	}
	if r.TTL < 0 || r.TTL > time.Hour {
		c.check("Claim ttl "+r.TTL.String(), "", "", "")
	}
	return c.Store.Claim(ctx, r)
}

func (c *checked) Release(ctx context.Context, r store.ReleaseRequest) (filelock.Lock, error) {
	c.check("Release", r.ProjectID, r.File, r.User)
	return c.Store.Release(ctx, r)
}

func (c *checked) Heartbeat(ctx context.Context, project, user string) (filelock.Lock, error) {
	c.check("Heartbeat", project, "\x00none", user)
	return c.Store.Heartbeat(ctx, project, user)
}

func (c *checked) Status(ctx context.Context, project string) (filelock.Status, error) {
	c.check("Status", project, "\x00none", "\x00none")
	return c.Store.Status(ctx, project)
}

func (c *checked) Connect(ctx context.Context, project, user, connID string, lease time.Duration) error {
	c.check("Connect", project, "\x00none", user)
	return c.Store.Connect(ctx, project, user, connID, lease)
}

func validProject(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func noControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func validFile(s string) bool {
	return len(s) >= 1 && len(s) <= 1024 && utf8.ValidString(s) && noControl(s) && s != "." && s != ".."
}

func validUser(s string) bool {
	return len(s) >= 1 && len(s) <= 256 && utf8.ValidString(s) && noControl(s)
}

// fuzzServer is a Server on a checked memory store, closed with the test.
func fuzzServer(f *testing.F) (*Server, *checked) {
	o := store.DefaultOptions()
	st := &checked{Store: memory.New(o)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = st.Run(ctx); close(done) }()
	s := New(Config{Store: st, Options: o, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.Cleanup(func() {
		_ = s.Close()
		cancel()
		<-done
		_ = st.Close()
	})
	return s, st
}

// checkResult checks a command's outcome: an error is a *filelock.Error of
// a code a client can be shown (never internal), a reply is a JSON object
// with "ok": true, and nothing invalid reached the store.
func checkResult(t *testing.T, st *checked, input []byte, reply json.RawMessage, err error) {
	t.Helper()
	if bad := st.violations(); len(bad) > 0 {
		t.Fatalf("input %q reached the store with invalid identifiers: %v", input, bad)
	}
	if err != nil {
		var fe *filelock.Error
		if !errors.As(err, &fe) {
			t.Fatalf("input %q: error %T %v is not a *filelock.Error", input, err, err)
		}
		if fe.Code == filelock.EInternal || HTTPStatus(fe.Code) == 500 || fe.Message == "" {
			t.Fatalf("input %q: error %+v", input, fe)
		}
		return
	}
	var m map[string]any
	if json.Unmarshal(reply, &m) != nil || m["ok"] != true {
		t.Fatalf("input %q: reply %s", input, reply)
	}
}

// isObject reports whether data is one valid JSON object of valid UTF-8.
func isObject(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(data) && utf8.Valid(data)
}

// FuzzRESTBody: a body of POST /lock, /unlock, /heartbeat or /claim (which
// picks the endpoint) through the REST decoding and command. Malformed input is
// invalid_request; a well-formed object refused for its content names the
// offending field; what is accepted reaches the store valid.
func FuzzRESTBody(f *testing.F) {
	s, st := fuzzServer(f)
	f.Add(uint8(0), []byte(`{"project_id":"p1","file":"images/이미지1.jpg","user_id":"user1","ttl_seconds":30,"release_previous":true}`))
	f.Add(uint8(1), []byte(`{"project_id":"p1","file":"a.jpg","user_id":"user1","token":42,"force":true}`))
	f.Add(uint8(2), []byte(`{"project_id":"p1","user_id":"user1"}`))
	f.Add(uint8(0), []byte(`{"project_id":"p1","file":"..","user_id":"u"}`))
	f.Add(uint8(0), []byte(`{"project_id":"p{1}","file":"a\u0000b","user_id":"u"}`))
	f.Add(uint8(0), []byte(`{"project_id":"p1","file":"a","user_id":"u","ttl_seconds":1e308}`))
	f.Add(uint8(1), []byte(`{"project_id":"p1","file":"a","user_id":"u","token":"42"}`))
	f.Add(uint8(2), []byte(`[1,2]`))
	f.Add(uint8(3), []byte(`{"project_id":"p1","user_id":"user1","files":["a.jpg","b/c.jpg"],"ttl_seconds":10}`))
	f.Add(uint8(3), []byte(`{"project_id":"p1","user_id":"user1","files":["a.jpg",""]}`))
	f.Add(uint8(3), []byte(`{"project_id":"p1","user_id":"user1","files":[1]}`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		ctx := context.Background()
		var (
			reply any
			err   error
		)
		switch which % 4 {
		case 0:
			var p LockParams
			if err = DecodeParams(body, &p); err == nil {
				reply, err = s.cmdLock(ctx, auth.Identity{}, p)
			}
		case 1:
			var p UnlockParams
			if err = DecodeParams(body, &p); err == nil {
				reply, err = s.cmdUnlock(ctx, auth.Identity{}, p)
			}
		case 2:
			var p HeartbeatParams
			if err = DecodeParams(body, &p); err == nil {
				reply, err = s.cmdHeartbeat(ctx, auth.Identity{}, p)
			}
		default:
			var p ClaimParams
			if err = DecodeParams(body, &p); err == nil {
				reply, err = s.cmdClaim(ctx, auth.Identity{}, p)
			}
		}
		var raw json.RawMessage
		if err == nil {
			raw = session.OK(reply)
		}
		checkResult(t, st, body, raw, err)
		var fe *filelock.Error
		if errors.As(err, &fe) && fe.Code == filelock.EInvalid && isObject(body) && fe.Field == "" {
			t.Fatalf("body %q refused without naming a field: %+v", body, fe)
		}
	})
}

// runSession runs one message on a fresh session, the join's follow-up
// included, and closes the session.
func runSession(t *testing.T, s *Server, st *checked, input []byte, name string, data []byte) {
	ss, err := s.rt.sessions.Open(nopTransport{}, s.backend(auth.Identity{}, wsFormat), session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ss.Close(session.ClientGone); <-ss.Done() }()
	reply, then, err := ss.Handle(context.Background(), name, data)
	checkResult(t, st, input, reply, err)
	if then != nil {
		then()
	}
}

// FuzzWSMessage: a WebSocket text frame through the envelope decoding and
// the session's per-event decoding and commands.
func FuzzWSMessage(f *testing.F) {
	s, st := fuzzServer(f)
	for _, seed := range []string{
		`{"event":"join_project","data":{"project_id":"p1","user_id":"user1"},"ref":"1"}`,
		`{"event":"lock","data":{"project_id":"p1","file":"a.jpg","user_id":"user1","ttl_seconds":5},"ref":2}`,
		`{"event":"unlock","data":{"project_id":"p1","file":"a.jpg","token":7}}`,
		`{"event":"heartbeat","data":null}`,
		`{"event":"heartbeat","data":{"project_id":"p1"}}`,
		`{"event":"leave_project","data":{"project_id":"p1"},"ref":null}`,
		`{"event":"nope"}`,
		`{"event":1}`,
		`[]`,
		`{"event":"lock","data":"x"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		_, name, body, err := parseWSMessage(frame)
		if err != nil {
			checkResult(t, st, frame, nil, err)
			return
		}
		runSession(t, s, st, frame, name, body)
	})
}

// FuzzSocketIOArgs: the payload of a Socket.IO EVENT packet (42[...]),
// decoded as the Socket.IO parser does (one JSON value), then through the
// argument handling and the session.
func FuzzSocketIOArgs(f *testing.F) {
	s, st := fuzzServer(f)
	for _, seed := range []string{
		`["join_project",{"project_id":"p1","user_id":"user1"}]`,
		`["lock",{"project_id":"p1","file":"images/a b.jpg","release_previous":true}]`,
		`["unlock",{"project_id":"p1","file":"a","token":1.5}]`,
		`["heartbeat"]`,
		`["heartbeat",null,1]`,
		`["leave_project","p1"]`,
		`["lock",[1,2,3]]`,
		`["lock",{"project_id":"p1","file":"a","ttl_seconds":-1}]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var v any
		if json.NewDecoder(bytes.NewReader(payload)).Decode(&v) != nil {
			return // the parser rejects the packet
		}
		arr, ok := v.([]any)
		if !ok || len(arr) == 0 {
			return
		}
		name, ok := arr[0].(string)
		if !ok {
			return
		}
		data, ack := sioArgs(arr[1:])
		if ack != nil {
			t.Fatal("an ack from decoded JSON")
		}
		runSession(t, s, st, payload, name, data)
	})
}

// nopTransport is a session.Transport that writes nowhere.
type nopTransport struct{}

func (nopTransport) Name() string                 { return "fuzz" }
func (nopTransport) Write([]*session.Frame) error { return nil }
func (nopTransport) Keepalive(bool) error         { return nil }
func (nopTransport) Close(session.Reason)         {}
