package handlers_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"filelock"
	"filelock/handlers"
)

// testBadInput checks every rule of SPEC §2 on every endpoint it applies
// to: 400 invalid_request naming the field, and nothing locked.
func testBadInput(t *testing.T, s *server) {
	okLock := `"project_id":"p1","file":"a.jpg","user_id":"user1"`
	cases := []struct {
		name, path, body, field string
	}{
		// Not a JSON object, malformed JSON: the field is the body itself.
		{"empty body", "/lock", "", "body"},
		{"array", "/lock", `[]`, "body"},
		{"null", "/lock", `null`, "body"},
		{"string", "/lock", `"x"`, "body"},
		{"number", "/unlock", `42`, "body"},
		{"truncated", "/lock", `{"project_id":"p1"`, "body"},
		{"bad token", "/lock", `{"project_id":}`, "body"},
		{"trailing data", "/lock", `{` + okLock + `} {}`, "body"},
		{"single quotes", "/heartbeat", `{'project_id':'p1'}`, "body"},
		// Missing fields.
		{"missing project_id", "/lock", `{"file":"a.jpg","user_id":"user1"}`, "project_id"},
		{"missing file", "/lock", `{"project_id":"p1","user_id":"user1"}`, "file"},
		{"missing user_id", "/lock", `{"project_id":"p1","file":"a.jpg"}`, "user_id"},
		{"missing file unlock", "/unlock", `{"project_id":"p1","user_id":"user1"}`, "file"},
		{"missing user_id unlock", "/unlock", `{"project_id":"p1","file":"a.jpg"}`, "user_id"},
		{"missing project_id heartbeat", "/heartbeat", `{"user_id":"user1"}`, "project_id"},
		{"missing user_id heartbeat", "/heartbeat", `{"project_id":"p1"}`, "user_id"},
		{"empty object", "/lock", `{}`, "project_id"},
		{"null project_id", "/lock", `{"project_id":null,"file":"a.jpg","user_id":"user1"}`, "project_id"},
		// Wrong types.
		{"project_id number", "/lock", `{"project_id":5,"file":"a.jpg","user_id":"user1"}`, "project_id"},
		{"file bool", "/lock", `{"project_id":"p1","file":true,"user_id":"user1"}`, "file"},
		{"user_id array", "/lock", `{"project_id":"p1","file":"a.jpg","user_id":["u"]}`, "user_id"},
		{"user_id object", "/heartbeat", `{"project_id":"p1","user_id":{}}`, "user_id"},
		{"ttl string", "/lock", `{` + okLock + `,"ttl_seconds":"90"}`, "ttl_seconds"},
		{"release_previous string", "/lock", `{` + okLock + `,"release_previous":"yes"}`, "release_previous"},
		{"token string", "/unlock", `{` + okLock + `,"token":"42"}`, "token"},
		{"token fraction", "/unlock", `{` + okLock + `,"token":1.5}`, "token"},
		{"force number", "/unlock", `{` + okLock + `,"force":1}`, "force"},
		{"ttl overflow", "/lock", `{` + okLock + `,"ttl_seconds":1e400}`, "ttl_seconds"},
		// project_id: 1-128 of A-Z a-z 0-9 . _ -
		{"project_id empty", "/lock", `{"project_id":"","file":"a.jpg","user_id":"user1"}`, "project_id"},
		{"project_id long", "/lock", `{"project_id":"` + strings.Repeat("p", 129) + `","file":"a.jpg","user_id":"user1"}`, "project_id"},
		{"project_id slash", "/lock", `{"project_id":"a/b","file":"a.jpg","user_id":"user1"}`, "project_id"},
		{"project_id space", "/heartbeat", `{"project_id":"a b","user_id":"user1"}`, "project_id"},
		{"project_id brace", "/unlock", `{"project_id":"a{b}","file":"a.jpg","user_id":"user1"}`, "project_id"},
		{"project_id colon", "/lock", `{"project_id":"a:b","file":"a.jpg","user_id":"user1"}`, "project_id"},
		{"project_id non-ASCII", "/lock", `{"project_id":"프로젝트","file":"a.jpg","user_id":"user1"}`, "project_id"},
		// file: 1-1024 bytes of UTF-8, no control characters, not . or ..
		{"file empty", "/lock", `{"project_id":"p1","file":"","user_id":"user1"}`, "file"},
		{"file dot", "/lock", `{"project_id":"p1","file":".","user_id":"user1"}`, "file"},
		{"file dotdot", "/unlock", `{"project_id":"p1","file":"..","user_id":"user1"}`, "file"},
		{"file long", "/lock", `{"project_id":"p1","file":"` + strings.Repeat("é", 513) + `","user_id":"user1"}`, "file"},
		{"file NUL", "/lock", `{"project_id":"p1","file":"a\u0000b","user_id":"user1"}`, "file"},
		{"file newline", "/lock", `{"project_id":"p1","file":"a\nb","user_id":"user1"}`, "file"},
		{"file unit separator", "/lock", `{"project_id":"p1","file":"a\u001fb","user_id":"user1"}`, "file"},
		{"file DEL", "/lock", `{"project_id":"p1","file":"a\u007fb","user_id":"user1"}`, "file"},
		{"file invalid UTF-8", "/lock", "{\"project_id\":\"p1\",\"file\":\"a\xff\xfeb\",\"user_id\":\"user1\"}", "file"},
		// user_id: 1-256 bytes of UTF-8, no control characters
		{"user_id empty", "/lock", `{"project_id":"p1","file":"a.jpg","user_id":""}`, "user_id"},
		{"user_id long", "/lock", `{"project_id":"p1","file":"a.jpg","user_id":"` + strings.Repeat("u", 257) + `"}`, "user_id"},
		{"user_id tab", "/heartbeat", `{"project_id":"p1","user_id":"a\tb"}`, "user_id"},
		{"user_id CR", "/unlock", `{"project_id":"p1","file":"a.jpg","user_id":"a\rb"}`, "user_id"},
		{"user_id invalid UTF-8", "/heartbeat", "{\"project_id\":\"p1\",\"user_id\":\"\xc3\x28\"}", "user_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := s.post(tc.path, tc.body).fail(t, http.StatusBadRequest, filelock.EInvalid)
			if e.Error.Field != tc.field {
				t.Errorf("field %q, want %q (message %q)", e.Error.Field, tc.field, e.Error.Message)
			}
			if e.Lock != nil {
				t.Errorf("lock in a 400: %+v", e.Lock)
			}
		})
	}
	if st := s.status("p1"); len(st.Locks) != 0 {
		t.Fatalf("bad input locked something: %+v", st.Locks)
	}

	for _, p := range []string{"a%20b", "a%7Bb%7D", strings.Repeat("p", 129), "%C3%A9", "a:b", "a%00"} {
		e := s.do(http.MethodGet, "/status/"+p, "").fail(t, http.StatusBadRequest, filelock.EInvalid)
		if e.Error.Field != "project_id" {
			t.Errorf("GET /status/%s field %q", p, e.Error.Field)
		}
	}

	// The limits themselves are fine; unknown fields are ignored.
	var r lockReply
	body := fmt.Sprintf(`{"project_id":%q,"file":%q,"user_id":%q,"color":"blue","nested":{"x":[1,2]}}`,
		strings.Repeat("p", 128), strings.Repeat("é", 512), strings.Repeat("ü", 128))
	s.post("/lock", body).ok(t, &r)
	if len(r.Lock.File) != 1024 || len(r.Lock.User) != 256 || len(r.Lock.ProjectID) != 128 {
		t.Fatalf("limits: %d %d %d", len(r.Lock.File), len(r.Lock.User), len(r.Lock.ProjectID))
	}
}

func testBodyLimit(t *testing.T, s *server) {
	const limit = 16 << 10
	pad := func(n int) string { // a valid lock body of exactly n bytes
		head := `{"project_id":"p1","file":"a.jpg","user_id":"user1","pad":"`
		return head + strings.Repeat("x", n-len(head)-2) + `"}`
	}
	s.post("/lock", pad(limit)).ok(t, nil)
	s.post("/lock", pad(limit+1)).fail(t, http.StatusRequestEntityTooLarge, filelock.ETooLarge)
	s.post("/unlock", pad(limit*4)).fail(t, http.StatusRequestEntityTooLarge, filelock.ETooLarge)

	// Without a Content-Length (chunked), the limit holds as well.
	req, err := http.NewRequest(http.MethodPost, s.url+"/lock", struct{ *strings.Reader }{strings.NewReader(pad(limit + 100))})
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	s.send(req).fail(t, http.StatusRequestEntityTooLarge, filelock.ETooLarge)
}

// TestFieldNamesExact: members are matched by their exact names (SPEC §2:
// unknown fields are ignored); a name that differs from a field's only in
// case is an unknown field, on every transport, not that field.
func TestFieldNamesExact(t *testing.T) {
	s := startServer(t, handlers.Config{Store: memoryStore(t)})
	var r lockReply
	s.post("/lock", `{"project_id":"p1","file":"a.jpg","user_id":"user1","USER_ID":"admin","File":"b.jpg","Ttl_Seconds":"x"}`).ok(t, &r)
	if r.Lock.User != "user1" || r.Lock.File != "a.jpg" {
		t.Fatalf("lock taken as %+v", r.Lock)
	}
	e := s.post("/lock", `{"Project_ID":"p1","FILE":"a.jpg","User_Id":"user1"}`).fail(t, http.StatusBadRequest, filelock.EInvalid)
	if e.Error.Field != "project_id" {
		t.Errorf("field %q, want project_id", e.Error.Field)
	}
	var p handlers.ClaimParams
	if err := handlers.DecodeParams([]byte(`{"project_id":"p","user_id":"u","Files":7,"files":["x"],"FILES":["y"]}`), &p); err != nil || len(p.Files) != 1 || p.Files[0] != "x" {
		t.Errorf("DecodeParams = %+v, %v", p, err)
	}
	if err := handlers.DecodeParams([]byte(`{"project_id":"p","user_id":"u","files":["x"],"file\u017f":1}`), &p); err != nil {
		t.Errorf("a case-folded name with a non-ASCII letter: %v", err)
	}
}
