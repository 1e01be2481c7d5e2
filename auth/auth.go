// Package auth decides who a request is (SPEC §6). In mode "none" everyone is
// an anonymous identity that may name any user and touch any project; in mode
// "jwt" every request carries a signed token whose claims say who the user is
// (sub), which projects they may touch (projects) and whether they may force
// an unlock (admin).
//
// The accepted signature algorithm is pinned to the configured key: an HMAC
// secret accepts only HS256, an RSA public key only RS256, an EC P-256 public
// key only ES256. "none" and any other algorithm are always refused, so a
// token cannot pick its own verification method (no HS/RS key confusion).
package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"filelock"
)

// Modes of auth.mode.
const (
	ModeNone = "none"
	ModeJWT  = "jwt"
)

// MinSecretBytes is the shortest HS256 secret accepted (RFC 7518 §3.2: a
// key at least as long as the hash output).
const MinSecretBytes = 32

// MaxTokenBytes bounds the length of a token; longer ones are refused
// before any decoding.
const MaxTokenBytes = 8 << 10

// Config is the auth section of the configuration.
type Config struct {
	Mode          string        // ModeNone (also "") or ModeJWT
	Secret        string        // auth.jwt.secret: HS256 key
	PublicKeyFile string        // auth.jwt.public_key_file: PEM RSA (RS256) or EC P-256 (ES256) public key
	Leeway        time.Duration // auth.jwt.leeway: clock skew allowed on exp/nbf (0: none)
	Audience      string        // auth.jwt.audience: when set, the token's aud must contain it
	Issuer        string        // auth.jwt.issuer: when set, the token's iss must equal it
	APIKeys       []string      // auth.api_keys: X-API-Key values of backends, in either mode
}

// Verifier turns request tokens into identities. It is safe for concurrent use.
type Verifier struct {
	mode    string
	apiKeys apiKeys
	alg     string // the one accepted algorithm in jwt mode
	key     any    // []byte, *rsa.PublicKey or *ecdsa.PublicKey
	leeway  time.Duration
	parser  *jwt.Parser
}

// New checks cfg and builds a Verifier. In jwt mode exactly one of Secret
// (at least MinSecretBytes) and PublicKeyFile must be set; the key file must
// hold a PEM public key (PKIX "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY" or a
// "CERTIFICATE") of RSA ≥ 2048 bits or ECDSA P-256. API keys are accepted in
// either mode and must not be empty. Errors name the configuration key at
// fault.
func New(cfg Config) (*Verifier, error) {
	keys, err := newAPIKeys(cfg.APIKeys)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(strings.TrimSpace(cfg.Mode)) {
	case "", ModeNone:
		return &Verifier{mode: ModeNone, apiKeys: keys}, nil
	case ModeJWT:
	default:
		return nil, fmt.Errorf("auth.mode: %q is not one of none, jwt", cfg.Mode)
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("auth.jwt.leeway: %v must not be negative", cfg.Leeway)
	}
	v := &Verifier{mode: ModeJWT, apiKeys: keys, leeway: cfg.Leeway}
	switch {
	case cfg.Secret != "" && cfg.PublicKeyFile != "":
		return nil, errors.New("auth.jwt.secret and auth.jwt.public_key_file are both set; set exactly one")
	case cfg.Secret != "":
		if len(cfg.Secret) < MinSecretBytes {
			return nil, fmt.Errorf("auth.jwt.secret: an HS256 secret must be at least %d bytes (it is %d)", MinSecretBytes, len(cfg.Secret))
		}
		v.alg, v.key = jwt.SigningMethodHS256.Alg(), []byte(cfg.Secret)
	case cfg.PublicKeyFile != "":
		alg, key, err := loadPublicKey(cfg.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("auth.jwt.public_key_file: %w", err)
		}
		v.alg, v.key = alg, key
	default:
		return nil, errors.New("auth.mode is jwt but neither auth.jwt.secret nor auth.jwt.public_key_file is set")
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{v.alg}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Mode is ModeNone or ModeJWT.
func (v *Verifier) Mode() string { return v.mode }

// ValidUntil is the instant after which Verify refuses the token id was
// verified from: its exp plus the leeway. A long-lived connection opened
// with the token is closed then. It is the zero time for an identity
// without expiry (mode none, an API key).
func (v *Verifier) ValidUntil(id Identity) time.Time {
	if id.Expires.IsZero() {
		return time.Time{}
	}
	return id.Expires.Add(v.leeway)
}

// claims is the payload of a filelock token.
type claims struct {
	jwt.RegisteredClaims
	Projects []string `json:"projects,omitempty"`
	Admin    bool     `json:"admin,omitempty"`
}

// Verify returns the identity a token proves. In none mode the token is
// ignored and the identity is Anonymous. In jwt mode a missing, malformed,
// wrongly signed, expired (exp is required), not-yet-valid token, or one
// whose sub is not a valid user (SPEC §2) or whose projects claim is not a
// list of project ids or "*", or (when configured) whose aud does not name
// Config.Audience or whose iss is not Config.Issuer, gives an unauthorized
// *filelock.Error.
func (v *Verifier) Verify(token string) (Identity, error) {
	if v.mode == ModeNone {
		return Identity{Anonymous: true, All: true, Admin: true}, nil
	}
	if token == "" {
		return Identity{}, unauthorized("missing token: send Authorization: Bearer <token> or ?token=")
	}
	if len(token) > MaxTokenBytes {
		return Identity{}, unauthorized("token is longer than %d bytes", MaxTokenBytes)
	}
	var c claims
	tok, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if t.Method.Alg() != v.alg { // WithValidMethods already refused it; keep the pin local too
			return nil, fmt.Errorf("algorithm %s is not accepted", t.Method.Alg())
		}
		return v.key, nil
	})
	if err != nil {
		if tok != nil && tok.Method != nil && tok.Method.Alg() != v.alg {
			return Identity{}, unauthorized("token is signed with %.20q; this server accepts only %s", tok.Method.Alg(), v.alg)
		}
		return Identity{}, unauthorized("%s", describe(err, v.alg))
	}
	if filelock.ValidateUser("sub", c.Subject) != nil {
		return Identity{}, unauthorized("token claim sub must be a user id of 1-%d bytes of UTF-8 without control characters", filelock.MaxUserLen)
	}
	id := Identity{User: c.Subject, Admin: c.Admin}
	for _, p := range c.Projects {
		if p == "*" {
			id.All = true
			continue
		}
		if filelock.ValidateProjectID(p) != nil {
			return Identity{}, unauthorized("token claim projects: %q is neither a project id nor \"*\"", p)
		}
		id.Projects = append(id.Projects, p)
	}
	if c.ExpiresAt != nil {
		id.Expires = c.ExpiresAt.Time
	}
	return id, nil
}

// describe says why a token was refused, without echoing the token.
func describe(err error, alg string) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "token is malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "token signature is invalid"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "token is not signed with " + alg + ", the only algorithm this server accepts"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		for _, c := range []string{"aud", "iss"} {
			if strings.Contains(err.Error(), c+" claim") {
				return "token has no " + c + " claim; this server requires one"
			}
		}
		return "token has no exp claim; exp is required"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token is not valid yet (nbf)"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "token aud does not name this server's auth.jwt.audience"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "token iss is not this server's auth.jwt.issuer"
	default:
		return "token is invalid"
	}
}

func unauthorized(format string, args ...any) *filelock.Error {
	return filelock.Errorf(filelock.EUnauthorized, format, args...)
}
