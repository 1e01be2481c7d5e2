package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"filelock"
	"filelock/events"
	"filelock/session"
)

// fakeTransport records what a session asks of it.
type fakeTransport struct {
	mu         sync.Mutex
	keepFast   int // Keepalive(false) calls
	keepSlow   int // Keepalive(true) calls
	wouldBlock bool
	closedWith []session.Reason
	gone       bool
}

func (f *fakeTransport) Name() string                 { return "fake" }
func (f *fakeTransport) Write([]*session.Frame) error { return nil }
func (f *fakeTransport) Keepalive(wait bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !wait {
		f.keepFast++
		if f.wouldBlock {
			return session.ErrWouldBlock
		}
		return nil
	}
	f.keepSlow++
	return nil
}
func (f *fakeTransport) Close(r session.Reason) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closedWith = append(f.closedWith, r)
}

type probed struct{ *fakeTransport }

func (p probed) Gone() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gone
}

func (f *fakeTransport) counts() (fast, slow int, closed []session.Reason) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.keepFast, f.keepSlow, append([]session.Reason(nil), f.closedWith...)
}

// nopBackend refuses every command.
type nopBackend struct{}

func (nopBackend) Decode(data []byte, dst any) error                     { return json.Unmarshal(data, dst) }
func (nopBackend) JoinUser(_, named string) (string, error)              { return named, nil }
func (nopBackend) CountUser(string) (func(), error)                      { return func() {}, nil }
func (nopBackend) Connect(context.Context, string, string, string) error { return nil }
func (nopBackend) Disconnect(string, string)                             {}
func (nopBackend) Subscribe(context.Context, string, string) (*events.Subscription, error) {
	return nil, events.ErrClosed
}
func (nopBackend) HeartbeatInterval(filelock.Lock) float64 { return 30 }

func (nopBackend) Heartbeat(context.Context, string, string, bool) (any, filelock.Lock, error) {
	return nil, filelock.Lock{}, filelock.Errorf(filelock.ENotLocked, "no lock")
}
func (nopBackend) Command(context.Context, string, string, []byte) (any, error) {
	return map[string]int{"n": 1}, nil
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestKeepalives: the shared timer writes a due keepalive at once, falls
// back to a goroutine when the transport would block, and ends a session
// whose Prober says its client has gone.
func TestKeepalives(t *testing.T) {
	m := session.NewManager(session.Config{Tick: 5 * time.Millisecond})
	defer m.Shutdown(time.Second)
	fast := &fakeTransport{}
	if _, err := m.Open(fast, nopBackend{}, session.Options{Keepalive: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	blocked := &fakeTransport{wouldBlock: true}
	if _, err := m.Open(blocked, nopBackend{}, session.Options{Keepalive: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "keepalives", func() bool {
		f, _, _ := fast.counts()
		_, s, _ := blocked.counts()
		return f >= 3 && s >= 3
	})
	if _, s, _ := fast.counts(); s != 0 {
		t.Errorf("a transport that took its keepalives at once got %d from a goroutine", s)
	}

	gone := probed{&fakeTransport{}}
	ss, err := m.Open(gone, nopBackend{}, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	gone.mu.Lock()
	gone.gone = true
	gone.mu.Unlock()
	select {
	case <-ss.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a gone client's session did not end")
	}
	if _, _, c := gone.counts(); len(c) != 1 || c[0] != session.ClientGone {
		t.Errorf("closed with %v, want [client_gone]", c)
	}
}

// TestCloseOnceAndShutdown: a session closes once, with its first reason;
// its token's end closes it with TokenExpired; Shutdown closes the rest and
// refuses new sessions; OnEnd runs once per session.
func TestCloseOnceAndShutdown(t *testing.T) {
	m := session.NewManager(session.Config{Tick: time.Second})
	var mu sync.Mutex
	ended := 0
	onEnd := func(session.Reason) { mu.Lock(); ended++; mu.Unlock() }

	a := &fakeTransport{}
	ssA, _ := m.Open(a, nopBackend{}, session.Options{OnEnd: onEnd})
	ssA.Close(session.Lagging)
	ssA.Close(session.WriteFailed)
	<-ssA.Done()

	b := &fakeTransport{}
	ssB, _ := m.Open(b, nopBackend{}, session.Options{OnEnd: onEnd, Expires: time.Now().Add(20 * time.Millisecond)})
	<-ssB.Done()

	c := &fakeTransport{}
	ssC, _ := m.Open(c, nopBackend{}, session.Options{OnEnd: onEnd})
	if r, _, err := ssC.Handle(context.Background(), "lock", []byte(`{}`)); err != nil || string(r) != `{"ok":true,"n":1}` {
		t.Errorf("command reply %s %v", r, err)
	}
	if _, _, err := ssC.Handle(context.Background(), session.MsgJoin, []byte(`{"project_id":"p1","user_id":"u1"}`)); !errors.Is(err, session.ErrShuttingDown) {
		t.Errorf("join on a closed hub: %v", err)
	}
	if !m.Shutdown(5 * time.Second) {
		t.Fatal("sessions did not wind down")
	}
	if _, err := m.Open(&fakeTransport{}, nopBackend{}, session.Options{}); !errors.Is(err, session.ErrShuttingDown) {
		t.Errorf("Open after Shutdown: %v", err)
	}
	for name, want := range map[*fakeTransport]session.Reason{a: session.Lagging, b: session.TokenExpired, c: session.Shutdown} {
		if _, _, got := name.counts(); len(got) != 1 || got[0] != want {
			t.Errorf("closed with %v, want [%v]", got, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if ended != 3 {
		t.Errorf("OnEnd ran %d times, want 3", ended)
	}
}

// TestActAs: a message may name the connection's user or none, not another.
func TestActAs(t *testing.T) {
	for _, c := range []struct{ named, user, want, code string }{
		{"", "u1", "u1", ""}, {"u1", "u1", "u1", ""}, {"u2", "", "u2", ""}, {"u2", "u1", "", filelock.EUserMismatch},
	} {
		got, err := session.ActAs(c.named, c.user)
		if got != c.want || (c.code == "") != (err == nil) || (err != nil && filelock.ErrorCode(err) != c.code) {
			t.Errorf("ActAs(%q, %q) = %q, %v", c.named, c.user, got, err)
		}
	}
}

// appender is a reply that appends its own JSON object.
type appender string

func (a appender) AppendJSON(b []byte) []byte { return append(b, a...) }

// TestOKAppender: OK puts "ok": true in front of an Appender's object as it
// does of an encoded value's.
func TestOKAppender(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{appender(`{"a":1}`), `{"ok":true,"a":1}`},
		{appender(`{"a":1,"b":"x"}`), `{"ok":true,"a":1,"b":"x"}`},
		{appender(`{}`), `{"ok":true}`},
		{appender(``), `{"ok":true}`},
		{struct {
			A int `json:"a"`
		}{1}, `{"ok":true,"a":1}`},
		{struct{}{}, `{"ok":true}`},
	} {
		if got := session.OK(c.v); string(got) != c.want {
			t.Errorf("OK(%#v) = %s, want %s", c.v, got, c.want)
		}
	}
}
