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

// expiredStore reports a lock whose expires_at has passed but that the
// reaper has not released yet.
type expiredStore struct {
	stubStore
	lock filelock.Lock
}

func (s *expiredStore) Status(context.Context, string) (filelock.Status, error) {
	return filelock.Status{ProjectID: s.lock.ProjectID, Locks: []filelock.Lock{s.lock}, LastEventID: "7"}, nil
}

// TestGetLockExpired: a lock past its expires_at is not a lock, even
// before its release: the fencing check refuses its token.
func TestGetLockExpired(t *testing.T) {
	now := time.Now()
	st := &expiredStore{lock: filelock.Lock{ProjectID: "p1", File: "a.jpg", User: "u1", Token: 7,
		AcquiredAt: now.Add(-time.Minute), ExpiresAt: now.Add(-time.Millisecond)}}
	s := startServer(t, handlers.Config{Store: st})
	s.do(http.MethodGet, "/locks/p1/a.jpg?token=7", "").fail(t, http.StatusNotFound, filelock.ENotLocked)
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
