package auth

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"filelock"
)

// TestLeewayAsConfigured: the leeway is exactly auth.jwt.leeway, 0 included
// (no silent default in its place).
func TestLeewayAsConfigured(t *testing.T) {
	sec := []byte(testSecret)
	past := with(good(), "exp", time.Now().Add(-5*time.Second).Unix())
	strict := mustNew(t, Config{Mode: "jwt", Secret: testSecret})
	wantUnauthorized(t, strict, "leeway 0, expired 5s ago", sign(t, jwt.SigningMethodHS256, sec, past), "expired")
	loose := mustNew(t, Config{Mode: "jwt", Secret: testSecret, Leeway: 10 * time.Second})
	if _, err := loose.Verify(sign(t, jwt.SigningMethodHS256, sec, past)); err != nil {
		t.Errorf("leeway 10s, expired 5s ago: %v", err)
	}
	wantUnauthorized(t, loose, "leeway 10s, expired 20s ago",
		sign(t, jwt.SigningMethodHS256, sec, with(good(), "exp", time.Now().Add(-20*time.Second).Unix())), "expired")
}

// TestAudienceIssuer: when set, aud must name auth.jwt.audience and iss
// must equal auth.jwt.issuer; when not set, neither is looked at.
func TestAudienceIssuer(t *testing.T) {
	sec := []byte(testSecret)
	v := mustNew(t, Config{Mode: "jwt", Secret: testSecret, Audience: "filelock", Issuer: "https://idp.example"})
	ok := func() jwt.MapClaims { return with(good(), "aud", "filelock", "iss", "https://idp.example") }
	if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, sec, ok())); err != nil {
		t.Errorf("matching aud and iss: %v", err)
	}
	if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, sec, with(ok(), "aud", []string{"other", "filelock"}))); err != nil {
		t.Errorf("aud list naming the audience: %v", err)
	}
	for _, c := range []struct {
		name string
		m    jwt.MapClaims
		msg  string
	}{
		{"no aud", with(ok(), "aud", nil), "aud"},
		{"other aud", with(ok(), "aud", "someone-else"), "aud"},
		{"aud list without it", with(ok(), "aud", []string{"a", "b"}), "aud"},
		{"no iss", with(ok(), "iss", nil), "iss"},
		{"other iss", with(ok(), "iss", "https://evil.example"), "iss"},
	} {
		wantUnauthorized(t, v, c.name, sign(t, jwt.SigningMethodHS256, sec, c.m), c.msg)
	}
	open := mustNew(t, Config{Mode: "jwt", Secret: testSecret})
	if _, err := open.Verify(sign(t, jwt.SigningMethodHS256, sec, with(good(), "aud", "anything", "iss", "anyone"))); err != nil {
		t.Errorf("unconfigured aud/iss checked: %v", err)
	}
}

// TestAPIKeys: in either mode, a configured X-API-Key is an anonymous admin
// of every project; a wrong or empty one is unauthorized and the error never
// repeats it; without the header the token decides.
func TestAPIKeys(t *testing.T) {
	const key, other = "backend-key-0123456789", "second-key-abcdefghij"
	for _, mode := range []string{ModeNone, ModeJWT} {
		v := mustNew(t, Config{Mode: mode, Secret: map[string]string{ModeJWT: testSecret}[mode], APIKeys: []string{key, other}})
		for _, k := range []string{key, other} {
			r := httptest.NewRequest("GET", "/status/p1", nil)
			r.Header.Set(APIKeyHeader, k)
			id, err := v.Authenticate(r)
			if err != nil || !id.Anonymous || !id.APIKey || !id.All || !id.Admin || !id.Expires.IsZero() {
				t.Errorf("%s: key %q: %+v, %v", mode, k, id, err)
			}
			if u, err := id.ResolveUser("anyone"); err != nil || u != "anyone" {
				t.Errorf("%s: API key acting as anyone: %q, %v", mode, u, err)
			}
			if id.CheckForce() != nil || id.CheckProject("any-project") != nil {
				t.Errorf("%s: API key is not an admin of every project", mode)
			}
		}
		for _, bad := range []string{"", key + "x", key[:len(key)-1], "wrong-key-0123456789"} {
			r := httptest.NewRequest("GET", "/status/p1", nil)
			r.Header.Set(APIKeyHeader, bad)
			// A valid token beside a wrong key does not rescue it.
			r.Header.Set("Authorization", "Bearer "+mustMint(t, testSecret, "u", []string{"*"}, true, time.Minute))
			_, err := v.Authenticate(r)
			wantErr(t, mode+" wrong key "+bad, err, filelock.EUnauthorized, "")
			if bad != "" && err != nil && strings.Contains(err.Error(), bad) {
				t.Errorf("%s: error %q repeats the key", mode, err)
			}
		}
		r := httptest.NewRequest("GET", "/status/p1", nil)
		r.Header.Add(APIKeyHeader, key)
		r.Header.Add(APIKeyHeader, "another")
		_, err := v.Authenticate(r)
		wantErr(t, mode+" two keys", err, filelock.EUnauthorized, "")
	}
	// No keys configured: any key is wrong, in mode none too.
	none := mustNew(t, Config{})
	r := httptest.NewRequest("GET", "/status/p1", nil)
	r.Header.Set(APIKeyHeader, key)
	_, err := none.Authenticate(r)
	wantErr(t, "no keys configured", err, filelock.EUnauthorized, "")
	if id, err := none.Authenticate(httptest.NewRequest("GET", "/", nil)); err != nil || !id.Anonymous || id.APIKey {
		t.Errorf("none mode without a key: %+v, %v", id, err)
	}
}
