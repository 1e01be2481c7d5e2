package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"filelock"
)

const testSecret = "test-secret-0123456789abcdef0123456789"

// testLeeway is the leeway of the verifiers whose tests probe it.
const testLeeway = 30 * time.Second

var (
	keysOnce         sync.Once
	rsaKey, rsaOther *rsa.PrivateKey
	ecKey, ecOther   *ecdsa.PrivateKey
)

func keys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		for _, k := range []**rsa.PrivateKey{&rsaKey, &rsaOther} {
			if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
				panic(err)
			}
		}
		for _, k := range []**ecdsa.PrivateKey{&ecKey, &ecOther} {
			if *k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
				panic(err)
			}
		}
	})
}

// writePEM writes one PEM block to a file in a temp dir and returns its path.
func writePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func pkixPEM(t *testing.T, pub any) (path string, pemBytes []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	path = writePEM(t, "PUBLIC KEY", der)
	pemBytes, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, pemBytes
}

func mustNew(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	v, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return v
}

// sign signs claims m with method and key.
func sign(t testing.TB, method jwt.SigningMethod, key any, m jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, m).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

// good returns the claims of a valid token of user1 for project p1.
func good() jwt.MapClaims {
	return jwt.MapClaims{"sub": "user1", "projects": []string{"p1"}, "exp": time.Now().Add(time.Hour).Unix()}
}

func with(m jwt.MapClaims, kv ...any) jwt.MapClaims {
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(m, kv[i].(string))
		} else {
			m[kv[i].(string)] = kv[i+1]
		}
	}
	return m
}

func noneToken(t *testing.T, m jwt.MapClaims) string {
	return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, m)
}

func wantUnauthorized(t *testing.T, v *Verifier, name, token, msgPart string) {
	t.Helper()
	id, err := v.Verify(token)
	var fe *filelock.Error
	if !errors.As(err, &fe) || fe.Code != filelock.EUnauthorized {
		t.Errorf("%s: Verify = %+v, %v; want unauthorized", name, id, err)
		return
	}
	if msgPart != "" && !strings.Contains(fe.Message, msgPart) {
		t.Errorf("%s: message %q does not mention %q", name, fe.Message, msgPart)
	}
}

func TestHS256Matrix(t *testing.T) {
	keys(t)
	v := mustNew(t, Config{Mode: "jwt", Secret: testSecret, Leeway: testLeeway})
	if v.alg != "HS256" || v.Mode() != ModeJWT {
		t.Fatalf("mode/alg = %s/%s", v.Mode(), v.alg)
	}
	sec := []byte(testSecret)
	now := time.Now()

	id, err := v.Verify(sign(t, jwt.SigningMethodHS256, sec, good()))
	if err != nil || id.User != "user1" || id.Anonymous || id.All || id.Admin || len(id.Projects) != 1 || id.Projects[0] != "p1" {
		t.Fatalf("valid token: %+v, %v", id, err)
	}
	if d := id.Expires.Sub(now.Add(time.Hour)); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("Expires = %v, want about %v", id.Expires, now.Add(time.Hour))
	}

	// Within the leeway an expired token still passes; past it, it does not.
	if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, sec, with(good(), "exp", now.Add(-testLeeway/3).Unix()))); err != nil {
		t.Errorf("token expired within the leeway: %v", err)
	}

	valid := sign(t, jwt.SigningMethodHS256, sec, good())
	parts := strings.Split(valid, ".")
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"user1","projects":["*"],"admin":true,"exp":4102444800}`))

	cases := []struct{ name, token, msg string }{
		{"no token", "", "missing token"},
		{"garbage", "not-a-jwt", "malformed"},
		{"too long", strings.Repeat("a", MaxTokenBytes+1), "longer"},
		{"bad signature", sign(t, jwt.SigningMethodHS256, []byte("another-secret-of-enough-length"), good()), "signature"},
		{"tampered payload", parts[0] + "." + forged + "." + parts[2], "signature"},
		{"signature stripped", parts[0] + "." + parts[1] + ".", ""},
		{"alg none", noneToken(t, good()), "HS256"},
		{"HS384 same secret", sign(t, jwt.SigningMethodHS384, sec, good()), "HS256"},
		{"HS512 same secret", sign(t, jwt.SigningMethodHS512, sec, good()), "HS256"},
		{"RS256 token", sign(t, jwt.SigningMethodRS256, rsaKey, good()), "HS256"},
		{"ES256 token", sign(t, jwt.SigningMethodES256, ecKey, good()), "HS256"},
		{"expired", sign(t, jwt.SigningMethodHS256, sec, with(good(), "exp", now.Add(-2*testLeeway).Unix())), "expired"},
		{"no exp", sign(t, jwt.SigningMethodHS256, sec, with(good(), "exp", nil)), "exp"},
		{"exp wrong type", sign(t, jwt.SigningMethodHS256, sec, with(good(), "exp", "tomorrow")), ""},
		{"nbf in future", sign(t, jwt.SigningMethodHS256, sec, with(good(), "nbf", now.Add(2*testLeeway).Unix())), "not valid yet"},
		{"no sub", sign(t, jwt.SigningMethodHS256, sec, with(good(), "sub", nil)), "sub"},
		{"empty sub", sign(t, jwt.SigningMethodHS256, sec, with(good(), "sub", "")), "sub"},
		{"sub with control char", sign(t, jwt.SigningMethodHS256, sec, with(good(), "sub", "user\n1")), "sub"},
		{"sub too long", sign(t, jwt.SigningMethodHS256, sec, with(good(), "sub", strings.Repeat("u", filelock.MaxUserLen+1))), "sub"},
		{"sub not a string", sign(t, jwt.SigningMethodHS256, sec, with(good(), "sub", 42)), ""},
		{"projects a string", sign(t, jwt.SigningMethodHS256, sec, with(good(), "projects", "*")), ""},
		{"projects invalid id", sign(t, jwt.SigningMethodHS256, sec, with(good(), "projects", []string{"p1", "p/2"})), "projects"},
		{"admin a string", sign(t, jwt.SigningMethodHS256, sec, with(good(), "admin", "true")), ""},
	}
	for _, c := range cases {
		wantUnauthorized(t, v, c.name, c.token, c.msg)
	}

	// nbf in the past and a still-valid nbf within leeway are fine.
	if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, sec, with(good(), "nbf", now.Add(testLeeway/3).Unix()))); err != nil {
		t.Errorf("nbf within leeway: %v", err)
	}
}

func TestClaims(t *testing.T) {
	v := mustNew(t, Config{Mode: "jwt", Secret: testSecret})
	sec := []byte(testSecret)
	id, err := v.Verify(sign(t, jwt.SigningMethodHS256, sec, with(good(), "projects", []string{"*"}, "admin", true)))
	if err != nil || !id.All || !id.Admin || !id.CanAccess("anything") {
		t.Errorf("[*] admin: %+v, %v", id, err)
	}
	id, err = v.Verify(sign(t, jwt.SigningMethodHS256, sec, with(good(), "projects", nil)))
	if err != nil || id.All || len(id.Projects) != 0 || id.CanAccess("p1") {
		t.Errorf("no projects claim must mean no project: %+v, %v", id, err)
	}
	id, err = v.Verify(sign(t, jwt.SigningMethodHS256, sec, with(good(), "projects", []string{"a", "b.c_d-e"}, "admin", false)))
	if err != nil || !id.CanAccess("a") || !id.CanAccess("b.c_d-e") || id.CanAccess("c") || id.Admin {
		t.Errorf("two projects: %+v, %v", id, err)
	}
	id, err = v.Verify(sign(t, jwt.SigningMethodHS256, sec, with(good(), "sub", "사용자 1")))
	if err != nil || id.User != "사용자 1" {
		t.Errorf("non-Latin sub: %+v, %v", id, err)
	}
}

func TestRS256(t *testing.T) {
	keys(t)
	path, pubPEM := pkixPEM(t, &rsaKey.PublicKey)
	v := mustNew(t, Config{Mode: "jwt", PublicKeyFile: path})
	if v.alg != "RS256" {
		t.Fatalf("alg = %s", v.alg)
	}
	if id, err := v.Verify(sign(t, jwt.SigningMethodRS256, rsaKey, good())); err != nil || id.User != "user1" {
		t.Fatalf("valid RS256: %+v, %v", id, err)
	}
	cases := []struct{ name, token string }{
		{"HMAC with the public key PEM as secret", sign(t, jwt.SigningMethodHS256, pubPEM, good())},
		{"HMAC with the public key DER as secret", sign(t, jwt.SigningMethodHS256, x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey), good())},
		{"HS256 token", sign(t, jwt.SigningMethodHS256, []byte(testSecret), good())},
		{"other RSA key", sign(t, jwt.SigningMethodRS256, rsaOther, good())},
		{"RS512 same key", sign(t, jwt.SigningMethodRS512, rsaKey, good())},
		{"PS256 same key", sign(t, jwt.SigningMethodPS256, rsaKey, good())},
		{"ES256 token", sign(t, jwt.SigningMethodES256, ecKey, good())},
		{"alg none", noneToken(t, good())},
		{"expired", sign(t, jwt.SigningMethodRS256, rsaKey, with(good(), "exp", time.Now().Add(-time.Hour).Unix()))},
		{"no exp", sign(t, jwt.SigningMethodRS256, rsaKey, with(good(), "exp", nil))},
	}
	for _, c := range cases {
		wantUnauthorized(t, v, c.name, c.token, "")
	}

	// PKCS#1 "RSA PUBLIC KEY" and a certificate carrying the key work too.
	v1 := mustNew(t, Config{Mode: "jwt", PublicKeyFile: writePEM(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey))})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "issuer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rsaKey.PublicKey, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	v2 := mustNew(t, Config{Mode: "jwt", PublicKeyFile: writePEM(t, "CERTIFICATE", der)})
	for _, w := range []*Verifier{v1, v2} {
		if _, err := w.Verify(sign(t, jwt.SigningMethodRS256, rsaKey, good())); err != nil {
			t.Errorf("PKCS#1/certificate key: %v", err)
		}
		wantUnauthorized(t, w, "PKCS#1/cert: HMAC confusion", sign(t, jwt.SigningMethodHS256, pubPEM, good()), "RS256")
	}
}

func TestES256(t *testing.T) {
	keys(t)
	path, pubPEM := pkixPEM(t, &ecKey.PublicKey)
	v := mustNew(t, Config{Mode: "jwt", PublicKeyFile: path})
	if v.alg != "ES256" {
		t.Fatalf("alg = %s", v.alg)
	}
	if id, err := v.Verify(sign(t, jwt.SigningMethodES256, ecKey, with(good(), "admin", true))); err != nil || !id.Admin {
		t.Fatalf("valid ES256: %+v, %v", id, err)
	}
	cases := []struct{ name, token string }{
		{"HMAC with the public key PEM as secret", sign(t, jwt.SigningMethodHS256, pubPEM, good())},
		{"other EC key", sign(t, jwt.SigningMethodES256, ecOther, good())},
		{"RS256 token", sign(t, jwt.SigningMethodRS256, rsaKey, good())},
		{"alg none", noneToken(t, good())},
		{"nbf in future", sign(t, jwt.SigningMethodES256, ecKey, with(good(), "nbf", time.Now().Add(time.Hour).Unix()))},
	}
	for _, c := range cases {
		wantUnauthorized(t, v, c.name, c.token, "")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	keys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	smallPath, _ := pkixPEM(t, &small.PublicKey)
	p384Path, _ := pkixPEM(t, &p384.PublicKey)
	edPath, _ := pkixPEM(t, edPub)
	goodPath, _ := pkixPEM(t, &rsaKey.PublicKey)
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  Config
		msg  string
	}{
		{"unknown mode", Config{Mode: "basic"}, "auth.mode"},
		{"jwt without key", Config{Mode: "jwt"}, "auth.jwt.secret"},
		{"secret and key file", Config{Mode: "jwt", Secret: "x", PublicKeyFile: goodPath}, "both"},
		{"negative leeway", Config{Mode: "jwt", Secret: testSecret, Leeway: -time.Second}, "auth.jwt.leeway"},
		{"short secret", Config{Mode: "jwt", Secret: strings.Repeat("x", MinSecretBytes-1)}, "auth.jwt.secret"},
		{"empty api key", Config{APIKeys: []string{"0123456789abcdef", ""}}, "auth.api_keys"},
		{"missing file", Config{Mode: "jwt", PublicKeyFile: filepath.Join(t.TempDir(), "nope.pem")}, "public_key_file"},
		{"not PEM", Config{Mode: "jwt", PublicKeyFile: notPEM}, "PEM"},
		{"private key", Config{Mode: "jwt", PublicKeyFile: writePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))}, "public key only"},
		{"RSA 1024", Config{Mode: "jwt", PublicKeyFile: smallPath}, "2048"},
		{"EC P-384", Config{Mode: "jwt", PublicKeyFile: p384Path}, "P-256"},
		{"Ed25519", Config{Mode: "jwt", PublicKeyFile: edPath}, "not supported"},
	}
	for _, c := range cases {
		v, err := New(c.cfg)
		if err == nil {
			t.Errorf("%s: New = %+v, want error", c.name, v)
		} else if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.msg)
		}
	}
	for _, mode := range []string{"", "none", "NONE"} {
		v, err := New(Config{Mode: mode})
		if err != nil || v.Mode() != ModeNone {
			t.Errorf("mode %q: %v", mode, err)
		}
	}
}

func TestNoneMode(t *testing.T) {
	v := mustNew(t, Config{Mode: "none"})
	for _, tok := range []string{"", "garbage", "a.b.c"} {
		id, err := v.Verify(tok)
		if err != nil || !id.Anonymous || !id.CanAccess("any") || id.CheckForce() != nil {
			t.Errorf("none mode, token %q: %+v, %v", tok, id, err)
		}
	}
}

func TestMint(t *testing.T) {
	v := mustNew(t, Config{Mode: "jwt", Secret: testSecret})
	tok, err := Mint(testSecret, "user2", []string{"p1", "p2"}, true, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(tok)
	if err != nil || id.User != "user2" || !id.Admin || !id.CanAccess("p2") || id.CanAccess("p3") || id.All {
		t.Fatalf("minted token: %+v, %v", id, err)
	}
	if id.Expires.Before(time.Now()) || id.Expires.After(time.Now().Add(2*time.Minute)) {
		t.Errorf("Expires = %v", id.Expires)
	}
	if _, err := v.Verify(mustMint(t, "other-secret-xxxxxxxxxxxxxxxxxxxxxx", "user2", nil, false, time.Minute)); err == nil {
		t.Error("token of another secret accepted")
	}
	for _, bad := range []struct {
		secret, sub string
		projects    []string
		ttl         time.Duration
	}{
		{"", "u", nil, time.Minute},
		{"s", "", nil, time.Minute},
		{"s", "u\x00", nil, time.Minute},
		{"s", "u", nil, 0},
		{"s", "u", []string{"a b"}, time.Minute},
	} {
		if tok, err := Mint(bad.secret, bad.sub, bad.projects, false, bad.ttl); err == nil {
			t.Errorf("Mint(%q, %q, %q, %v) = %q, want error", bad.secret, bad.sub, bad.projects, bad.ttl, tok)
		}
	}
}

func mustMint(t *testing.T, secret, sub string, projects []string, admin bool, ttl time.Duration) string {
	t.Helper()
	tok, err := Mint(secret, sub, projects, admin, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestValidUntil(t *testing.T) {
	v := mustNew(t, Config{Mode: "jwt", Secret: testSecret, Leeway: 3 * time.Second})
	id, err := v.Verify(mustMint(t, testSecret, "u", nil, false, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got := v.ValidUntil(id); !got.Equal(id.Expires.Add(3 * time.Second)) {
		t.Errorf("ValidUntil = %v, want exp %v + 3s", got, id.Expires)
	}
	none := mustNew(t, Config{Mode: "none"})
	anon, _ := none.Verify("")
	if got := none.ValidUntil(anon); !got.IsZero() {
		t.Errorf("none mode: ValidUntil = %v, want zero", got)
	}
}
