package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strings"
	"time"
)

// JWT tokens, as etcd's --auth-token jwt: a compact JWS (RFC 7515) whose
// claims are {"username", "revision", "exp"}, signed by the member that
// applied the Authenticate entry and verified by any member holding the
// (public) key. They survive restarts and are never looked up: a token is
// valid until exp, for the auth revision it names (ErrAuthOldRevision once
// users or roles change, and the client authenticates again).
//
// Written here from the RFCs (7515, 7518, 8037) with the standard library;
// no JWT library is in the module graph.

// jwtMethod is one signing algorithm ("alg").
type jwtMethod struct {
	alg  string
	kind string // "hmac", "rsa", "rsa-pss", "ecdsa", "eddsa"
	hash crypto.Hash
	// keyBytes is the size of r and s for ECDSA.
	keyBytes int
}

var jwtMethods = map[string]jwtMethod{
	"HS256": {"HS256", "hmac", crypto.SHA256, 0}, "HS384": {"HS384", "hmac", crypto.SHA384, 0}, "HS512": {"HS512", "hmac", crypto.SHA512, 0},
	"RS256": {"RS256", "rsa", crypto.SHA256, 0}, "RS384": {"RS384", "rsa", crypto.SHA384, 0}, "RS512": {"RS512", "rsa", crypto.SHA512, 0},
	"PS256": {"PS256", "rsa-pss", crypto.SHA256, 0}, "PS384": {"PS384", "rsa-pss", crypto.SHA384, 0}, "PS512": {"PS512", "rsa-pss", crypto.SHA512, 0},
	"ES256": {"ES256", "ecdsa", crypto.SHA256, 32}, "ES384": {"ES384", "ecdsa", crypto.SHA384, 48}, "ES512": {"ES512", "ecdsa", crypto.SHA512, 66},
	"EdDSA": {"EdDSA", "eddsa", 0, 0},
}

// jwtSigner signs and verifies tokens with one method and key pair. With
// only a public key it verifies only (its member cannot mint tokens).
type jwtSigner struct {
	method jwtMethod
	priv   crypto.Signer // nil for HMAC and verify-only
	pub    crypto.PublicKey
	secret []byte // HMAC
	ttl    time.Duration
	now    func() time.Time
}

var errVerifyOnly = errors.New("auth: token signing attempted with verify-only key")

// newJWTSigner builds a signer from etcd's options: sign-method, the PEM
// contents of pub-key and priv-key, and ttl.
func newJWTSigner(method string, pubPEM, privPEM []byte, ttl time.Duration, now func() time.Time) (*jwtSigner, error) {
	m, ok := jwtMethods[method]
	if !ok {
		return nil, fmt.Errorf("%w: jwt sign-method %q is not one of HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512, EdDSA", ErrInvalidAuthOpts, method)
	}
	s := &jwtSigner{method: m, ttl: ttl, now: now}
	if m.kind == "hmac" {
		if len(privPEM) == 0 {
			return nil, fmt.Errorf("%w: jwt %s needs priv-key (the shared secret)", ErrInvalidAuthOpts, method)
		}
		s.secret = privPEM
		return s, nil
	}
	if len(privPEM) > 0 {
		k, err := parsePrivateKey(privPEM)
		if err != nil {
			return nil, fmt.Errorf("%w: jwt priv-key: %v", ErrInvalidAuthOpts, err)
		}
		s.priv, s.pub = k, k.Public()
	}
	if len(pubPEM) > 0 {
		k, err := parsePublicKey(pubPEM)
		if err != nil {
			return nil, fmt.Errorf("%w: jwt pub-key: %v", ErrInvalidAuthOpts, err)
		}
		if s.pub != nil {
			eq, ok := s.pub.(interface{ Equal(crypto.PublicKey) bool })
			if !ok || !eq.Equal(k) {
				return nil, fmt.Errorf("%w: jwt pub-key and priv-key do not match", ErrInvalidAuthOpts)
			}
		}
		s.pub = k
	}
	if s.pub == nil {
		return nil, fmt.Errorf("%w: jwt %s needs pub-key or priv-key", ErrInvalidAuthOpts, method)
	}
	var okType bool
	switch m.kind {
	case "rsa", "rsa-pss":
		_, okType = s.pub.(*rsa.PublicKey)
	case "ecdsa":
		var k *ecdsa.PublicKey
		k, okType = s.pub.(*ecdsa.PublicKey)
		okType = okType && (k.Curve.Params().BitSize+7)/8 == m.keyBytes
	case "eddsa":
		_, okType = s.pub.(ed25519.PublicKey)
	}
	if !okType {
		return nil, fmt.Errorf("%w: jwt key type %T does not fit sign-method %s", ErrInvalidAuthOpts, s.pub, method)
	}
	return s, nil
}

func pemBlock(data []byte) ([]byte, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("not PEM")
	}
	return b.Bytes, nil
}

func parsePrivateKey(data []byte) (crypto.Signer, error) {
	der, err := pemBlock(data)
	if err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKCS#8, PKCS#1 or SEC 1 private key")
}

func parsePublicKey(data []byte) (crypto.PublicKey, error) {
	der, err := pemBlock(data)
	if err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return k, nil
	}
	if c, err := x509.ParseCertificate(der); err == nil {
		return c.PublicKey, nil
	}
	return nil, errors.New("not a PKIX or PKCS#1 public key or a certificate")
}

var b64 = base64.RawURLEncoding

type jwtClaims struct {
	Exp      int64  `json:"exp"`
	Revision uint64 `json:"revision"`
	Username string `json:"username"`
}

// sign makes a token for user at auth revision rev.
func (s *jwtSigner) sign(user string, rev uint64) (string, error) {
	if s.method.kind != "hmac" && s.priv == nil {
		return "", errVerifyOnly
	}
	hdr, _ := json.Marshal(map[string]string{"alg": s.method.alg, "typ": "JWT"})
	cl, _ := json.Marshal(jwtClaims{Exp: s.now().Add(s.ttl).Unix(), Revision: rev, Username: user})
	input := b64.EncodeToString(hdr) + "." + b64.EncodeToString(cl)
	sig, err := s.signature([]byte(input))
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return input + "." + b64.EncodeToString(sig), nil
}

func (s *jwtSigner) digest(input []byte) []byte {
	var h hash.Hash
	switch s.method.hash {
	case crypto.SHA256:
		h = sha256.New()
	case crypto.SHA384:
		h = sha512.New384()
	default:
		h = sha512.New()
	}
	h.Write(input)
	return h.Sum(nil)
}

func (s *jwtSigner) signature(input []byte) ([]byte, error) {
	switch s.method.kind {
	case "hmac":
		mac := hmac.New(s.method.hash.New, s.secret)
		mac.Write(input)
		return mac.Sum(nil), nil
	case "rsa":
		return rsa.SignPKCS1v15(rand.Reader, s.priv.(*rsa.PrivateKey), s.method.hash, s.digest(input))
	case "rsa-pss":
		return rsa.SignPSS(rand.Reader, s.priv.(*rsa.PrivateKey), s.method.hash, s.digest(input),
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "ecdsa":
		r, ss, err := ecdsa.Sign(rand.Reader, s.priv.(*ecdsa.PrivateKey), s.digest(input))
		if err != nil {
			return nil, err
		}
		out := make([]byte, 2*s.method.keyBytes)
		r.FillBytes(out[:s.method.keyBytes])
		ss.FillBytes(out[s.method.keyBytes:])
		return out, nil
	case "eddsa":
		return ed25519.Sign(s.priv.(ed25519.PrivateKey), input), nil
	}
	return nil, fmt.Errorf("unknown method %s", s.method.alg)
}

func (s *jwtSigner) verifySig(input, sig []byte) bool {
	switch s.method.kind {
	case "hmac":
		mac := hmac.New(s.method.hash.New, s.secret)
		mac.Write(input)
		return hmac.Equal(mac.Sum(nil), sig)
	case "rsa":
		return rsa.VerifyPKCS1v15(s.pub.(*rsa.PublicKey), s.method.hash, s.digest(input), sig) == nil
	case "rsa-pss":
		return rsa.VerifyPSS(s.pub.(*rsa.PublicKey), s.method.hash, s.digest(input), sig,
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
	case "ecdsa":
		if len(sig) != 2*s.method.keyBytes {
			return false
		}
		r := new(big.Int).SetBytes(sig[:s.method.keyBytes])
		ss := new(big.Int).SetBytes(sig[s.method.keyBytes:])
		return ecdsa.Verify(s.pub.(*ecdsa.PublicKey), s.digest(input), r, ss)
	case "eddsa":
		return ed25519.Verify(s.pub.(ed25519.PublicKey), input, sig)
	}
	return false
}

// verify checks a token's signature, algorithm and expiry and returns who
// it names. Any defect gives ok false, never a panic.
func (s *jwtSigner) verify(token string) (Info, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Info{}, false
	}
	hdrJSON, err1 := b64.DecodeString(parts[0])
	clJSON, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return Info{}, false
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hdrJSON, &hdr) != nil || hdr.Alg != s.method.alg {
		return Info{}, false // never "none", never another algorithm
	}
	if !s.verifySig([]byte(parts[0]+"."+parts[1]), sig) {
		return Info{}, false
	}
	var cl struct {
		Exp      *json.Number `json:"exp"`
		Revision *json.Number `json:"revision"`
		Username *string      `json:"username"`
	}
	dec := json.NewDecoder(bytes.NewReader(clJSON))
	dec.UseNumber()
	if dec.Decode(&cl) != nil || cl.Username == nil || cl.Revision == nil {
		return Info{}, false
	}
	if cl.Exp != nil {
		exp, err := cl.Exp.Float64()
		if err != nil || !s.now().Before(time.Unix(int64(exp), 0)) {
			return Info{}, false
		}
	}
	rev, err := cl.Revision.Float64()
	if err != nil || rev < 1 {
		return Info{}, false
	}
	return Info{User: *cl.Username, Revision: uint64(rev)}, true
}
