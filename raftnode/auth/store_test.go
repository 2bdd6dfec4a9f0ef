package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/kvstore"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// enabledStore returns a Store with root (password "rootpw") and alice
// ("alicepw"), auth enabled.
func enabledStore(t *testing.T, opts Options) *Store {
	t.Helper()
	opts.BcryptCost = 4
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	idx := uint64(0)
	apply := func(req *pb.InternalRaftRequest) kvstore.Result {
		idx++
		req.Header = &pb.RequestHeader{}
		Info{User: "root", Revision: s.State().Revision}.SetHeader(req.Header)
		r, err := s.Apply(idx, req, func([]kvstore.AuxWrite) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, u := range []struct{ name, pw string }{{"root", "rootpw"}, {"alice", "alicepw"}} {
		h, err := s.HashPassword(u.pw)
		if err != nil {
			t.Fatal(err)
		}
		if r := apply(&pb.InternalRaftRequest{AuthUserAdd: &pb.AuthUserAddRequest{Name: u.name, HashedPassword: h}}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	apply(grantRole("root", RootRole))
	if r := apply(enable); r.Err != nil {
		t.Fatal(r.Err)
	}
	return s
}

func authenticate(t *testing.T, s *Store, index uint64, user, pw string) (string, error) {
	t.Helper()
	if _, err := s.CheckPassword(user, pw); err != nil {
		return "", err
	}
	prefix, err := s.TokenPrefix()
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Apply(index, &pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: user, SimpleToken: prefix}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Err != nil {
		return "", r.Err
	}
	return r.Resp.(*pb.AuthenticateResponse).Token, nil
}

func TestSimpleTokenTTL(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	s := enabledStore(t, Options{TokenTTL: 10 * time.Second, Now: clk.Now})
	if _, err := authenticate(t, s, 100, "alice", "wrong"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := authenticate(t, s, 100, "bob", "x"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("unknown user: %v", err)
	}
	tok, err := authenticate(t, s, 100, "alice", "alicepw")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(tok, ".100") || len(tok) != simpleTokenLength+4 {
		t.Fatalf("token %q is not <16 letters>.<index>", tok)
	}
	ctx := context.Background()
	ai, err := s.InfoFromToken(ctx, tok)
	if err != nil || ai.User != "alice" || ai.Revision != s.State().Revision {
		t.Fatalf("InfoFromToken = %+v, %v", ai, err)
	}
	// Each use restarts the TTL.
	for range 3 {
		clk.Add(8 * time.Second)
		if _, err := s.InfoFromToken(ctx, tok); err != nil {
			t.Fatalf("token expired while in use: %v", err)
		}
	}
	clk.Add(11 * time.Second)
	if _, err := s.InfoFromToken(ctx, tok); !errors.Is(err, ErrInvalidAuthToken) {
		t.Fatalf("unused past TTL: %v", err)
	}
	for _, bad := range []string{"", "x", "abc.def", "a.b.c", tok + "0", strings.Repeat("9", 100)} {
		if _, err := s.InfoFromToken(ctx, bad); !errors.Is(err, ErrInvalidAuthToken) {
			t.Fatalf("token %q: %v", bad, err)
		}
	}
	// A token is void once its user changes password or auth is disabled.
	tok, _ = authenticate(t, s, 200, "alice", "alicepw")
	root := Info{User: "root", Revision: s.State().Revision}
	h, _ := s.HashPassword("new")
	req := &pb.InternalRaftRequest{Header: &pb.RequestHeader{}, AuthUserChangePassword: &pb.AuthUserChangePasswordRequest{Name: "alice", HashedPassword: h}}
	root.SetHeader(req.Header)
	if r, _ := s.Apply(201, req, func([]kvstore.AuxWrite) error { return nil }); r.Err != nil {
		t.Fatal(r.Err)
	}
	if _, err := s.InfoFromToken(ctx, tok); !errors.Is(err, ErrInvalidAuthToken) {
		t.Fatalf("after password change: %v", err)
	}
	if _, err := authenticate(t, s, 202, "alice", "alicepw"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("old password still works: %v", err)
	}
}

// TestSimpleTokenWaitsForIndex: a token minted at an index this member has
// not applied is waited for, not refused.
func TestSimpleTokenWaitsForIndex(t *testing.T) {
	applied := make(chan struct{})
	s := enabledStore(t, Options{AppliedWait: func(uint64) <-chan struct{} { return applied }})
	prefix, _ := s.TokenPrefix()
	done := make(chan error, 1)
	go func() {
		_, err := s.InfoFromToken(context.Background(), prefix+".500")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("did not wait: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := s.Apply(500, &pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: "alice", SimpleToken: prefix}}, nil); err != nil {
		t.Fatal(err)
	}
	close(applied)
	if err := <-done; err != nil {
		t.Fatalf("after the index was applied: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	s2 := enabledStore(t, Options{AppliedWait: func(uint64) <-chan struct{} { return make(chan struct{}) }})
	if _, err := s2.InfoFromToken(ctx, prefix+".9"); !errors.Is(err, ErrInvalidAuthToken) {
		t.Fatalf("unknown token after ctx end: %v", err)
	}
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	f := dir + "/" + name
	if err := writeFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestJWT(t *testing.T) {
	dir := t.TempDir()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	keys := map[string][2]string{}
	add := func(name string, priv any, pub any) {
		pd, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		ud, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		keys[name] = [2]string{writePEM(t, dir, name+".key", "PRIVATE KEY", pd), writePEM(t, dir, name+".pub", "PUBLIC KEY", ud)}
	}
	add("rsa", rsaKey, &rsaKey.PublicKey)
	add("ec", ecKey, &ecKey.PublicKey)
	add("ec384", ec384, &ec384.PublicKey)
	add("ed", edKey, edKey.Public())
	secret := dir + "/hmac"
	if err := writeFile(secret, []byte("shared-secret")); err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	for _, c := range []struct{ method, key string }{
		{"RS256", "rsa"}, {"RS512", "rsa"}, {"PS256", "rsa"}, {"ES256", "ec"}, {"ES384", "ec384"}, {"EdDSA", "ed"}, {"HS256", ""},
	} {
		spec := "jwt,sign-method=" + c.method + ",ttl=1m"
		if c.key == "" {
			spec += ",priv-key=" + secret
		} else {
			spec += ",priv-key=" + keys[c.key][0] + ",pub-key=" + keys[c.key][1]
		}
		s := enabledStore(t, Options{Token: spec, Now: clk.Now})
		tok, err := authenticate(t, s, 7, "alice", "alicepw")
		if err != nil {
			t.Fatalf("%s: %v", c.method, err)
		}
		ai, err := s.InfoFromToken(context.Background(), tok)
		if err != nil || ai.User != "alice" || ai.Revision != s.State().Revision {
			t.Fatalf("%s: %+v %v", c.method, ai, err)
		}
		// Tampering with any part, or another algorithm, is refused.
		parts := strings.Split(tok, ".")
		forged := []string{
			parts[0] + "." + b64.EncodeToString([]byte(`{"exp":9999999999,"revision":99,"username":"root"}`)) + "." + parts[2],
			b64.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".",
			parts[0] + "." + parts[1] + "." + b64.EncodeToString([]byte("garbage")),
			parts[0] + "." + parts[1],
		}
		for _, f := range forged {
			if _, err := s.InfoFromToken(context.Background(), f); !errors.Is(err, ErrInvalidAuthToken) {
				t.Fatalf("%s: forged token accepted: %v", c.method, err)
			}
		}
		// A member holding the public key only verifies.
		if c.key != "" {
			v, err := New(Options{Token: "jwt,sign-method=" + c.method + ",pub-key=" + keys[c.key][1], Now: clk.Now})
			if err != nil {
				t.Fatalf("%s verify-only: %v", c.method, err)
			}
			if ai, err := v.InfoFromToken(context.Background(), tok); err != nil || ai.User != "alice" {
				t.Fatalf("%s verify-only: %+v %v", c.method, ai, err)
			}
			if _, err := v.jwt.sign("x", 1); !errors.Is(err, errVerifyOnly) {
				t.Fatalf("%s verify-only signs: %v", c.method, err)
			}
		}
		clk.Add(2 * time.Minute)
		if _, err := s.InfoFromToken(context.Background(), tok); !errors.Is(err, ErrInvalidAuthToken) {
			t.Fatalf("%s: expired token accepted: %v", c.method, err)
		}
	}
}

func TestTokenOptions(t *testing.T) {
	dir := t.TempDir()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pd, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	priv := writePEM(t, dir, "ec.key", "PRIVATE KEY", pd)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ud, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
	wrongPub := writePEM(t, dir, "other.pub", "PUBLIC KEY", ud)
	for _, c := range []struct {
		spec string
		ok   bool
	}{
		{"", true}, {"simple", true},
		{"jwt,sign-method=ES256,priv-key=" + priv, true},
		{"jwt,sign-method=ES256,priv-key=" + priv + ",ttl=10m", true},
		{"bogus", false},
		{"jwt", false},
		{"jwt,sign-method=XX256,priv-key=" + priv, false},
		{"jwt,sign-method=RS256,priv-key=" + priv, false}, // EC key for an RSA method
		{"jwt,sign-method=ES384,priv-key=" + priv, false}, // P-256 key for ES384
		{"jwt,sign-method=ES256,priv-key=" + priv + ",pub-key=" + wrongPub, false},
		{"jwt,sign-method=ES256,priv-key=/nonexistent", false},
		{"jwt,sign-method=ES256,priv-key=" + priv + ",ttl=x", false},
		{"jwt,sign-method=ES256,priv-key=" + priv + ",color=red", false},
		{"jwt,sign-method=ES256,sign-method=ES256", false},
		{"jwt,novalue", false},
	} {
		_, err := New(Options{Token: c.spec})
		if (err == nil) != c.ok {
			t.Errorf("--auth-token %q: err %v, want ok=%v", c.spec, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidAuthOpts) {
			t.Errorf("--auth-token %q: %v does not wrap ErrInvalidAuthOpts", c.spec, err)
		}
	}
	if _, err := New(Options{BcryptCost: 3}); !errors.Is(err, ErrInvalidAuthOpts) {
		t.Errorf("bcrypt cost 3: %v", err)
	}
}

func writeFile(name string, data []byte) error { return os.WriteFile(name, data, 0o600) }
