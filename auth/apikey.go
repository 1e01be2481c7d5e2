package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
)

// APIKeyHeader is the request header that carries a backend's API key
// (auth.api_keys, SPEC §6).
const APIKeyHeader = "X-API-Key"

// apiKeys holds the SHA-256 of every configured API key, so that a
// presented key is compared with each of them in time independent of its
// content and length.
type apiKeys [][sha256.Size]byte

func newAPIKeys(keys []string) (apiKeys, error) {
	var out apiKeys
	for i, k := range keys {
		if k == "" {
			return nil, fmt.Errorf("auth.api_keys: key %d is empty", i+1)
		}
		out = append(out, sha256.Sum256([]byte(k)))
	}
	return out, nil
}

// match reports whether key is one of the keys. It compares with every key,
// whatever matched before, in constant time.
func (ks apiKeys) match(key string) bool {
	sum := sha256.Sum256([]byte(key))
	found := 0
	for i := range ks {
		found |= subtle.ConstantTimeCompare(sum[:], ks[i][:])
	}
	return found == 1
}

// errAPIKey is the refusal of a wrong API key; it never repeats the key.
var errAPIKey = errors.New("X-API-Key is not one of auth.api_keys")

// apiKeyIdentity is who a request with a valid API key is: an admin of
// every project that may act as any user (the request's user_id), in
// either auth mode.
func apiKeyIdentity() Identity {
	return Identity{Anonymous: true, All: true, Admin: true, APIKey: true}
}

// fromAPIKey resolves the API key header of r: ok is false when r carries
// none; otherwise the key's identity, or unauthorized when the key (even
// an empty one) is not configured.
func (v *Verifier) fromAPIKey(r *http.Request) (id Identity, ok bool, err error) {
	vals, present := r.Header[http.CanonicalHeaderKey(APIKeyHeader)]
	if !present {
		return Identity{}, false, nil
	}
	if len(vals) != 1 || !v.apiKeys.match(vals[0]) {
		return Identity{}, true, unauthorized("%s", errAPIKey.Error())
	}
	return apiKeyIdentity(), true, nil
}
