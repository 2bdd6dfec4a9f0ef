package encryption

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// key returns a base64 key of n bytes, all b.
func key(n int, b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, n)) }

func doc(body string) string {
	return "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n" + body
}

func mustParse(t testing.TB, s string) *Config {
	t.Helper()
	c, err := Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var secrets = schema.GroupResource{Resource: "secrets"}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"no resources", "  []\n", "resources: at least one entry"},
		{"no providers", "- resources: [secrets]\n", "resources[0].providers: at least one provider"},
		{"no resource names", "- providers: [{identity: {}}]\n", "resources[0].resources: at least one resource"},
		{"two kinds in one provider", "- resources: [secrets]\n  providers:\n  - identity: {}\n    aescbc: {keys: [{name: a, secret: " + key(32, 1) + "}]}\n", "resources[0].providers[0]: exactly one of"},
		{"kms", "- resources: [secrets]\n  providers:\n  - kms: {name: x}\n", "kms provider is not supported"},
		{"short aes key", "- resources: [secrets]\n  providers:\n  - aescbc: {keys: [{name: k, secret: " + key(15, 1) + "}]}\n", "resources[0].providers[0].aescbc.keys[0].secret: an aescbc key is 16, 24 or 32 bytes (AES-128, -192, -256), this one is 15"},
		{"secretbox 16", "- resources: [secrets]\n  providers:\n  - identity: {}\n  - secretbox: {keys: [{name: k, secret: " + key(16, 1) + "}]}\n", "resources[0].providers[1].secretbox.keys[0].secret: a secretbox key is 32 bytes"},
		{"not base64", "- resources: [secrets]\n  providers:\n  - aesgcm: {keys: [{name: k, secret: 'not base64!'}]}\n", "aesgcm.keys[0].secret is not valid base64"},
		{"no key name", "- resources: [secrets]\n  providers:\n  - aesgcm: {keys: [{secret: " + key(32, 1) + "}]}\n", "keys[0].name is required"},
		{"colon in name", "- resources: [secrets]\n  providers:\n  - aesgcm: {keys: [{name: 'a:b', secret: " + key(32, 1) + "}]}\n", "cannot contain ':'"},
		{"no keys", "- resources: [secrets]\n  providers:\n  - aesgcm: {keys: []}\n", "aesgcm.keys: at least one key"},
		{"duplicate key name", "- resources: [secrets]\n  providers:\n  - aesgcm: {keys: [{name: k, secret: " + key(32, 1) + "}, {name: k, secret: " + key(32, 2) + "}]}\n", "names must be unique"},
		{"unknown field", "- resources: [secrets]\n  providers:\n  - aescbcc: {keys: []}\n", "unknown field"},
		{"duplicate resource", "- resources: [secrets]\n  providers: [{identity: {}}]\n- resources: [secrets]\n  providers: [{identity: {}}]\n", `resources[1].resources[0] "secrets" is never used: secrets`},
		{"wildcard before", "- resources: ['*.*']\n  providers: [{identity: {}}]\n- resources: [deployments.apps]\n  providers: [{identity: {}}]\n", `"deployments.apps" is never used: *.*`},
		{"group wildcard", "- resources: ['*.apps', deployments.apps]\n  providers: [{identity: {}}]\n", "already covers it"},
		{"bare star", "- resources: ['*']\n  providers: [{identity: {}}]\n", "say *.* for every resource"},
		{"subresource", "- resources: [pods/status]\n  providers: [{identity: {}}]\n", "subresources are stored with their resource"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(doc(tc.body)))
			if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrBadConfig containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), key(32, 1)) || strings.Contains(err.Error(), key(15, 1)) {
				t.Fatalf("the error shows a key: %v", err)
			}
		})
	}
	if _, err := Parse([]byte("apiVersion: v1\nkind: EncryptionConfiguration\nresources: []")); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("wrong apiVersion: %v", err)
	}
	if _, err := Parse([]byte("apiVersion: apiserver.config.k8s.io/v1\nkind: Foo\n")); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("wrong kind: %v", err)
	}
}

func TestFor(t *testing.T) {
	c := mustParse(t, doc(`
- resources: [events]
  providers: [{identity: {}}]
- resources: [secrets, configmaps, widgets.example.com]
  providers: [{aescbc: {keys: [{name: k1, secret: `+key(32, 1)+`}]}}]
- resources: ['*.apps']
  providers: [{aesgcm: {keys: [{name: k2, secret: `+key(32, 2)+`}]}}]
- resources: ['*.']
  providers: [{secretbox: {keys: [{name: k3, secret: `+key(32, 3)+`}]}}]
- resources: ['*.*']
  providers: [{aesgcm: {keys: [{name: k4, secret: `+key(16, 4)+`}]}}]
`))
	for _, tc := range []struct {
		gr   schema.GroupResource
		want string // the writer's prefix, "" for identity
	}{
		{schema.GroupResource{Resource: "events"}, ""},
		{secrets, "k8s:enc:aescbc:v1:k1:"},
		{schema.GroupResource{Resource: "configmaps"}, "k8s:enc:aescbc:v1:k1:"},
		{schema.GroupResource{Group: "example.com", Resource: "widgets"}, "k8s:enc:aescbc:v1:k1:"},
		{schema.GroupResource{Group: "apps", Resource: "deployments"}, "k8s:enc:aesgcm:v1:k2:"},
		{schema.GroupResource{Resource: "pods"}, "k8s:enc:secretbox:v1:k3:"},
		{schema.GroupResource{Group: "batch", Resource: "jobs"}, "k8s:enc:aesgcm:v1:k4:"},
	} {
		tr := c.For(tc.gr)
		out, err := tr.Encrypt([]byte("/k"), []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if bytes.HasPrefix(out, []byte(envelope)) {
			got, _ = prefixOf(out)
		}
		if got != tc.want {
			t.Errorf("%s: written with %q, want %q", tc.gr, got, tc.want)
		}
	}
	only := mustParse(t, doc("- resources: [secrets]\n  providers: [{aescbc: {keys: [{name: k, secret: "+key(32, 1)+"}]}}]\n"))
	if only.For(schema.GroupResource{Resource: "configmaps"}) != nil {
		t.Fatal("configmaps are not listed: want the nil transformer")
	}
	var none *Config
	if none.For(secrets) != nil {
		t.Fatal("a nil Config encrypts nothing")
	}
}

// providers is one transformer per provider kind and key size.
func providers(t testing.TB) map[string]*Transformer {
	out := map[string]*Transformer{}
	for _, p := range []struct {
		kind string
		n    int
	}{{"aescbc", 16}, {"aescbc", 24}, {"aescbc", 32}, {"aesgcm", 16}, {"aesgcm", 32}, {"secretbox", 32}} {
		c := mustParse(t, doc(fmt.Sprintf("- resources: [secrets]\n  providers: [{%s: {keys: [{name: key1, secret: %s}]}}]\n", p.kind, key(p.n, 7))))
		out[fmt.Sprintf("%s-%d", p.kind, p.n)] = c.For(secrets)
	}
	return out
}

// TestRoundTrip: every provider decrypts what it encrypted, for random
// payloads (empty, block-sized, odd), never stores the plain text, and
// never writes the same ciphertext twice.
func TestRoundTrip(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	for name, tr := range providers(t) {
		t.Run(name, func(t *testing.T) {
			kind, _, _ := strings.Cut(name, "-")
			for i := 0; i < 300; i++ {
				n := rng.IntN(2100)
				if i < 34 {
					n = i // every length around the block size
				}
				plain := make([]byte, n)
				for j := range plain {
					plain[j] = byte(rng.UintN(256))
				}
				if n >= 8 {
					copy(plain, "PLAINTXT")
				}
				k := []byte(fmt.Sprintf("/registry/secrets/ns/s%d", i))
				a, err := tr.Encrypt(k, plain)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := tr.Encrypt(k, plain)
				if !bytes.HasPrefix(a, []byte("k8s:enc:"+kind+":v1:key1:")) {
					t.Fatalf("seed %d: stored value starts %q", seed, a[:min(len(a), 30)])
				}
				if bytes.Equal(a, b) {
					t.Fatalf("seed %d: two encryptions of one value are equal (no random IV/nonce)", seed)
				}
				if n >= 8 && bytes.Contains(a, []byte("PLAINTXT")) {
					t.Fatalf("seed %d: the stored value holds the plain text", seed)
				}
				got, stale, err := tr.Decrypt(k, a)
				if err != nil || stale || !bytes.Equal(got, plain) {
					t.Fatalf("seed %d len %d: decrypt = %d bytes, stale %v, err %v", seed, n, len(got), stale, err)
				}
			}
		})
	}
}

// TestTampered: a changed byte anywhere in an authenticated value fails;
// for aescbc, a change to the padding block or the IV fails (the IV's
// change would garble the decoder's magic; the padding's the check).
func TestTampered(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	k := []byte("/registry/secrets/default/s")
	plain := bytes.Repeat([]byte("secret data "), 20)
	for name, tr := range providers(t) {
		stored, _ := tr.Encrypt(k, plain)
		pfx, _ := prefixOf(stored)
		if strings.HasPrefix(name, "aescbc") {
			// XOR 0x80 into the last byte of the second-to-last block:
			// the padding byte becomes >= 0x80, never valid.
			bad := bytes.Clone(stored)
			bad[len(bad)-17] ^= 0x80
			if _, _, err := tr.Decrypt(k, bad); !errors.Is(err, ErrDecrypt) {
				t.Errorf("%s: tampered padding: err %v, want ErrDecrypt", name, err)
			}
			bad = bytes.Clone(stored)
			bad = bad[:len(bad)-1]
			if _, _, err := tr.Decrypt(k, bad); !errors.Is(err, ErrDecrypt) {
				t.Errorf("%s: truncated: err %v, want ErrDecrypt", name, err)
			}
			continue
		}
		for i := 0; i < 200; i++ {
			bad := bytes.Clone(stored)
			pos := len(pfx) + rng.IntN(len(bad)-len(pfx))
			bad[pos] ^= byte(1 + rng.UintN(255))
			got, _, err := tr.Decrypt(k, bad)
			if !errors.Is(err, ErrDecrypt) || got != nil {
				t.Fatalf("seed %d %s: byte %d tampered: err %v, %d bytes returned", seed, name, pos, err, len(got))
			}
		}
		if _, _, err := tr.Decrypt(k, stored[:len(pfx)+3]); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: truncated: %v", name, err)
		}
	}
}

// TestAESGCMBindsTheKey: an aesgcm value copied to another store key does
// not decrypt there.
func TestAESGCMBindsTheKey(t *testing.T) {
	tr := providers(t)["aesgcm-32"]
	stored, _ := tr.Encrypt([]byte("/registry/secrets/a/s"), []byte("v"))
	if _, _, err := tr.Decrypt([]byte("/registry/secrets/b/s"), stored); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("copied to another key: err %v, want ErrDecrypt", err)
	}
}

func TestWrongAndUnknownKeys(t *testing.T) {
	k := []byte("/registry/secrets/default/s")
	for _, kind := range []string{"aescbc", "aesgcm", "secretbox"} {
		one := mustParse(t, doc(fmt.Sprintf("- resources: [secrets]\n  providers: [{%s: {keys: [{name: key1, secret: %s}]}}]\n", kind, key(32, 1)))).For(secrets)
		stored, _ := one.Encrypt(k, []byte("the value, long enough to be more than one AES block"))

		// The same name, another secret.
		wrong := mustParse(t, doc(fmt.Sprintf("- resources: [secrets]\n  providers: [{%s: {keys: [{name: key1, secret: %s}]}}]\n", kind, key(32, 2)))).For(secrets)
		got, _, err := wrong.Decrypt(k, stored)
		if kind == "aescbc" {
			// CBC cannot tell a wrong key but by the padding (1 in ~256
			// keys pass it): either an error or not the plain text.
			if err == nil && bytes.Contains(got, []byte("the value")) {
				t.Fatalf("aescbc: a wrong key returned the plain text")
			}
		} else if !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), `key "key1"`) {
			t.Fatalf("%s wrong secret: %v", kind, err)
		}

		// Another name: the key is not configured.
		other := mustParse(t, doc(fmt.Sprintf("- resources: [secrets]\n  providers: [{%s: {keys: [{name: key2, secret: %s}]}}, {identity: {}}]\n", kind, key(32, 1)))).For(secrets)
		got, _, err = other.Decrypt(k, stored)
		if !errors.Is(err, ErrUnknownKey) || got != nil || !strings.Contains(err.Error(), kind) || !strings.Contains(err.Error(), `key "key1"`) || !strings.Contains(err.Error(), string(k)) {
			t.Fatalf("%s unknown key: %v", kind, err)
		}
	}
	// A plain value where identity is not listed.
	enc := mustParse(t, doc("- resources: [secrets]\n  providers: [{aesgcm: {keys: [{name: k, secret: "+key(32, 1)+"}]}}]\n")).For(secrets)
	if _, _, err := enc.Decrypt(k, []byte("k8s\x00plain")); !errors.Is(err, ErrNotEncrypted) || !strings.Contains(err.Error(), "identity") {
		t.Fatalf("plain value without identity: %v", err)
	}
	if _, _, err := enc.Decrypt(k, []byte("k8s:enc:aesgcm")); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("malformed envelope: %v", err)
	}
}

// TestProviderOrder: identity first writes plain values and still reads
// the old encrypted ones (decryption's way back); rotation reads both
// keys and reports the old key's values stale.
func TestProviderOrder(t *testing.T) {
	k := []byte("/registry/secrets/default/s")
	enc := mustParse(t, doc("- resources: [secrets]\n  providers:\n  - aescbc: {keys: [{name: key1, secret: "+key(32, 1)+"}]}\n  - identity: {}\n")).For(secrets)
	old, _ := enc.Encrypt(k, []byte("v1"))
	if got, stale, err := enc.Decrypt(k, []byte("plain")); err != nil || !stale || string(got) != "plain" {
		t.Fatalf("aescbc,identity reading a plain value: %q stale %v err %v (want stale: a rewrite encrypts it)", got, stale, err)
	}

	plainFirst := mustParse(t, doc("- resources: [secrets]\n  providers:\n  - identity: {}\n  - aescbc: {keys: [{name: key1, secret: "+key(32, 1)+"}]}\n")).For(secrets)
	if out, _ := plainFirst.Encrypt(k, []byte("v2")); string(out) != "v2" {
		t.Fatalf("identity first: stored %q", out)
	}
	if got, stale, err := plainFirst.Decrypt(k, old); err != nil || !stale || string(got) != "v1" {
		t.Fatalf("identity,aescbc reading an aescbc value: %q stale %v err %v", got, stale, err)
	}
	if got, stale, err := plainFirst.Decrypt(k, []byte("v2")); err != nil || stale || string(got) != "v2" {
		t.Fatalf("identity,aescbc reading a plain value: %q stale %v err %v", got, stale, err)
	}

	rotated := mustParse(t, doc("- resources: [secrets]\n  providers:\n  - aescbc: {keys: [{name: key2, secret: "+key(32, 2)+"}, {name: key1, secret: "+key(32, 1)+"}]}\n")).For(secrets)
	if got, stale, err := rotated.Decrypt(k, old); err != nil || !stale || string(got) != "v1" {
		t.Fatalf("key2,key1 reading a key1 value: %q stale %v err %v", got, stale, err)
	}
	nw, _ := rotated.Encrypt(k, []byte("v3"))
	if !bytes.HasPrefix(nw, []byte("k8s:enc:aescbc:v1:key2:")) {
		t.Fatalf("key2 first: wrote %q", nw[:24])
	}
	if _, stale, _ := rotated.Decrypt(k, nw); stale {
		t.Fatal("a value of the first key is not stale")
	}
	if !rotated.MayBeStale() || !enc.MayBeStale() {
		t.Fatal("two readers: MayBeStale")
	}
	if providers(t)["aesgcm-32"].MayBeStale() {
		t.Fatal("one key, no identity: nothing is stale")
	}
	var none *Transformer
	if out, _ := none.Encrypt(k, []byte("x")); string(out) != "x" {
		t.Fatal("nil transformer")
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load(t.TempDir() + "/missing.yaml"); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("missing file: %v", err)
	}
}

func BenchmarkEncrypt1KiB(b *testing.B) {
	plain := bytes.Repeat([]byte{'x'}, 1024)
	k := []byte("/registry/secrets/default/s")
	for _, name := range []string{"aescbc-32", "aesgcm-32", "secretbox-32"} {
		tr := providers(b)[name]
		stored, _ := tr.Encrypt(k, plain)
		b.Run(name+"/encrypt", func(b *testing.B) {
			b.SetBytes(1024)
			for b.Loop() {
				tr.Encrypt(k, plain)
			}
		})
		b.Run(name+"/decrypt", func(b *testing.B) {
			b.SetBytes(1024)
			for b.Loop() {
				tr.Decrypt(k, stored)
			}
		})
	}
}
