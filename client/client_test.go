package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"filelock"
	"filelock/auth"
	"filelock/client"
	"filelock/handlers"
	"filelock/store"
)

// wantErr fails unless err is a *filelock.Error of code and field ("*":
// any field, where the SPEC names none); it returns the error.
func wantErr(t *testing.T, err error, code, field string) *filelock.Error {
	t.Helper()
	var fe *filelock.Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T), want a *filelock.Error %s", err, err, code)
	}
	if fe.Code != code || (field != "*" && fe.Field != field) || fe.Message == "" {
		t.Fatalf("error %+v, want code %q field %q and a message", fe, code, field)
	}
	if !client.IsCode(err, code) {
		t.Fatalf("IsCode(%v, %q) = false", err, code)
	}
	return fe
}

func TestLockCalls(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T, store.Options) store.Store) {
		opts := store.DefaultOptions()
		st := newStore(t, opts)
		ts := serve(t, handlers.Config{Store: st, Options: opts})
		c := newClient(t, ts.URL)
		ctx := t.Context()
		const p = "proj-1"
		file := "images/이미지 1:{x}*\"q\".jpg"

		if err := c.Healthz(ctx); err != nil {
			t.Fatalf("Healthz: %v", err)
		}
		if err := c.Readyz(ctx); err != nil {
			t.Fatalf("Readyz: %v", err)
		}

		r, err := c.Lock(ctx, client.LockRequest{ProjectID: p, File: file, UserID: "alice", TTL: 20 * time.Second})
		if err != nil {
			t.Fatalf("Lock: %v", err)
		}
		if r.Renewed || r.Released != nil || r.Lock.File != file || r.Lock.User != "alice" || r.Lock.ProjectID != p || r.Lock.Token <= 0 {
			t.Fatalf("Lock result %+v", r)
		}
		if got := r.Lock.ExpiresAt.Sub(r.Lock.AcquiredAt); got != 20*time.Second {
			t.Fatalf("lock lives %v, want the 20s asked", got)
		}
		if r.HeartbeatInterval <= 0 || r.HeartbeatInterval > 20*time.Second/3+time.Millisecond {
			t.Fatalf("heartbeat interval %v, want a third of the 20s TTL at most", r.HeartbeatInterval)
		}
		again, err := c.Lock(ctx, client.LockRequest{ProjectID: p, File: file, UserID: "alice", TTL: 20 * time.Second})
		if err != nil || !again.Renewed || again.Lock.Token != r.Lock.Token {
			t.Fatalf("re-Lock = %+v, %v; want renewed with token %d", again, err, r.Lock.Token)
		}

		_, err = c.Lock(ctx, client.LockRequest{ProjectID: p, File: file, UserID: "bob"})
		fe := wantErr(t, err, filelock.EFileLocked, "file")
		if fe.Lock == nil || fe.Lock.User != "alice" || fe.Lock.Token != r.Lock.Token || fe.Lock.File != file {
			t.Fatalf("file_locked carries lock %+v, want alice's", fe.Lock)
		}
		_, err = c.Lock(ctx, client.LockRequest{ProjectID: p, File: "other.jpg", UserID: "alice"})
		fe = wantErr(t, err, filelock.EUserHasLock, "")
		if fe.Lock == nil || fe.Lock.File != file {
			t.Fatalf("user_has_lock carries lock %+v, want alice's on %q", fe.Lock, file)
		}
		sw, err := c.Lock(ctx, client.LockRequest{ProjectID: p, File: "other.jpg", UserID: "alice", ReleasePrevious: true})
		if err != nil || sw.Released == nil || sw.Released.File != file || sw.Lock.Token <= r.Lock.Token {
			t.Fatalf("Lock with ReleasePrevious = %+v, %v", sw, err)
		}

		hb, err := c.Heartbeat(ctx, p, "alice")
		if err != nil || hb.Lock.File != "other.jpg" || hb.Lock.Token != sw.Lock.Token || hb.HeartbeatInterval <= 0 {
			t.Fatalf("Heartbeat = %+v, %v", hb, err)
		}
		_, err = c.Heartbeat(ctx, p, "bob")
		wantErr(t, err, filelock.ENotLocked, "file") // SPEC §3: not_locked names field file

		_, err = c.Unlock(ctx, client.UnlockRequest{ProjectID: p, File: "other.jpg", UserID: "bob"})
		if fe := wantErr(t, err, filelock.ENotOwner, "*"); fe.Lock == nil || fe.Lock.User != "alice" {
			t.Fatalf("not_owner carries lock %+v", fe.Lock)
		}
		_, err = c.Unlock(ctx, client.UnlockRequest{ProjectID: p, File: "other.jpg", UserID: "alice", Token: r.Lock.Token})
		if fe := wantErr(t, err, filelock.EStaleToken, "token"); fe.Lock == nil || fe.Lock.Token != sw.Lock.Token {
			t.Fatalf("stale_token carries lock %+v", fe.Lock)
		}
		_, err = c.Unlock(ctx, client.UnlockRequest{ProjectID: p, File: file, UserID: "alice"})
		wantErr(t, err, filelock.ENotLocked, "file")

		st1, err := c.Status(ctx, p)
		if err != nil || st1.ProjectID != p || len(st1.Locks) != 1 || st1.Locks[0].Token != sw.Lock.Token || st1.LastEventID == "" || st1.ServerTime.IsZero() {
			t.Fatalf("Status = %+v, %v", st1, err)
		}
		l, err := c.Unlock(ctx, client.UnlockRequest{ProjectID: p, File: "other.jpg", UserID: "alice", Token: sw.Lock.Token})
		if err != nil || l.Token != sw.Lock.Token {
			t.Fatalf("Unlock = %+v, %v", l, err)
		}
		if st2, err := c.Status(ctx, p); err != nil || len(st2.Locks) != 0 || st2.LastEventID == st1.LastEventID {
			t.Fatalf("Status after unlock = %+v, %v", st2, err)
		}

		_, err = c.Lock(ctx, client.LockRequest{ProjectID: "bad project", File: "f", UserID: "u"})
		wantErr(t, err, filelock.EInvalid, "project_id")
		_, err = c.Status(ctx, "bad:project")
		wantErr(t, err, filelock.EInvalid, "project_id")
	})
}

// TestTransportError: a server that cannot be reached is not a refusal.
func TestTransportError(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	base := ts.URL
	ts.Close()
	c := newClient(t, base)
	_, err := c.Lock(t.Context(), client.LockRequest{ProjectID: "p", File: "f", UserID: "u"})
	var fe *filelock.Error
	if err == nil || errors.As(err, &fe) {
		t.Fatalf("Lock to a closed port = %v, want a transport error that is not a *filelock.Error", err)
	}
}

// TestForeignErrorBody: an answer that is not the SPEC's error shape still
// comes back as a *filelock.Error with the code of its status.
func TestForeignErrorBody(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	t.Cleanup(ts.Close)
	err := newClient(t, ts.URL).Readyz(t.Context())
	wantErr(t, err, filelock.EUnavailable, "")
}

// TestRequestShape: the fencing check's path keeps the file's slashes and
// percent-encodes everything else a path cannot hold; the credentials go
// in their headers.
func TestRequestShape(t *testing.T) {
	type seen struct{ raw, path, query, auth, key string }
	got := make(chan seen, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.URL.EscapedPath(), r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("X-API-Key")}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"lock":{"project_id":"p","file":"x","user":"u","token":7,"acquired_at":"2026-11-27T08:00:00.000Z","expires_at":"2026-11-27T08:01:30.000Z"}}`))
	}))
	t.Cleanup(ts.Close)
	for _, tc := range []struct {
		file, wantRaw string
	}{
		{"images/이미지1.jpg", "/base/locks/p-1/images/%EC%9D%B4%EB%AF%B8%EC%A7%801.jpg"},
		{"a b/c?d#e%f", "/base/locks/p-1/a%20b/c%3Fd%23e%25f"},
		{"x/../y/./z", "/base/locks/p-1/x/%2E%2E/y/%2E/z"},
		{"/lead//double/", "/base/locks/p-1//lead//double/"},
	} {
		c := newClient(t, ts.URL+"/base/", client.WithToken("jwt-1"), client.WithAPIKey("key-1"))
		l, err := c.Check(t.Context(), "p-1", tc.file, 42, "user 1")
		if err != nil || l.Token != 7 {
			t.Fatalf("Check(%q) = %+v, %v", tc.file, l, err)
		}
		s := <-got
		if s.raw != tc.wantRaw || s.path != "/base/locks/p-1/"+tc.file {
			t.Errorf("Check(%q) sent path %q (decoded %q), want %q", tc.file, s.raw, s.path, tc.wantRaw)
		}
		if s.query != "token=42&user_id=user+1" || s.auth != "Bearer jwt-1" || s.key != "key-1" {
			t.Errorf("Check(%q) sent query %q, Authorization %q, X-API-Key %q", tc.file, s.query, s.auth, s.key)
		}
	}
}

// TestJWT: the bearer token names the user; another user_id is refused.
func TestJWT(t *testing.T) {
	const secret = "client-test-secret-0123456789abcdef"
	v, err := auth.New(auth.Config{Mode: auth.ModeJWT, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	opts := store.DefaultOptions()
	st := stores[0].new(t, opts)
	ts := serve(t, handlers.Config{Store: st, Options: opts, Auth: v})
	tok, err := auth.Mint(secret, "alice", []string{"p"}, false, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	_, err = newClient(t, ts.URL).Status(ctx, "p")
	wantErr(t, err, filelock.EUnauthorized, "")
	c := newClient(t, ts.URL, client.WithToken(tok))
	if r, err := c.Lock(ctx, client.LockRequest{ProjectID: "p", File: "f", UserID: "alice"}); err != nil || r.Lock.User != "alice" {
		t.Fatalf("Lock with a token = %+v, %v", r, err)
	}
	_, err = c.Lock(ctx, client.LockRequest{ProjectID: "p", File: "g", UserID: "bob"})
	wantErr(t, err, filelock.EUserMismatch, "*")
	_, err = c.Status(ctx, "q")
	wantErr(t, err, filelock.EForbidden, "*")
	// The stream is refused for good on a project the token does not grant.
	s := c.Events(ctx, "q", client.StreamOptions{})
	for range s.C {
		t.Fatal("event on a forbidden stream")
	}
	wantErr(t, s.Err(), filelock.EForbidden, "*")
}

func TestNewBadURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8000", "ftp://x", "http://"} {
		if _, err := client.New(u); err == nil || !strings.Contains(err.Error(), "URL") {
			t.Errorf("New(%q) = %v, want a base URL error", u, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c, _ := client.New("http://127.0.0.1:1")
	if err := c.Healthz(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Healthz with a cancelled context = %v, want context.Canceled", err)
	}
}
