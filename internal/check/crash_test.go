package check_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"filelock"
	"filelock/client"
	"filelock/internal/check"
	"filelock/internal/redistest"
)

// presenceLease is how long the store keeps a connection of an instance
// that stopped refreshing it (handlers.Config.PresenceLease's default).
const presenceLease = 15 * time.Second

// TestCrashRelease measures the crash-release bound: the instance holding
// a user's only connection is killed with SIGKILL (so it never says the
// connection closed); the user's lock, kept alive by heartbeats through
// another instance, is released (disconnected) once the connection's
// lease lapses and the disconnect grace has passed: within lease + grace +
// 1 s of the kill (plus a second of slack for the loaded machine).
func TestCrashRelease(t *testing.T) {
	srv := redistest.Start(t)
	prefix := redistest.Prefix(t)
	const grace = time.Second
	e := redisEnv([]string{srv.Addr}, "", prefix)
	in := instances(t, 2, e)
	ctx := t.Context()
	newC := func(i int) *client.Client {
		c, err := client.New(in[i].URL, client.WithReconnectDelay(50*time.Millisecond), client.WithHTTPClient(&http.Client{Timeout: 3 * time.Second}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := newC(0), newC(1)
	const p = "crash"
	user := a.Events(ctx, p, client.StreamOptions{UserID: "annotator"})
	defer user.Close()
	if ev := <-user.C; ev.Type != filelock.EventSnapshot {
		t.Fatalf("first event %+v", ev)
	}
	obs := b.Events(ctx, p, client.StreamOptions{})
	defer obs.Close()
	got := make(chan check.Received, 64)
	go func() {
		for ev := range obs.C {
			got <- check.Received{At: time.Now(), Event: ev}
		}
	}()
	l, err := b.Lock(ctx, client.LockRequest{ProjectID: p, File: "img.jpg", UserID: "annotator", TTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	stopBeat := make(chan struct{})
	defer close(stopBeat)
	go func() { // the page keeps its lock alive through the other instance
		for {
			select {
			case <-stopBeat:
				return
			case <-time.After(time.Second):
				_, _ = b.Heartbeat(context.Background(), p, "annotator")
			}
		}
	}()
	in[0].Kill()
	killed := time.Now()
	deadline := time.After(presenceLease + grace + 15*time.Second)
	for {
		select {
		case rc := <-got:
			if rc.Event.Type != filelock.EventLockReleased || rc.Event.Lock.Token != l.Lock.Token {
				continue
			}
			took := rc.At.Sub(killed)
			t.Logf("measure: crash release after kill -9: %v (reason %s; bound: presence lease %v + disconnect_grace %v + 1s)",
				took.Round(time.Millisecond), rc.Event.Reason, presenceLease, grace)
			if rc.Event.Reason != filelock.ReasonDisconnected {
				t.Fatalf("released %s, want disconnected", rc.Event.Reason)
			}
			if took > presenceLease+grace+time.Second+time.Second /* slack */ {
				t.Fatalf("released %v after the kill, want within lease + grace + 1s", took)
			}
			return
		case <-deadline:
			t.Fatalf("the lock of the killed instance's user was not released within %v", presenceLease+grace+15*time.Second)
		}
	}
}
