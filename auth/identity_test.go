package auth

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"filelock"
)

func wantErr(t *testing.T, what string, err error, code, field string) {
	t.Helper()
	var fe *filelock.Error
	if !errors.As(err, &fe) || fe.Code != code || fe.Field != field {
		t.Errorf("%s: err = %#v, want code %s field %s", what, err, code, field)
	}
}

func TestIdentityChecks(t *testing.T) {
	anon := Identity{Anonymous: true, All: true, Admin: true}
	user := Identity{User: "user1", Projects: []string{"p1"}}
	admin := Identity{User: "boss", All: true, Admin: true}

	// CheckUser / ResolveUser.
	if err := user.CheckUser("user_id", "user1"); err != nil {
		t.Errorf("own user: %v", err)
	}
	if err := user.CheckUser("user_id", ""); err != nil {
		t.Errorf("omitted user: %v", err)
	}
	wantErr(t, "other user", user.CheckUser("user_id", "user2"), filelock.EUserMismatch, "user_id")
	wantErr(t, "admin as other user", admin.CheckUser("user", "user2"), filelock.EUserMismatch, "user")
	if err := anon.CheckUser("user_id", "anyone"); err != nil {
		t.Errorf("anonymous: %v", err)
	}
	if u, err := user.ResolveUser(""); err != nil || u != "user1" {
		t.Errorf("ResolveUser(\"\") = %q, %v; want sub", u, err)
	}
	if u, err := user.ResolveUser("user1"); err != nil || u != "user1" {
		t.Errorf("ResolveUser(sub) = %q, %v", u, err)
	}
	_, err := user.ResolveUser("user2")
	wantErr(t, "ResolveUser(other)", err, filelock.EUserMismatch, "user_id")
	_, err = user.ResolveUser("bad\x01")
	wantErr(t, "ResolveUser(invalid) jwt", err, filelock.EInvalid, "user_id")
	if u, err := anon.ResolveUser("사용자"); err != nil || u != "사용자" {
		t.Errorf("anonymous ResolveUser = %q, %v", u, err)
	}
	_, err = anon.ResolveUser("")
	wantErr(t, "anonymous ResolveUser(\"\")", err, filelock.EInvalid, "user_id")

	// CheckProject.
	if err := user.CheckProject("p1"); err != nil {
		t.Errorf("listed project: %v", err)
	}
	wantErr(t, "unlisted project", user.CheckProject("p2"), filelock.EForbidden, "project_id")
	wantErr(t, "no projects", Identity{User: "u"}.CheckProject("p1"), filelock.EForbidden, "project_id")
	if admin.CheckProject("zzz") != nil || anon.CheckProject("zzz") != nil {
		t.Error("All / anonymous must access every project")
	}

	// CheckForce.
	wantErr(t, "non-admin force", user.CheckForce(), filelock.EForbidden, "force")
	wantErr(t, "non-admin with all projects force", Identity{User: "u", All: true}.CheckForce(), filelock.EForbidden, "force")
	if admin.CheckForce() != nil || anon.CheckForce() != nil {
		t.Error("admin / anonymous must be allowed to force")
	}
}

func TestTokenFromRequest(t *testing.T) {
	cases := []struct {
		url, header, want string
	}{
		{"/x", "", ""},
		{"/x", "Bearer abc.def.ghi", "abc.def.ghi"},
		{"/x", "bearer   abc  ", "abc"},
		{"/x", "BEARER abc", "abc"},
		{"/x?token=q", "Bearer h", "h"},
		{"/x?token=q", "Basic dXNlcjpwdw==", "q"},
		{"/x?token=q", "Bearer ", "q"},
		{"/x?token=a%2Bb", "", "a+b"},
		{"/x", "Bearerabc", ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", c.url, nil)
		if c.header != "" {
			r.Header.Set("Authorization", c.header)
		}
		if got := TokenFromRequest(r); got != c.want {
			t.Errorf("TokenFromRequest(%s, %q) = %q, want %q", c.url, c.header, got, c.want)
		}
	}
}

func TestTokenFromAuth(t *testing.T) {
	cases := []struct {
		auth any
		want string
	}{
		{nil, ""},
		{map[string]any{}, ""},
		{map[string]any{"token": "t"}, "t"},
		{map[string]any{"token": 5}, ""},
		{"t", ""},
	}
	for _, c := range cases {
		if got := TokenFromAuth(c.auth); got != c.want {
			t.Errorf("TokenFromAuth(%#v) = %q, want %q", c.auth, got, c.want)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	v := mustNew(t, Config{Mode: "jwt", Secret: testSecret})
	r := httptest.NewRequest("GET", "/events/p1?token="+mustMint(t, testSecret, "u9", []string{"p1"}, false, time.Minute), nil)
	id, err := v.Authenticate(r)
	if err != nil || id.User != "u9" {
		t.Errorf("Authenticate via ?token=: %+v, %v", id, err)
	}
	_, err = v.Authenticate(httptest.NewRequest("GET", "/events/p1", nil))
	wantErr(t, "Authenticate without token", err, filelock.EUnauthorized, "")
}
