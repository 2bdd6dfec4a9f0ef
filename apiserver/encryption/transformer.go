package encryption

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"

	"golang.org/x/crypto/nacl/secretbox"
)

// envelope is the start of every encrypted value:
// k8s:enc:<provider>:v1:<key name>:<ciphertext>.
const envelope = "k8s:enc:"

// Transformer encrypts the values of one resources[] entry with its first
// provider and decrypts them with any of its providers. A nil
// *Transformer stores values as they are (no entry names the resource).
// Safe for concurrent use.
type Transformer struct {
	// writer encrypts new values; nil when identity is the first provider.
	writer provider
	// readers decrypt, by their prefix "k8s:enc:<provider>:v1:<name>:".
	readers map[string]provider
	// identity: plain values (no envelope) are read as they are.
	identity bool
}

// Encrypt returns the stored form of plain, the value of store key key:
// the first provider's prefix and ciphertext (plain itself when identity
// is first, or t is nil). plain is not modified.
func (t *Transformer) Encrypt(key, plain []byte) ([]byte, error) {
	if t == nil || t.writer == nil {
		return plain, nil
	}
	return t.writer.seal(key, plain)
}

// Decrypt returns the plain form of stored, the value of store key key.
// stale reports a value not written by the first provider and key: a
// rewrite would store it with them (key rotation). Errors wrap
// ErrUnknownKey, ErrNotEncrypted or ErrDecrypt and name the provider and
// key, never the value.
func (t *Transformer) Decrypt(key, stored []byte) (plain []byte, stale bool, err error) {
	if t == nil {
		return stored, false, nil
	}
	if !bytes.HasPrefix(stored, []byte(envelope)) {
		if !t.identity {
			return nil, false, fmt.Errorf("%w (key %s): the configuration does not list the identity provider for it; add `- identity: {}` as the last provider to read values written before encryption was enabled", ErrNotEncrypted, key)
		}
		return stored, t.writer != nil, nil
	}
	pfx, ok := prefixOf(stored)
	if !ok {
		return nil, false, fmt.Errorf("%w (key %s): its envelope is malformed (want k8s:enc:<provider>:v1:<key name>:)", ErrDecrypt, key)
	}
	p, ok := t.readers[pfx]
	if !ok {
		return nil, false, fmt.Errorf("%w: key %s was written with %s, which the encryption configuration does not list for this resource: add that key back to its providers (the old key must stay until every value is rewritten)",
			ErrUnknownKey, key, describePrefix(pfx))
	}
	plain, err = p.open(key, stored[len(pfx):])
	if err != nil {
		return nil, false, fmt.Errorf("%w (key %s, %s): %w: is that key's secret the one it was written with?", ErrDecrypt, key, describePrefix(pfx), err)
	}
	return plain, p != t.writer, nil
}

// MayBeStale reports whether some readable value would be stale: more
// than one provider or key can read. With one, Decrypt never says stale.
func (t *Transformer) MayBeStale() bool {
	if t == nil {
		return false
	}
	n := len(t.readers)
	if t.identity {
		n++
	}
	return n > 1
}

// prefixOf returns stored's "k8s:enc:<provider>:v1:<name>:".
func prefixOf(stored []byte) (string, bool) {
	i := len(envelope)
	for range 3 { // provider, version, name
		j := bytes.IndexByte(stored[i:], ':')
		if j <= 0 || j > 256 {
			return "", false
		}
		i += j + 1
	}
	return string(stored[:i]), true
}

// describePrefix names a prefix's provider and key for errors:
// `aescbc key "key1"`.
func describePrefix(pfx string) string {
	parts := bytes.Split([]byte(pfx[len(envelope):len(pfx)-1]), []byte(":"))
	if len(parts) != 3 {
		return "an unknown provider"
	}
	return fmt.Sprintf("%s (%s) key %q", parts[0], parts[1], parts[2])
}

// provider is one key of one provider.
type provider interface {
	prefix() string
	seal(key, plain []byte) ([]byte, error)
	open(key, ciphertext []byte) ([]byte, error)
}

func newProvider(kind, name string, secret []byte) (provider, error) {
	pfx := envelope + kind + ":v1:" + name + ":"
	switch kind {
	case "aescbc", "aesgcm":
		switch len(secret) {
		case 16, 24, 32:
		default:
			return nil, fmt.Errorf("an %s key is 16, 24 or 32 bytes (AES-128, -192, -256), this one is %d: generate one with: head -c 32 /dev/urandom | base64", kind, len(secret))
		}
		block, err := aes.NewCipher(secret)
		if err != nil {
			return nil, err
		}
		if kind == "aescbc" {
			return &cbc{pfx: pfx, block: block}, nil
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		return &gcm{pfx: pfx, aead: aead}, nil
	case "secretbox":
		if len(secret) != 32 {
			return nil, fmt.Errorf("a secretbox key is 32 bytes, this one is %d: generate one with: head -c 32 /dev/urandom | base64", len(secret))
		}
		sb := &box{pfx: pfx}
		copy(sb.key[:], secret)
		return sb, nil
	}
	return nil, fmt.Errorf("unknown provider %q", kind)
}

// cbc is aescbc: prefix, a random 16-byte IV, then AES-CBC of the value
// padded as PKCS#7. CBC authenticates nothing: a value copied to another
// store key still decrypts, and tampering is caught only by the padding
// check and the decoder after it (Kubernetes' format; prefer aesgcm or
// secretbox).
type cbc struct {
	pfx   string
	block cipher.Block
}

func (c *cbc) prefix() string { return c.pfx }

func (c *cbc) seal(_, plain []byte) ([]byte, error) {
	bs := c.block.BlockSize()
	pad := bs - len(plain)%bs
	out := make([]byte, len(c.pfx)+bs+len(plain)+pad)
	n := copy(out, c.pfx)
	iv := out[n : n+bs]
	if _, err := io.ReadFull(rand.Reader, iv); err != nil {
		return nil, fmt.Errorf("encryption: random IV: %w", err)
	}
	body := out[n+bs:]
	copy(body, plain)
	for i := len(plain); i < len(body); i++ {
		body[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(c.block, iv).CryptBlocks(body, body)
	return out, nil
}

func (c *cbc) open(_, data []byte) ([]byte, error) {
	bs := c.block.BlockSize()
	if len(data) < 2*bs || len(data)%bs != 0 {
		return nil, fmt.Errorf("the ciphertext is %d bytes: not an IV and whole blocks", len(data))
	}
	iv, body := data[:bs], data[bs:]
	plain := make([]byte, len(body))
	cipher.NewCBCDecrypter(c.block, iv).CryptBlocks(plain, body)
	pad := int(plain[len(plain)-1])
	// The whole padding is checked, without branching on its bytes.
	bad := subtle.ConstantTimeLessOrEq(pad, 0) | subtle.ConstantTimeLessOrEq(bs+1, pad)
	for i := 1; i <= bs; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i, pad)
		eq := subtle.ConstantTimeByteEq(plain[len(plain)-i], byte(pad))
		bad |= inPad & (eq ^ 1)
	}
	if bad != 0 {
		return nil, fmt.Errorf("the padding is invalid")
	}
	return plain[:len(plain)-pad], nil
}

// gcm is aesgcm: prefix, a random 12-byte nonce, then AES-GCM of the
// value with the store key as additional data (a value copied to another
// key fails to open). Random nonces: rotate the key well before 2^32
// writes (Kubernetes' advice for this provider).
type gcm struct {
	pfx  string
	aead cipher.AEAD
}

func (g *gcm) prefix() string { return g.pfx }

func (g *gcm) seal(key, plain []byte) ([]byte, error) {
	ns := g.aead.NonceSize()
	out := make([]byte, len(g.pfx)+ns, len(g.pfx)+ns+len(plain)+g.aead.Overhead())
	n := copy(out, g.pfx)
	nonce := out[n : n+ns]
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, fmt.Errorf("encryption: random nonce: %w", err)
	}
	return g.aead.Seal(out, nonce, plain, key), nil
}

func (g *gcm) open(key, data []byte) ([]byte, error) {
	ns := g.aead.NonceSize()
	if len(data) < ns+g.aead.Overhead() {
		return nil, fmt.Errorf("the ciphertext is %d bytes: shorter than a nonce and a tag", len(data))
	}
	plain, err := g.aead.Open(nil, data[:ns], data[ns:], key)
	if err != nil {
		return nil, fmt.Errorf("authentication failed (a wrong key, a tampered value, or one copied from another key)")
	}
	return plain, nil
}

// box is secretbox: prefix, a random 24-byte nonce, then NaCl secretbox
// (XSalsa20-Poly1305) of the value. It authenticates the value, not the
// store key (Kubernetes' format).
type box struct {
	pfx string
	key [32]byte
}

func (b *box) prefix() string { return b.pfx }

func (b *box) seal(_, plain []byte) ([]byte, error) {
	var nonce [24]byte
	if _, err := io.ReadFull(rand.Reader, nonce[:]); err != nil {
		return nil, fmt.Errorf("encryption: random nonce: %w", err)
	}
	out := make([]byte, 0, len(b.pfx)+len(nonce)+len(plain)+secretbox.Overhead)
	out = append(append(out, b.pfx...), nonce[:]...)
	return secretbox.Seal(out, plain, &nonce, &b.key), nil
}

func (b *box) open(_, data []byte) ([]byte, error) {
	if len(data) < 24+secretbox.Overhead {
		return nil, fmt.Errorf("the ciphertext is %d bytes: shorter than a nonce and a tag", len(data))
	}
	var nonce [24]byte
	copy(nonce[:], data)
	plain, ok := secretbox.Open(nil, data[24:], &nonce, &b.key)
	if !ok {
		return nil, fmt.Errorf("authentication failed (a wrong key or a tampered value)")
	}
	return plain, nil
}
