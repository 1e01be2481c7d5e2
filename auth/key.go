package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/golang-jwt/jwt/v5"
)

// MinRSABits is the smallest RSA key accepted for RS256.
const MinRSABits = 2048

// loadPublicKey reads a PEM public key and returns it with the one
// algorithm it may verify.
func loadPublicKey(path string) (alg string, key any, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	return parsePublicKey(data)
}

func parsePublicKey(data []byte) (string, any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return "", nil, errors.New("no PEM block found; expected a PEM public key")
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		return "", nil, fmt.Errorf("holds a %s; give the server the public key only", block.Type)
	default:
		return "", nil, fmt.Errorf("PEM block %q is not a public key", block.Type)
	}
	if err != nil {
		return "", nil, err
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return "", nil, fmt.Errorf("RSA key has %d bits; at least %d are required", k.N.BitLen(), MinRSABits)
		}
		return jwt.SigningMethodRS256.Alg(), k, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", nil, fmt.Errorf("EC key is on curve %s; ES256 needs P-256", k.Curve.Params().Name)
		}
		return jwt.SigningMethodES256.Alg(), k, nil
	default:
		return "", nil, fmt.Errorf("key type %T is not supported; use RSA (RS256) or EC P-256 (ES256)", pub)
	}
}
