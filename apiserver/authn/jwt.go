package authn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// A compact JWS (RFC 7515) signed with ES256 (RFC 7518 §3.4: ECDSA P-256
// over SHA-256, the signature r||s as two 32-byte big-endian integers) —
// the one algorithm service account tokens use here. Written from the
// RFCs with the standard library: no JWT library is in the module graph.
//
// Verification accepts exactly ES256: a header naming "none", an HMAC or
// any other algorithm is refused before any key is touched, so a public
// key can never be used as an HMAC secret.

const (
	algES256 = "ES256"
	// maxJWTBytes bounds a token before anything is decoded.
	maxJWTBytes = 16 << 10
	es256Bytes  = 32
)

// Errors of the JWS layer. Returned errors wrap these.
var (
	// ErrMalformedJWT: not three base64url segments of JSON.
	ErrMalformedJWT = errors.New("authn: malformed JWT")
	// ErrJWTAlgorithm: a header algorithm other than ES256 (none, HS256...).
	ErrJWTAlgorithm = errors.New("authn: JWT signing algorithm not accepted (want ES256)")
	// ErrJWTSignature: the signature does not verify with the key.
	ErrJWTSignature = errors.New("authn: JWT signature does not verify")
)

var b64 = base64.RawURLEncoding.Strict()

type jwsHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
	Typ string `json:"typ,omitempty"`
}

// keyID is the key's "kid": the unpadded base64url SHA-256 of its PKIX
// DER encoding, stable across servers holding the same key.
func keyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("authn: service account public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// checkES256Key reports whether key is an ECDSA P-256 signer.
func checkES256Key(key crypto.Signer) (*ecdsa.PublicKey, error) {
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("authn: service account signing key is %T, want an ECDSA P-256 key (ES256)", key.Public())
	}
	return pub, nil
}

// signES256 makes a compact JWS of claims (any JSON-encodable value).
func signES256(key crypto.Signer, kid string, claims any) (string, error) {
	hdr, err := json.Marshal(jwsHeader{Alg: algES256, Kid: kid, Typ: "JWT"})
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("authn: encode token claims: %w", err)
	}
	input := b64.EncodeToString(hdr) + "." + b64.EncodeToString(body)
	digest := sha256.Sum256([]byte(input))
	der, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("authn: sign token: %w", err)
	}
	var sig struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &sig); err != nil || len(rest) != 0 || sig.R == nil || sig.S == nil {
		return "", fmt.Errorf("authn: sign token: the signer returned no ASN.1 ECDSA signature")
	}
	raw := make([]byte, 2*es256Bytes)
	sig.R.FillBytes(raw[:es256Bytes])
	sig.S.FillBytes(raw[es256Bytes:])
	return input + "." + b64.EncodeToString(raw), nil
}

// jws is a token split and decoded, not yet verified.
type jws struct {
	header  jwsHeader
	payload []byte // the claims' JSON
	input   string // header.payload, what the signature covers
	sig     []byte
}

// parseJWS splits and decodes a compact JWS without verifying it. Any
// defect is ErrMalformedJWT.
func parseJWS(token string) (*jws, error) {
	if len(token) > maxJWTBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformedJWT, maxJWTBytes)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: want three dot-separated segments", ErrMalformedJWT)
	}
	hdr, err1 := b64.DecodeString(parts[0])
	payload, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedJWT, err)
	}
	j := &jws{payload: payload, input: parts[0] + "." + parts[1], sig: sig}
	if err := json.Unmarshal(hdr, &j.header); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformedJWT, err)
	}
	if !json.Valid(payload) {
		return nil, fmt.Errorf("%w: payload is not JSON", ErrMalformedJWT)
	}
	return j, nil
}

// verifyES256 checks j's algorithm and signature against pub.
func (j *jws) verifyES256(pub *ecdsa.PublicKey) error {
	if j.header.Alg != algES256 {
		return fmt.Errorf("%w: header says %q", ErrJWTAlgorithm, j.header.Alg)
	}
	if len(j.sig) != 2*es256Bytes {
		return fmt.Errorf("%w: an ES256 signature is %d bytes, not %d", ErrJWTSignature, 2*es256Bytes, len(j.sig))
	}
	r := new(big.Int).SetBytes(j.sig[:es256Bytes])
	s := new(big.Int).SetBytes(j.sig[es256Bytes:])
	digest := sha256.Sum256([]byte(j.input))
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return ErrJWTSignature
	}
	return nil
}
