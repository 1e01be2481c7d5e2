package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"filelock"
	"filelock/handlers"
	"filelock/internal/redistest"
	"filelock/store"
	"filelock/store/memory"
)

// getLockPath is the path of GET /locks for file, the whole name escaped
// as one segment (as encodeURIComponent does), with query q.
func getLockPath(project, file, q string) string {
	p := "/locks/" + project + "/" + url.PathEscape(file)
	if q != "" {
		p += "?" + q
	}
	return p
}

// testGetLock: the lock, or 404 not_locked; with token, the fencing check
// (200 only for exactly the current token, stale_token with the lock
// otherwise); with user_id, not_owner with the lock for another user.
func testGetLock(t *testing.T, s *server) {
	const p = "locks-p"
	get := func(file, q string) response { return s.do(http.MethodGet, getLockPath(p, file, q), "") }

	e := get("a.jpg", "").fail(t, http.StatusNotFound, filelock.ENotLocked)
	if e.Error.Field != "file" || e.Lock != nil {
		t.Errorf("not_locked: %+v", e)
	}
	get("a.jpg", "token=42").fail(t, http.StatusNotFound, filelock.ENotLocked)
	get("a.jpg", "user_id=u1").fail(t, http.StatusNotFound, filelock.ENotLocked)

	held := s.lock(p, "a.jpg", "u1").Lock
	var r struct {
		Lock filelock.Lock `json:"lock"`
	}
	for _, q := range []string{"", fmt.Sprintf("token=%d", held.Token), "user_id=u1", fmt.Sprintf("token=%d&user_id=u1", held.Token)} {
		get("a.jpg", q).ok(t, &r)
		if r.Lock != held {
			t.Errorf("?%s: lock %+v, want %+v", q, r.Lock, held)
		}
	}
	for _, tok := range []int64{held.Token - 1, held.Token + 1, 0, -1} {
		e := get("a.jpg", fmt.Sprintf("token=%d", tok)).fail(t, http.StatusConflict, filelock.EStaleToken)
		if e.Error.Field != "token" || e.Lock == nil || *e.Lock != held {
			t.Errorf("stale token %d: %+v", tok, e)
		}
	}
	for _, q := range []string{"user_id=u2", fmt.Sprintf("user_id=u2&token=%d", held.Token), fmt.Sprintf("user_id=u2&token=%d", held.Token+1)} {
		e := get("a.jpg", q).fail(t, http.StatusForbidden, filelock.ENotOwner)
		if e.Lock == nil || *e.Lock != held {
			t.Errorf("?%s: %+v", q, e)
		}
	}

	// A renewal keeps the token; a new acquisition changes it.
	renewed := s.lock(p, "a.jpg", "u1").Lock
	get("a.jpg", fmt.Sprintf("token=%d", held.Token)).ok(t, &r)
	if r.Lock.Token != held.Token || !r.Lock.ExpiresAt.Equal(renewed.ExpiresAt) {
		t.Errorf("after renew: %+v", r.Lock)
	}
	s.post("/unlock", map[string]any{"project_id": p, "file": "a.jpg", "user_id": "u1"}).ok(t, nil)
	get("a.jpg", fmt.Sprintf("token=%d", held.Token)).fail(t, http.StatusNotFound, filelock.ENotLocked)
	next := s.lock(p, "a.jpg", "u2").Lock
	e = get("a.jpg", fmt.Sprintf("token=%d", held.Token)).fail(t, http.StatusConflict, filelock.EStaleToken)
	if e.Lock == nil || *e.Lock != next {
		t.Errorf("token of the previous holder: %+v", e)
	}

	// Bad input: 400 naming the field.
	for _, c := range []struct{ path, field string }{
		{getLockPath(p, "a.jpg", "token=abc"), "token"},
		{getLockPath(p, "a.jpg", "token="), "token"},
		{getLockPath(p, "a.jpg", "token=1.5"), "token"},
		{getLockPath(p, "a.jpg", "token=99999999999999999999"), "token"},
		{getLockPath(p, "a.jpg", "token=1&token=2"), "token"},
		{getLockPath(p, "a.jpg", "user_id="), "user_id"},
		{getLockPath(p, "a.jpg", "user_id=a%01b"), "user_id"},
		{getLockPath(p, "a.jpg", "user_id=%ff"), "user_id"},
		{"/locks/bad%20project/a.jpg", "project_id"},
		{"/locks/" + p + "/", "file"},
		{"/locks/" + p, "file"},
		{"/locks/" + p + "/.", "file"},
		{"/locks/" + p + "/%2E%2E", "file"},
		{"/locks/" + p + "/a%00b", "file"},
		{"/locks/" + p + "/a%ffb", "file"},
		{"/locks/" + p + "/" + strings.Repeat("x", 1025), "file"},
	} {
		e := s.do(http.MethodGet, c.path, "").fail(t, http.StatusBadRequest, filelock.EInvalid)
		if e.Error.Field != c.field {
			t.Errorf("%s: field %q, want %q", c.path, e.Error.Field, c.field)
		}
	}
	s.do(http.MethodPost, getLockPath(p, "a.jpg", ""), "").fail(t, http.StatusNotFound, "not_found")
}

// testGetLockNames: every name SPEC §2 allows round-trips through the path,
// escaped as one segment or with its slashes kept.
func testGetLockNames(t *testing.T, s *server) {
	const p = "names"
	files := []string{"images/이미지1.jpg", `a b:{c}*"q"'.png`, "/abs/../x", "...", "日本語/ファイル.tif", "e\u0301",
		"a?b#c%d&e=f+g", "trailing/", "//double//slash", "100%", "%2F", "semi;colon,comma", "back\\slash", "tab\u00a0nbsp",
		strings.Repeat("é", 512)}
	for i, f := range files {
		user := fmt.Sprintf("user %d", i)
		held := s.lock(p, f, user).Lock
		var r struct {
			Lock filelock.Lock `json:"lock"`
		}
		s.do(http.MethodGet, getLockPath(p, f, fmt.Sprintf("token=%d&user_id=%s", held.Token, url.QueryEscape(user))), "").ok(t, &r)
		if r.Lock.File != f || r.Lock.Token != held.Token {
			t.Errorf("%q escaped whole: got %+v", f, r.Lock)
		}
		// Segment by segment: the slashes travel as they are.
		segs := strings.Split(f, "/")
		for j := range segs {
			segs[j] = url.PathEscape(segs[j])
		}
		s.do(http.MethodGet, "/locks/"+p+"/"+strings.Join(segs, "/"), "").ok(t, &r)
		if r.Lock.File != f {
			t.Errorf("%q with slashes kept: got %q", f, r.Lock.File)
		}
	}
	// Names differing only by a slash or an escape are other files.
	s.do(http.MethodGet, getLockPath(p, "images", ""), "").fail(t, http.StatusNotFound, filelock.ENotLocked)
	s.do(http.MethodGet, getLockPath(p, "trailing", ""), "").fail(t, http.StatusNotFound, filelock.ENotLocked)
	s.do(http.MethodGet, getLockPath(p, "abs/../x", ""), "").fail(t, http.StatusNotFound, filelock.ENotLocked)
}

// TestGetLockExpired: a lock past its expires_at is not a lock, even
// before its release (no reaper runs here): the fencing check refuses its
// token.
func TestGetLockExpired(t *testing.T) {
	st := memory.New(store.Options{DefaultTTL: time.Second, MinTTL: 100 * time.Millisecond, MaxTTL: time.Minute})
	t.Cleanup(func() { _ = st.Close() })
	r, err := st.Acquire(t.Context(), store.AcquireRequest{ProjectID: "p1", File: "a.jpg", User: "u1", TTL: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, handlers.Config{Store: st})
	path := fmt.Sprintf("/locks/p1/a.jpg?token=%d", r.Lock.Token)
	s.do(http.MethodGet, path, "").ok(t, nil)
	for time.Now().Before(r.Lock.ExpiresAt.Add(20 * time.Millisecond)) {
		time.Sleep(10 * time.Millisecond) // until expires_at has passed
	}
	s.do(http.MethodGet, path, "").fail(t, http.StatusNotFound, filelock.ENotLocked)
	s.do(http.MethodGet, "/locks/p1/a.jpg", "").fail(t, http.StatusNotFound, filelock.ENotLocked)
}

// TestGetLockTwoInstances: the fencing check answers from the shared
// store, whichever instance took or gave up the lock.
func TestGetLockTwoInstances(t *testing.T) {
	srvs := redisInstances(t, redistest.Start(t), rtOptions(), nil)
	a, b := srvs[0], srvs[1]
	const p = "fence-2"
	held := a.lock(p, "images/x.jpg", "u1").Lock
	var r struct {
		Lock filelock.Lock `json:"lock"`
	}
	b.do(http.MethodGet, getLockPath(p, "images/x.jpg", fmt.Sprintf("token=%d&user_id=u1", held.Token)), "").ok(t, &r)
	if r.Lock != held {
		t.Fatalf("instance b sees %+v, a took %+v", r.Lock, held)
	}
	b.post("/unlock", map[string]any{"project_id": p, "file": "images/x.jpg", "user_id": "u1"}).ok(t, nil)
	a.do(http.MethodGet, getLockPath(p, "images/x.jpg", fmt.Sprintf("token=%d", held.Token)), "").fail(t, http.StatusNotFound, filelock.ENotLocked)
	next := b.lock(p, "images/x.jpg", "u2").Lock
	e := a.do(http.MethodGet, getLockPath(p, "images/x.jpg", fmt.Sprintf("token=%d", held.Token)), "").fail(t, http.StatusConflict, filelock.EStaleToken)
	if e.Lock == nil || *e.Lock != next || next.Token <= held.Token {
		t.Fatalf("stale check on a: %+v (new lock %+v)", e, next)
	}
}

// TestGetLockJWTUserMismatch: in auth.mode jwt the token's sub is the
// user (SPEC §6): the fencing check's user_id may name only that user;
// another is 403 user_mismatch (field user_id, no lock), whoever holds the
// file. An API key may name any user.
func TestGetLockJWTUserMismatch(t *testing.T) {
	s := jwtServer(t, time.Second, withAPIKeys(t, "jwt"))
	alice := token(t, "alice", []string{"p1"}, false, time.Hour)
	bob := token(t, "bob", []string{"p1"}, true, time.Hour)
	var lr lockReply
	s.callAs(alice, http.MethodPost, "/lock", `{"project_id":"p1","file":"a.jpg"}`).ok(t, &lr)
	tok := lr.Lock.Token
	s.callAs(alice, http.MethodGet, fmt.Sprintf("/locks/p1/a.jpg?token=%d&user_id=alice", tok), "").ok(t, nil)
	s.callAs(bob, http.MethodGet, fmt.Sprintf("/locks/p1/a.jpg?token=%d", tok), "").ok(t, nil)
	for _, c := range []struct{ tok, q string }{
		{alice, fmt.Sprintf("token=%d&user_id=bob", tok)},
		{alice, "user_id=bob"},
		{bob, fmt.Sprintf("token=%d&user_id=alice", tok)}, // admin allows force, not another user
		{bob, "user_id=alice"},
	} {
		e := s.callAs(c.tok, http.MethodGet, "/locks/p1/a.jpg?"+c.q, "").fail(t, http.StatusForbidden, filelock.EUserMismatch)
		if e.Error.Field != "user_id" || e.Lock != nil {
			t.Errorf("?%s: %+v", c.q, e)
		}
	}
	// Not locked: still user_mismatch, not not_locked.
	s.callAs(alice, http.MethodGet, "/locks/p1/b.jpg?user_id=bob", "").fail(t, http.StatusForbidden, filelock.EUserMismatch)
	s.callKey(apiKey, "", http.MethodGet, fmt.Sprintf("/locks/p1/a.jpg?token=%d&user_id=alice", tok), "").ok(t, nil)
	s.callKey(apiKey, "", http.MethodGet, "/locks/p1/a.jpg?user_id=bob", "").fail(t, http.StatusForbidden, filelock.ENotOwner)
}

// lookupStore answers Lock with its lock (not_locked for another file) and
// every other call, Status included, with store_unavailable.
type lookupStore struct {
	stubStore
	lock filelock.Lock
}

func (s *lookupStore) Lock(_ context.Context, projectID, file string) (filelock.Lock, error) {
	if projectID != s.lock.ProjectID || file != s.lock.File {
		return filelock.Lock{}, store.ErrNotLocked(file)
	}
	return s.lock, nil
}

// TestGetLockLooksUpOneFile: the fencing check asks the store for the one
// file (Store.Lock), not for the project's whole status, and keeps its
// error rules: token → stale_token, user_id → not_owner, both with the lock.
func TestGetLockLooksUpOneFile(t *testing.T) {
	now := time.Now()
	st := &lookupStore{stubStore: stubStore{err: store.Unavailable(fmt.Errorf("down"))},
		lock: filelock.Lock{ProjectID: "p1", File: "a.jpg", User: "u1", Token: 7, AcquiredAt: now, ExpiresAt: now.Add(time.Minute)}}
	s := startServer(t, handlers.Config{Store: st})
	var got struct{ Lock filelock.Lock }
	s.do(http.MethodGet, "/locks/p1/a.jpg?token=7&user_id=u1", "").ok(t, &got)
	if got.Lock.Token != 7 || got.Lock.User != "u1" {
		t.Fatalf("lock %+v", got.Lock)
	}
	s.do(http.MethodGet, "/locks/p1/a.jpg?token=8", "").fail(t, http.StatusConflict, filelock.EStaleToken)
	s.do(http.MethodGet, "/locks/p1/a.jpg?token=7&user_id=u2", "").fail(t, http.StatusForbidden, filelock.ENotOwner)
	s.do(http.MethodGet, "/locks/p1/b.jpg", "").fail(t, http.StatusNotFound, filelock.ENotLocked)
}
