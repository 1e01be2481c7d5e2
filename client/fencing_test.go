package client_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"filelock"
	"filelock/client"
	"filelock/handlers"
	"filelock/store"
)

// TestClaimAndCheck: claim takes the first free file of the list; the
// fencing check answers for the current token, a stale one, another user
// and an unlocked file, with file names that need percent-encoding.
func TestClaimAndCheck(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T, store.Options) store.Store) {
		opts := store.DefaultOptions()
		st := newStore(t, opts)
		ts := serve(t, handlers.Config{Store: st, Options: opts})
		c := newClient(t, ts.URL)
		ctx := t.Context()
		const p = "claim"
		files := []string{"dir/a b.jpg", "dir/%2F?#.jpg", "../x/./y", "이미지/c.jpg"}

		held, err := c.Lock(ctx, client.LockRequest{ProjectID: p, File: files[0], UserID: "bob"})
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Claim(ctx, client.ClaimRequest{ProjectID: p, UserID: "alice", Files: files, TTL: 30 * time.Second})
		if err != nil || r.Lock.File != files[1] || r.Renewed || r.Released != nil {
			t.Fatalf("Claim = %+v, %v; want %q", r, err, files[1])
		}
		again, err := c.Claim(ctx, client.ClaimRequest{ProjectID: p, UserID: "alice", Files: files})
		if err != nil || again.Lock.File != files[1] || !again.Renewed || again.Lock.Token != r.Lock.Token {
			t.Fatalf("second Claim = %+v, %v; want %q renewed", again, err, files[1])
		}
		sw, err := c.Claim(ctx, client.ClaimRequest{ProjectID: p, UserID: "alice", Files: files[2:]})
		if err != nil || sw.Lock.File != files[2] || sw.Released == nil || sw.Released.File != files[1] {
			t.Fatalf("Claim of another list = %+v, %v; want %q, releasing %q", sw, err, files[2], files[1])
		}
		_, err = c.Claim(ctx, client.ClaimRequest{ProjectID: p, UserID: "carol", Files: files[2:3]})
		if fe := wantErr(t, err, filelock.ENoneFree, "*"); fe.Lock != nil {
			t.Fatalf("none_free carries a lock: %+v", fe.Lock)
		}

		for _, f := range []string{files[0], files[2]} {
			l, err := c.Get(ctx, p, f)
			if err != nil || l.File != f {
				t.Fatalf("Get(%q) = %+v, %v", f, l, err)
			}
		}
		if l, err := c.Check(ctx, p, files[2], sw.Lock.Token, "alice"); err != nil || l.Token != sw.Lock.Token || l.File != files[2] {
			t.Fatalf("Check current = %+v, %v", l, err)
		}
		_, err = c.Check(ctx, p, files[2], r.Lock.Token, "alice")
		if fe := wantErr(t, err, filelock.EStaleToken, "token"); fe.Lock == nil || fe.Lock.Token != sw.Lock.Token {
			t.Fatalf("stale_token carries %+v", fe.Lock)
		}
		_, err = c.Check(ctx, p, files[0], held.Lock.Token, "alice")
		if fe := wantErr(t, err, filelock.ENotOwner, "*"); fe.Lock == nil || fe.Lock.User != "bob" {
			t.Fatalf("not_owner carries %+v", fe.Lock)
		}
		_, err = c.Check(ctx, p, files[1], r.Lock.Token, "")
		wantErr(t, err, filelock.ENotLocked, "file")
	})
}

// TestBackendExample runs the README's backend handler: a save with the
// current token is stored; after the lock moved on, the old token is
// refused and nothing is stored.
func TestBackendExample(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T, store.Options) store.Store) {
		opts := store.DefaultOptions()
		st := newStore(t, opts)
		ts := serve(t, handlers.Config{Store: st, Options: opts})
		fl := newClient(t, ts.URL)
		db := &annotations{saved: map[string]savedAnnotation{}}
		backend := httptest.NewServer(saveAnnotation(fl, db))
		t.Cleanup(backend.Close)
		ctx := t.Context()
		const p, file = "labels", "images/cat 1.jpg"
		save := func(user string, token int64, data string) int {
			t.Helper()
			b, _ := json.Marshal(map[string]any{"project_id": p, "file": file, "user_id": user, "token": token, "annotation": json.RawMessage(data)})
			res, err := http.Post(backend.URL, "application/json", bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		first, err := fl.Lock(ctx, client.LockRequest{ProjectID: p, File: file, UserID: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		if code := save("alice", first.Lock.Token, `{"box":[1,2,3,4]}`); code != http.StatusNoContent {
			t.Fatalf("save with the current token: %d", code)
		}
		if code := save("bob", first.Lock.Token, `{"box":[0,0,0,0]}`); code != http.StatusConflict {
			t.Fatalf("save by another user: %d, want 409", code)
		}
		// An admin forces the lock away; alice takes the file again.
		if _, err := fl.Unlock(ctx, client.UnlockRequest{ProjectID: p, File: file, Force: true, UserID: "admin"}); err != nil {
			t.Fatal(err)
		}
		if code := save("alice", first.Lock.Token, `{"box":[9,9,9,9]}`); code != http.StatusConflict {
			t.Fatalf("save after the lock was forced away: %d, want 409", code)
		}
		second, err := fl.Lock(ctx, client.LockRequest{ProjectID: p, File: file, UserID: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		if code := save("alice", first.Lock.Token, `{"box":[8,8,8,8]}`); code != http.StatusConflict {
			t.Fatalf("save with the old token after a new lock: %d, want 409", code)
		}
		db.mu.Lock()
		got := db.saved[p+"/"+file]
		db.mu.Unlock()
		if got.Token != first.Lock.Token || string(got.Data) != `{"box":[1,2,3,4]}` || second.Lock.Token <= first.Lock.Token {
			t.Fatalf("saved %+v (tokens %d, %d), want only the first save", got, first.Lock.Token, second.Lock.Token)
		}
	})
}
