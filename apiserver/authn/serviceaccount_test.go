package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// fakeObjects is a Lookup over a map, with a separate "cache" view that
// may lag the "store" (fresh) view.
type fakeObjects struct {
	mu    sync.Mutex
	store map[string]any
	cache map[string]any // nil: the cache is the store
	reads []bool         // fresh of each Get
	err   error
}

func newFakeObjects() *fakeObjects { return &fakeObjects{store: map[string]any{}} }

func objKey(kind, ns, name string) string { return kind + "/" + ns + "/" + name }

func (f *fakeObjects) put(kind, ns, name string, o any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.store[objKey(kind, ns, name)] = o
}

func (f *fakeObjects) del(kind, ns, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.store, objKey(kind, ns, name))
}

func (f *fakeObjects) Get(_ context.Context, kind, ns, name string, fresh bool) (any, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, fresh)
	if f.err != nil {
		return nil, false, f.err
	}
	m := f.store
	if !fresh && f.cache != nil {
		m = f.cache
	}
	o, ok := m[objKey(kind, ns, name)]
	return o, ok, nil
}

func meta(ns, name, uid string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}
}

type saFixture struct {
	objs *fakeObjects
	key  *ecdsa.PrivateKey
	now  time.Time
	sa   *ServiceAccountTokens
}

func newSAFixture(t testing.TB) *saFixture {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &saFixture{objs: newFakeObjects(), key: key, now: time.Unix(1_700_000_000, 0)}
	f.objs.put(KindServiceAccount, "ns", "robot", &corev1.ServiceAccount{ObjectMeta: meta("ns", "robot", "sa-uid")})
	f.objs.put(KindPod, "ns", "web", &corev1.Pod{ObjectMeta: meta("ns", "web", "pod-uid")})
	f.objs.put(KindSecret, "ns", "s", &corev1.Secret{ObjectMeta: meta("ns", "s", "secret-uid")})
	f.objs.put(KindNode, "", "n1", &corev1.Node{ObjectMeta: meta("", "n1", "node-uid")})
	f.sa, err = NewServiceAccountTokens(ServiceAccountConfig{Key: key, Lookup: f.objs, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *saFixture) issue(t testing.TB, spec TokenSpec) string {
	t.Helper()
	if spec.Namespace == "" {
		spec.Namespace = "ns"
		spec.ServiceAccount = ObjectRef{Name: "robot", UID: "sa-uid"}
	}
	if spec.Lifetime == 0 {
		spec.Lifetime = time.Hour
	}
	tok, exp, err := f.sa.Issue(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(f.now.Add(spec.Lifetime)) {
		t.Fatalf("expiry %v, want %v", exp, f.now.Add(spec.Lifetime))
	}
	return tok
}

// resign re-signs a token whose payload was edited, with key (an attacker
// with another key, or ours to build well-signed bad claims).
func resign(t *testing.T, key *ecdsa.PrivateKey, tok string, edit func(map[string]any)) string {
	t.Helper()
	j, err := parseJWS(tok)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(j.payload, &c); err != nil {
		t.Fatal(err)
	}
	edit(c)
	out, err := signES256(key, "", c)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestServiceAccountTokenValid(t *testing.T) {
	f := newSAFixture(t)
	tok := f.issue(t, TokenSpec{Pod: &ObjectRef{Name: "web", UID: "pod-uid"}, Node: &ObjectRef{Name: "n1", UID: "node-uid"}})
	u, ok, err := f.sa.AuthenticateToken(context.Background(), tok)
	if err != nil || !ok {
		t.Fatalf("valid token refused: ok=%v err=%v", ok, err)
	}
	if u.Name != "system:serviceaccount:ns:robot" || u.UID != "sa-uid" {
		t.Fatalf("user %+v", u)
	}
	if !u.InGroup("system:serviceaccounts") || !u.InGroup("system:serviceaccounts:ns") {
		t.Fatalf("groups %v", u.Groups)
	}
	for k, v := range map[string]string{ExtraPodName: "web", ExtraPodUID: "pod-uid", ExtraNodeName: "n1", ExtraNodeUID: "node-uid"} {
		if got := u.Extra[k]; len(got) != 1 || got[0] != v {
			t.Errorf("extra %s = %v, want %s", k, got, v)
		}
	}
	if got := u.Extra[ExtraCredentialID]; len(got) != 1 || !strings.HasPrefix(got[0], "JTI=") {
		t.Errorf("credential id %v", got)
	}
	// The claims are Kubernetes'.
	j, _ := parseJWS(tok)
	var c map[string]any
	json.Unmarshal(j.payload, &c)
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "kubernetes.io"} {
		if _, ok := c[k]; !ok {
			t.Errorf("claim %s missing: %v", k, c)
		}
	}
	if j.header.Alg != "ES256" || j.header.Kid != f.sa.KeyID() {
		t.Errorf("header %+v", j.header)
	}
	// An explicit audience, asked for through the context (TokenReview).
	tok = f.issue(t, TokenSpec{Audiences: []string{"vault"}})
	if _, ok, err := f.sa.AuthenticateToken(WithAudiences(context.Background(), []string{"x", "vault"}), tok); !ok || err != nil {
		t.Fatalf("token for audience vault: ok=%v err=%v", ok, err)
	}
	_, auds, _, _ := f.sa.Verify(context.Background(), tok, []string{"x", "vault"})
	if len(auds) != 1 || auds[0] != "vault" {
		t.Fatalf("audiences %v", auds)
	}
}

func TestServiceAccountTokenRefused(t *testing.T) {
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cases := []struct {
		name string
		// token builds the presented token from a valid one.
		token func(t *testing.T, f *saFixture, valid string) string
		// setup changes the world after issuing.
		setup func(f *saFixture)
		// claimed: the token is ours (an error), not passed on.
		claimed bool
		wantErr string
	}{
		{name: "tampered payload, signature kept", claimed: true, wantErr: "signature",
			token: func(t *testing.T, f *saFixture, v string) string {
				parts := strings.Split(v, ".")
				var c map[string]any
				p, _ := b64.DecodeString(parts[1])
				json.Unmarshal(p, &c)
				c["sub"] = "system:serviceaccount:kube-system:admin"
				nb, _ := json.Marshal(c)
				return parts[0] + "." + b64.EncodeToString(nb) + "." + parts[2]
			}},
		{name: "flipped signature byte", claimed: true, wantErr: "signature",
			token: func(t *testing.T, f *saFixture, v string) string {
				parts := strings.Split(v, ".")
				sig, _ := b64.DecodeString(parts[2])
				sig[5] ^= 1
				return parts[0] + "." + parts[1] + "." + b64.EncodeToString(sig)
			}},
		{name: "signed by another key", claimed: true, wantErr: "signature",
			token: func(t *testing.T, f *saFixture, v string) string {
				return resign(t, otherKey, v, func(map[string]any) {})
			}},
		{name: "alg none", claimed: true, wantErr: "algorithm",
			token: func(t *testing.T, f *saFixture, v string) string {
				parts := strings.Split(v, ".")
				return b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
			}},
		{name: "HS256 with the public key as secret", claimed: true, wantErr: "algorithm",
			token: func(t *testing.T, f *saFixture, v string) string {
				parts := strings.Split(v, ".")
				der, _ := x509.MarshalPKIXPublicKey(&f.key.PublicKey)
				input := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + parts[1]
				mac := hmac.New(sha256.New, der)
				mac.Write([]byte(input))
				return input + "." + b64.EncodeToString(mac.Sum(nil))
			}},
		{name: "RS256 header", claimed: true, wantErr: "algorithm",
			token: func(t *testing.T, f *saFixture, v string) string {
				parts := strings.Split(v, ".")
				return b64.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + parts[1] + "." + parts[2]
			}},
		{name: "expired", claimed: true, wantErr: "expired",
			setup: func(f *saFixture) { f.now = f.now.Add(time.Hour + 2*time.Minute) }},
		{name: "not yet valid", claimed: true, wantErr: "not valid before",
			setup: func(f *saFixture) { f.now = f.now.Add(-5 * time.Minute) }},
		{name: "no exp", claimed: true, wantErr: "no expiry",
			token: func(t *testing.T, f *saFixture, v string) string {
				return resign(t, f.key, v, func(c map[string]any) { delete(c, "exp") })
			}},
		{name: "wrong audience", claimed: true, wantErr: "audiences",
			token: func(t *testing.T, f *saFixture, v string) string {
				return resign(t, f.key, v, func(c map[string]any) { c["aud"] = []string{"https://elsewhere"} })
			}},
		{name: "subject differs from kubernetes.io claims", claimed: true, wantErr: "subject",
			token: func(t *testing.T, f *saFixture, v string) string {
				return resign(t, f.key, v, func(c map[string]any) { c["sub"] = "system:serviceaccount:kube-system:robot" })
			}},
		{name: "no kubernetes.io claims", claimed: true, wantErr: "no kubernetes.io",
			token: func(t *testing.T, f *saFixture, v string) string {
				return resign(t, f.key, v, func(c map[string]any) { delete(c, "kubernetes.io") })
			}},
		{name: "service account deleted", claimed: true, wantErr: "no longer exists",
			setup: func(f *saFixture) { f.objs.del(KindServiceAccount, "ns", "robot") }},
		{name: "service account recreated", claimed: true, wantErr: "no longer exists",
			setup: func(f *saFixture) {
				f.objs.put(KindServiceAccount, "ns", "robot", &corev1.ServiceAccount{ObjectMeta: meta("ns", "robot", "new-uid")})
			}},
		{name: "bound pod deleted", claimed: true, wantErr: "pod ns/web",
			setup: func(f *saFixture) { f.objs.del(KindPod, "ns", "web") }},
		{name: "bound pod recreated", claimed: true, wantErr: "pod ns/web",
			setup: func(f *saFixture) {
				f.objs.put(KindPod, "ns", "web", &corev1.Pod{ObjectMeta: meta("ns", "web", "other")})
			}},
		{name: "bound pod past its deletion time", claimed: true, wantErr: "pod ns/web",
			setup: func(f *saFixture) {
				m := meta("ns", "web", "pod-uid")
				m.DeletionTimestamp = &metav1.Time{Time: f.now.Add(-time.Second)}
				f.objs.put(KindPod, "ns", "web", &corev1.Pod{ObjectMeta: m})
			}},
		{name: "lookup fails", claimed: true, wantErr: "lookup",
			setup: func(f *saFixture) { f.objs.err = errors.New("store down") }},
		{name: "another issuer", claimed: false,
			token: func(t *testing.T, f *saFixture, v string) string {
				return resign(t, otherKey, v, func(c map[string]any) { c["iss"] = "https://accounts.example" })
			}},
		{name: "not a JWT", claimed: false,
			token: func(*testing.T, *saFixture, string) string { return "abcdef.0123456789abcdef" }},
		{name: "JWT with garbage segments", claimed: false,
			token: func(*testing.T, *saFixture, string) string { return "a.b.c" }},
		{name: "padded base64", claimed: false,
			token: func(t *testing.T, f *saFixture, v string) string {
				parts := strings.Split(v, ".")
				return parts[0] + "==." + parts[1] + "." + parts[2]
			}},
		{name: "huge token", claimed: false,
			token: func(t *testing.T, f *saFixture, v string) string { return v + strings.Repeat("A", maxJWTBytes) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newSAFixture(t)
			tok := f.issue(t, TokenSpec{Pod: &ObjectRef{Name: "web", UID: "pod-uid"}})
			if tc.token != nil {
				tok = tc.token(t, f, tok)
			}
			if tc.setup != nil {
				tc.setup(f)
			}
			u, ok, err := f.sa.AuthenticateToken(context.Background(), tok)
			if ok || u != nil {
				t.Fatalf("token accepted as %+v", u)
			}
			if !tc.claimed {
				if err != nil {
					t.Fatalf("a token of another kind must not be claimed: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), tok) {
				t.Fatalf("the error holds the token")
			}
		})
	}
}

// A token for an object the cache has not seen yet is checked against the
// store; one the cache still holds after deletion is refused only once the
// cache catches up (the store is asked only to rescue a refusal).
func TestServiceAccountLookupCacheThenStore(t *testing.T) {
	f := newSAFixture(t)
	f.objs.cache = map[string]any{} // the cache is empty: just created
	tok := f.issue(t, TokenSpec{})
	if _, ok, err := f.sa.AuthenticateToken(context.Background(), tok); !ok || err != nil {
		t.Fatalf("token for an object only the store has: ok=%v err=%v", ok, err)
	}
	f.objs.cache = nil
	f.objs.reads = nil
	if _, ok, _ := f.sa.AuthenticateToken(context.Background(), tok); !ok {
		t.Fatal("refused")
	}
	for _, fresh := range f.objs.reads {
		if fresh {
			t.Fatalf("a valid token found in the cache read the store: %v", f.objs.reads)
		}
	}
}

func TestServiceAccountConfig(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := NewServiceAccountTokens(ServiceAccountConfig{Key: rsaKey, Lookup: newFakeObjects()}); err == nil {
		t.Error("an RSA key was accepted for ES256")
	}
	if _, err := NewServiceAccountTokens(ServiceAccountConfig{Key: p384, Lookup: newFakeObjects()}); err == nil {
		t.Error("a P-384 key was accepted for ES256")
	}
	if _, err := NewServiceAccountTokens(ServiceAccountConfig{Lookup: newFakeObjects()}); err == nil {
		t.Error("no key was accepted")
	}
	f := newSAFixture(t)
	if f.sa.Issuer() != DefaultIssuer || len(f.sa.Audiences()) != 1 || f.sa.Audiences()[0] != DefaultIssuer {
		t.Errorf("defaults: issuer %q audiences %v", f.sa.Issuer(), f.sa.Audiences())
	}
	if _, _, err := f.sa.Issue(TokenSpec{Namespace: "ns", ServiceAccount: ObjectRef{Name: "robot", UID: "u"}}); err == nil {
		t.Error("a token without lifetime was issued")
	}
}

func TestServiceAccountName(t *testing.T) {
	for in, want := range map[string][2]string{
		"system:serviceaccount:ns:robot": {"ns", "robot"},
		"system:serviceaccount:ns":       {},
		"system:serviceaccount::robot":   {},
		"alice":                          {},
	} {
		ns, name, ok := ServiceAccountName(in)
		if ok != (want[0] != "") || ns != want[0] || name != want[1] {
			t.Errorf("ServiceAccountName(%q) = %q %q %v", in, ns, name, ok)
		}
	}
}
