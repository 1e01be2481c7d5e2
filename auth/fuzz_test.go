package auth

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"filelock"
)

const fuzzSecret = "fuzz-secret-0123456789abcdef0123456789"

// fuzzVerifiers are one verifier per algorithm, over keys committed in
// testdata (public keys only).
func fuzzVerifiers(tb testing.TB) map[string]*Verifier {
	vs := map[string]*Verifier{}
	for alg, cfg := range map[string]Config{
		"HS256": {Mode: ModeJWT, Secret: fuzzSecret},
		"RS256": {Mode: ModeJWT, PublicKeyFile: "testdata/fuzz_rsa.pub.pem"},
		"ES256": {Mode: ModeJWT, PublicKeyFile: "testdata/fuzz_ec.pub.pem"},
	} {
		v, err := New(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		vs[alg] = v
	}
	return vs
}

// FuzzVerify feeds arbitrary strings to the token verifier of each
// algorithm. It must never panic, must refuse with unauthorized, and may
// accept only a token whose header names the verifier's algorithm, whose
// signature checks out independently of the JWT library, that has an exp
// in the future, and whose claims are valid identifiers.
func FuzzVerify(f *testing.F) {
	vs := fuzzVerifiers(f)
	rsaKey := vs["RS256"].key.(*rsa.PublicKey)
	ecKey := vs["ES256"].key.(*ecdsa.PublicKey)
	none, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		if id, err := none.Verify(token); err != nil || !id.Anonymous {
			t.Fatalf("none mode refused a token: %v", err)
		}
		for alg, v := range vs {
			id, err := v.Verify(token)
			if err != nil {
				var fe *filelock.Error
				if !errors.As(err, &fe) || fe.Code != filelock.EUnauthorized || fe.Message == "" {
					t.Fatalf("%s: refusal %#v is not an unauthorized *filelock.Error", alg, err)
				}
				if len(token) > 16 && strings.Contains(fe.Message, token) {
					t.Fatalf("%s: message echoes the token", alg)
				}
				continue
			}
			parts := strings.Split(token, ".")
			if len(parts) != 3 {
				t.Fatalf("%s accepted a token of %d parts", alg, len(parts))
			}
			var hdr struct{ Alg string }
			hb, err := base64.RawURLEncoding.DecodeString(parts[0])
			if err != nil || json.Unmarshal(hb, &hdr) != nil || hdr.Alg != alg {
				t.Fatalf("%s accepted a token with header %q", alg, hb)
			}
			sig, err := base64.RawURLEncoding.DecodeString(parts[2])
			if err != nil {
				t.Fatalf("%s accepted an undecodable signature", alg)
			}
			sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
			switch alg {
			case "HS256":
				mac := hmac.New(sha256.New, []byte(fuzzSecret))
				mac.Write([]byte(parts[0] + "." + parts[1]))
				if !hmac.Equal(mac.Sum(nil), sig) {
					t.Fatal("HS256 accepted a wrong MAC")
				}
			case "RS256":
				if rsa.VerifyPKCS1v15(rsaKey, 5 /* crypto.SHA256 */, sum[:], sig) != nil {
					t.Fatal("RS256 accepted a wrong signature")
				}
			case "ES256":
				if len(sig) != 64 || !ecdsa.Verify(ecKey, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
					t.Fatal("ES256 accepted a wrong signature")
				}
			}
			if id.Anonymous || filelock.ValidateUser("sub", id.User) != nil {
				t.Fatalf("%s: bad identity %+v", alg, id)
			}
			if id.Expires.IsZero() || id.Expires.Before(time.Now().Add(-testLeeway-time.Second)) {
				t.Fatalf("%s: accepted a token expiring %v", alg, id.Expires)
			}
			for _, p := range id.Projects {
				if filelock.ValidateProjectID(p) != nil {
					t.Fatalf("%s: invalid project %q in identity", alg, p)
				}
			}
		}
	})
}

// FuzzTokenFromRequest checks the token extraction from an arbitrary
// Authorization header and query string: no panic, and the result is the
// Bearer credentials when there are some, else the token parameter.
func FuzzTokenFromRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, header, rawQuery string) {
		r := &http.Request{Header: http.Header{}, URL: &url.URL{Path: "/", RawQuery: rawQuery}}
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		got := TokenFromRequest(r)
		want := ""
		if len(header) >= 7 && strings.EqualFold(header[:7], "bearer ") {
			want = strings.TrimSpace(header[7:])
		}
		if want == "" {
			want = r.URL.Query().Get("token")
		}
		if got != want {
			t.Fatalf("TokenFromRequest(%q, %q) = %q, want %q", header, rawQuery, got, want)
		}
	})
}

// TestFuzzSeedsAccepted makes sure the committed corpus reaches the
// accepting path of FuzzVerify for every algorithm (its keys match).
func TestFuzzSeedsAccepted(t *testing.T) {
	vs := fuzzVerifiers(nil)
	for seed, alg := range map[string]string{"seed00": "HS256", "seed01": "HS256", "seed10": "RS256", "seed11": "RS256", "seed13": "ES256"} {
		b, err := os.ReadFile("testdata/fuzz/FuzzVerify/" + seed)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		tok, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", seed, err)
		}
		if _, err := vs[alg].Verify(tok); err != nil {
			t.Errorf("%s (%s): %v", seed, alg, err)
		}
	}
}
