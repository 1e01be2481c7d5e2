package auth

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"filelock"
)

// TokenFromRequest returns the token a request carries: TokenFromHeader,
// else the "token" query parameter (for EventSource and browser WebSocket,
// which cannot set headers), else "".
func TokenFromRequest(r *http.Request) string {
	if tok := TokenFromHeader(r); tok != "" {
		return tok
	}
	return r.URL.Query().Get("token")
}

// TokenFromHeader returns the credentials of an "Authorization: Bearer
// <token>" header (scheme case-insensitive), else "". Routes whose query
// has a "token" of their own (the fencing check) read the JWT only here.
func TokenFromHeader(r *http.Request) string {
	if h := r.Header.Get("Authorization"); len(h) > len("bearer ") && strings.EqualFold(h[:len("bearer ")], "bearer ") {
		return strings.TrimSpace(h[len("bearer "):])
	}
	return ""
}

// TokenFromAuth returns the "token" entry of a Socket.IO handshake's auth
// object (`io({auth: {token}})`), or "" when there is none or it is not a string.
func TokenFromAuth(auth any) string {
	if m, ok := auth.(map[string]any); ok {
		if tok, ok := m["token"].(string); ok {
			return tok
		}
	}
	return ""
}

// Authenticate is AuthenticateToken(r, TokenFromRequest(r)).
func (v *Verifier) Authenticate(r *http.Request) (Identity, error) {
	return v.AuthenticateToken(r, TokenFromRequest(r))
}

// AuthenticateToken says who the request r is, in either mode: with an
// X-API-Key header, the API key's identity (anonymous, every project,
// admin), or unauthorized when the key is not one of auth.api_keys; without
// one, Verify(token). Keys are compared in constant time and never appear
// in an error.
func (v *Verifier) AuthenticateToken(r *http.Request, token string) (Identity, error) {
	if id, ok, err := v.fromAPIKey(r); ok {
		return id, err
	}
	return v.Verify(token)
}

// Mint returns an HS256 token for sub, valid for ttl from now, with the
// projects claim (nil or empty: no project; "*": all) and the admin claim.
// It is the counterpart of a Verifier built with Config{Mode: "jwt",
// Secret: secret}, for operators (cmd/filelock-token) and tests.
func Mint(secret, sub string, projects []string, admin bool, ttl time.Duration) (string, error) {
	if secret == "" {
		return "", errors.New("auth: empty secret")
	}
	if err := filelock.ValidateUser("sub", sub); err != nil {
		return "", err
	}
	if ttl <= 0 {
		return "", errors.New("auth: ttl must be positive")
	}
	for _, p := range projects {
		if p != "*" && filelock.ValidateProjectID(p) != nil {
			return "", errors.New("auth: project " + p + " is neither a project id nor \"*\"")
		}
	}
	now := time.Now()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   sub,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Projects: projects,
		Admin:    admin,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
}
