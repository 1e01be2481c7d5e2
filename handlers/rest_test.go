package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"filelock"
	"filelock/handlers"
	"filelock/internal/redistest"
)

func TestRESTMemory(t *testing.T) { testREST(t, memoryStore) }

func TestRESTRedis(t *testing.T) { testREST(t, redisStore(redistest.Start(t))) }

// testREST runs the REST suite over the stores newStore makes.
func testREST(t *testing.T, newStore storeFactory) {
	start := func(t *testing.T) *server {
		return startServer(t, handlers.Config{Store: newStore(t)})
	}
	t.Run("LockShape", func(t *testing.T) { testLockShape(t, start(t)) })
	t.Run("Renew", func(t *testing.T) { testRenew(t, start(t)) })
	t.Run("TTLClamp", func(t *testing.T) { testTTLClamp(t, start(t)) })
	t.Run("Conflicts", func(t *testing.T) { testConflicts(t, start(t)) })
	t.Run("ReleasePrevious", func(t *testing.T) { testReleasePrevious(t, start(t)) })
	t.Run("Unlock", func(t *testing.T) { testUnlock(t, start(t)) })
	t.Run("Heartbeat", func(t *testing.T) { testHeartbeat(t, start(t)) })
	t.Run("Status", func(t *testing.T) { testStatus(t, start(t)) })
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, start(t)) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, start(t)) })
	t.Run("BodyLimit", func(t *testing.T) { testBodyLimit(t, start(t)) })
	t.Run("Health", func(t *testing.T) { testHealth(t, start(t)) })
	t.Run("Claim", func(t *testing.T) { testClaim(t, start(t)) })
	t.Run("ClaimBadInput", func(t *testing.T) { testClaimBadInput(t, start(t)) })
	t.Run("GetLock", func(t *testing.T) { testGetLock(t, start(t)) })
	t.Run("GetLockNames", func(t *testing.T) { testGetLockNames(t, start(t)) })
}

func testLockShape(t *testing.T, s *server) {
	before := time.Now().Add(-time.Second)
	res := s.post("/lock", `{"project_id":"p1","file":"images/a.jpg","user_id":"user1"}`)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(res.body, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["released"]; ok {
		t.Errorf("released present without release_previous: %s", res.body)
	}
	var r lockReply
	res.ok(t, &r)
	if !r.Acquired || r.Renewed || r.HeartbeatIntervalSeconds != 30 {
		t.Errorf("reply %s", res.body)
	}
	l := r.Lock
	if l.ProjectID != "p1" || l.File != "images/a.jpg" || l.User != "user1" || l.Token <= 0 {
		t.Errorf("lock %+v", l)
	}
	if l.AcquiredAt.Before(before) || l.ExpiresAt.Sub(l.AcquiredAt) != 90*time.Second {
		t.Errorf("lock times %v .. %v", l.AcquiredAt, l.ExpiresAt)
	}
	var wire struct {
		Lock map[string]any `json:"lock"`
	}
	_ = json.Unmarshal(res.body, &wire)
	for _, k := range []string{"project_id", "file", "user", "token", "acquired_at", "expires_at"} {
		if _, ok := wire.Lock[k]; !ok {
			t.Errorf("lock lacks %q: %s", k, res.body)
		}
	}
	if ts, _ := wire.Lock["expires_at"].(string); !strings.HasSuffix(ts, "Z") || len(ts) != len(filelock.TimeFormat) {
		t.Errorf("expires_at %q not in %s", ts, filelock.TimeFormat)
	}
}

func testRenew(t *testing.T, s *server) {
	first := s.lock("p1", "a.jpg", "user1")
	second := s.lock("p1", "a.jpg", "user1")
	if !second.Renewed || second.Lock.Token != first.Lock.Token || !second.Lock.AcquiredAt.Equal(first.Lock.AcquiredAt) {
		t.Fatalf("renew: first %+v second %+v", first, second)
	}
	if second.Lock.ExpiresAt.Before(first.Lock.ExpiresAt) {
		t.Fatalf("renew moved expires_at back: %v < %v", second.Lock.ExpiresAt, first.Lock.ExpiresAt)
	}
}

func testTTLClamp(t *testing.T, s *server) {
	for i, tc := range []struct {
		ttl  string
		want time.Duration
	}{{"1", 5 * time.Second}, {"0", 5 * time.Second}, {"-5", 5 * time.Second}, {"12.5", 12500 * time.Millisecond}, {"7200", time.Hour}, {"1e300", time.Hour}, {"60", time.Minute}} {
		var r lockReply
		s.post("/lock", fmt.Sprintf(`{"project_id":"p1","file":"f%d","user_id":"u%d","ttl_seconds":%s}`, i, i, tc.ttl)).ok(t, &r)
		if got := r.Lock.ExpiresAt.Sub(r.Lock.AcquiredAt); got != tc.want {
			t.Errorf("ttl_seconds %s: lifetime %v, want %v", tc.ttl, got, tc.want)
		}
	}
}

func testConflicts(t *testing.T, s *server) {
	held := s.lock("p1", "a.jpg", "user1").Lock
	e := s.post("/lock", map[string]any{"project_id": "p1", "file": "a.jpg", "user_id": "user2"}).fail(t, 409, filelock.EFileLocked)
	if e.Lock == nil || e.Lock.User != "user1" || e.Lock.Token != held.Token || !e.Lock.ExpiresAt.Equal(held.ExpiresAt) {
		t.Errorf("file_locked lock %+v, want %+v", e.Lock, held)
	}
	e = s.post("/lock", map[string]any{"project_id": "p1", "file": "b.jpg", "user_id": "user1"}).fail(t, 409, filelock.EUserHasLock)
	if e.Lock == nil || e.Lock.File != "a.jpg" || e.Lock.User != "user1" {
		t.Errorf("user_has_lock lock %+v", e.Lock)
	}
	// Another project is another world.
	s.lock("p2", "b.jpg", "user1")
}

func testReleasePrevious(t *testing.T, s *server) {
	old := s.lock("p1", "a.jpg", "user1").Lock
	var r lockReply
	s.post("/lock", map[string]any{"project_id": "p1", "file": "b.jpg", "user_id": "user1", "release_previous": true}).ok(t, &r)
	if r.Released == nil || r.Released.File != "a.jpg" || r.Released.Token != old.Token {
		t.Fatalf("released %+v, want the lock of a.jpg", r.Released)
	}
	if r.Lock.File != "b.jpg" || r.Lock.Token <= old.Token {
		t.Fatalf("new lock %+v (old token %d)", r.Lock, old.Token)
	}
	if st := s.status("p1"); len(st.Locks) != 1 || st.Locks[0].File != "b.jpg" {
		t.Fatalf("status locks %+v", st.Locks)
	}
}

func testUnlock(t *testing.T, s *server) {
	unlock := func(body map[string]any) response {
		return s.post("/unlock", body)
	}
	unlock(map[string]any{"project_id": "p1", "file": "a.jpg", "user_id": "user1"}).fail(t, 404, filelock.ENotLocked)

	held := s.lock("p1", "a.jpg", "user1").Lock
	e := unlock(map[string]any{"project_id": "p1", "file": "a.jpg", "user_id": "user2"}).fail(t, 403, filelock.ENotOwner)
	if e.Lock == nil || e.Lock.User != "user1" {
		t.Errorf("not_owner lock %+v", e.Lock)
	}
	unlock(map[string]any{"project_id": "p1", "file": "a.jpg", "user_id": "user1", "token": held.Token + 1000}).fail(t, 409, filelock.EStaleToken)

	var r unlockReply
	unlock(map[string]any{"project_id": "p1", "file": "a.jpg", "user_id": "user1", "token": held.Token}).ok(t, &r)
	if !r.Released || r.Lock.Token != held.Token || r.Lock.User != "user1" || r.Lock.File != "a.jpg" {
		t.Fatalf("unlock reply %+v", r)
	}
	unlock(map[string]any{"project_id": "p1", "file": "a.jpg", "user_id": "user1"}).fail(t, 404, filelock.ENotLocked)

	// force: anyone's lock.
	held = s.lock("p1", "a.jpg", "user1").Lock
	unlock(map[string]any{"project_id": "p1", "file": "a.jpg", "user_id": "admin", "force": true}).ok(t, &r)
	if r.Lock.User != "user1" || r.Lock.Token != held.Token {
		t.Fatalf("forced unlock reply %+v", r)
	}
	if st := s.status("p1"); len(st.Locks) != 0 {
		t.Fatalf("locks after unlock: %+v", st.Locks)
	}
}

func testHeartbeat(t *testing.T, s *server) {
	s.post("/heartbeat", `{"project_id":"p1","user_id":"user1"}`).fail(t, 404, filelock.ENotLocked)
	var lr lockReply
	s.post("/lock", `{"project_id":"p1","file":"a.jpg","user_id":"user1","ttl_seconds":10}`).ok(t, &lr)
	var r heartbeatReply
	s.post("/heartbeat", `{"project_id":"p1","user_id":"user1"}`).ok(t, &r)
	l := r.Lock
	if l.File != "a.jpg" || l.Token != lr.Lock.Token || l.ExpiresAt.Before(lr.Lock.ExpiresAt) {
		t.Fatalf("heartbeat lock %+v after %+v", l, lr.Lock)
	}
	if d := time.Until(l.ExpiresAt); d > 11*time.Second || d < 5*time.Second {
		t.Fatalf("heartbeat extended by the lock's ttl (10s) to %v from now", d)
	}
	s.post("/heartbeat", `{"project_id":"p1","user_id":"user2"}`).fail(t, 404, filelock.ENotLocked)
	s.post("/heartbeat", `{"project_id":"p2","user_id":"user1"}`).fail(t, 404, filelock.ENotLocked)
}

func testStatus(t *testing.T, s *server) {
	res := s.do(http.MethodGet, "/status/fresh", "")
	if !strings.Contains(string(res.body), `"locks":[]`) || !strings.Contains(string(res.body), `"users":[]`) {
		t.Errorf("empty project's arrays not []: %s", res.body)
	}
	st := s.status("fresh")
	if st.ProjectID != "fresh" || st.LastEventID == "" {
		t.Errorf("fresh status %+v", st)
	}
	if ts, err := time.Parse(time.RFC3339Nano, st.ServerTime); err != nil || time.Since(ts).Abs() > time.Minute {
		t.Errorf("server_time %q: %v", st.ServerTime, err)
	}
	before := st.LastEventID
	for i, f := range []string{"c", "a", "B", "b/x"} {
		s.lock("fresh", f, fmt.Sprintf("u%d", i))
	}
	st = s.status("fresh")
	var files []string
	for _, l := range st.Locks {
		files = append(files, l.File)
	}
	if !slices.Equal(files, []string{"B", "a", "b/x", "c"}) {
		t.Errorf("locks by file: %v", files)
	}
	if st.LastEventID == before || st.LastEventID == "" {
		t.Errorf("last_event_id %q after 4 locks (was %q)", st.LastEventID, before)
	}
	if len(st.Users) != 0 {
		t.Errorf("users without connections: %v", st.Users)
	}
}

// testRoundTrip: slashes, spaces, :, {, *, quotes, non-Latin scripts and
// long names are ordinary characters.
func testRoundTrip(t *testing.T, s *server) {
	files := []string{"images/이미지1.jpg", `a b:{c}*"q"'.png`, "/abs/../x", "...", "日本語/ファイル.tif", "e\u0301", strings.Repeat("é", 512)}
	for i, f := range files {
		r := s.lock("Proj_1.x-y", f, fmt.Sprintf("ユーザー%d {*}", i))
		if r.Lock.File != f {
			t.Errorf("file %q came back as %q", f, r.Lock.File)
		}
	}
	st := s.status("Proj_1.x-y")
	got := map[string]string{}
	for _, l := range st.Locks {
		got[l.File] = l.User
	}
	for i, f := range files {
		if got[f] != fmt.Sprintf("ユーザー%d {*}", i) {
			t.Errorf("status lacks %q (has %v)", f, got)
		}
	}
	var r unlockReply
	s.post("/unlock", map[string]any{"project_id": "Proj_1.x-y", "file": files[1], "user_id": "ユーザー1 {*}"}).ok(t, &r)
}

func testHealth(t *testing.T, s *server) {
	var h struct {
		Status string `json:"status"`
	}
	s.do(http.MethodGet, "/healthz", "").ok(t, &h)
	s.do(http.MethodGet, "/readyz", "").ok(t, &h)
	if h.Status != "ready" {
		t.Errorf("readyz %+v", h)
	}
}
