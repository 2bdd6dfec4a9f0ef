package bootstraptoken

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestGenerateAndParse(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		tok, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(tok.String())
		if err != nil || back != tok {
			t.Fatalf("Parse(%s) = %v, %v", tok.ID, back.ID, err)
		}
		if seen[tok.ID] {
			t.Fatalf("token ID %s twice", tok.ID)
		}
		seen[tok.ID] = true
	}
	for _, bad := range []string{"", "abcdef", "abcdef.", "abcdef.0123456789abcdeF", "abcde.0123456789abcdef",
		"abcdef.0123456789abcdefg", "ABCDEF.0123456789abcdef", " abcdef.0123456789abcdef", "abcdef:0123456789abcdef"} {
		if _, err := Parse(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q): %v", bad, err)
		}
		if IsToken(bad) {
			t.Errorf("IsToken(%q)", bad)
		}
	}
}

func TestSecretLayout(t *testing.T) {
	tok := Token{ID: "abc123", Secret: "0123456789abcdef"}
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := Secret(tok, Options{TTL: 24 * time.Hour, Description: "for node-b", ExtraGroups: []string{"system:bootstrappers:workers"}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "bootstrap-token-abc123" || s.Namespace != "kube-system" || s.Type != "bootstrap.kubernetes.io/token" {
		t.Fatalf("secret %s/%s of type %s", s.Namespace, s.Name, s.Type)
	}
	want := map[string]string{"token-id": "abc123", "token-secret": "0123456789abcdef", "expiration": "2030-01-03T03:04:05Z",
		"usage-bootstrap-authentication": "true", "description": "for node-b", "auth-extra-groups": "system:bootstrappers:workers"}
	for k, v := range want {
		if string(s.Data[k]) != v {
			t.Errorf("data[%s] = %q, want %q", k, s.Data[k], v)
		}
	}
	if len(s.Data) != len(want) {
		t.Errorf("data has %d keys, want %d", len(s.Data), len(want))
	}
	in, err := Read(s)
	if err != nil || in.ID != "abc123" || !in.Expires.Equal(now.Add(24*time.Hour)) || !slices.Equal(in.Usages, []string{"authentication"}) {
		t.Fatalf("Read: %+v, %v", in, err)
	}
	// TTL 0: no expiration.
	s, _ = Secret(tok, Options{Now: now})
	if _, ok := s.Data["expiration"]; ok {
		t.Error("TTL 0 wrote an expiration")
	}
	for _, o := range []Options{{TTL: -time.Second}, {ExtraGroups: []string{"system:masters"}}, {ExtraGroups: []string{"system:bootstrappers:"}}} {
		if _, err := Secret(tok, o); !errors.Is(err, ErrInvalid) {
			t.Errorf("Secret(%+v): %v", o, err)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	tok := Token{ID: "abc123", Secret: "0123456789abcdef"}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	good := func() *corev1.Secret {
		s, err := Secret(tok, Options{TTL: time.Hour, ExtraGroups: []string{"system:bootstrappers:x"}, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	user, groups, err := Authenticate(good(), tok, now)
	if err != nil || user != "system:bootstrap:abc123" || !slices.Equal(groups, []string{"system:bootstrappers", "system:bootstrappers:x"}) {
		t.Fatalf("Authenticate: %q %q %v", user, groups, err)
	}
	for _, c := range []struct {
		what string
		edit func(*corev1.Secret)
		tok  Token
		at   time.Time
	}{
		{"wrong secret", nil, Token{ID: "abc123", Secret: "0123456789abcdee"}, now},
		{"other ID", nil, Token{ID: "abc124", Secret: "0123456789abcdef"}, now},
		{"expired", nil, tok, now.Add(time.Hour)},
		{"no usage", func(s *corev1.Secret) { delete(s.Data, KeyUsageAuthn) }, tok, now},
		{"usage false", func(s *corev1.Secret) { s.Data[KeyUsageAuthn] = []byte("false") }, tok, now},
		{"wrong type", func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque }, tok, now},
		{"name mismatch", func(s *corev1.Secret) { s.Name = "bootstrap-token-zzz999" }, tok, now},
		{"bad expiration", func(s *corev1.Secret) { s.Data[KeyExpiration] = []byte("tomorrow") }, tok, now},
		{"bad group", func(s *corev1.Secret) { s.Data[KeyExtraGroups] = []byte("system:masters") }, tok, now},
		{"being deleted", func(s *corev1.Secret) { s.DeletionTimestamp = &metav1.Time{Time: now} }, tok, now},
		{"other namespace", func(s *corev1.Secret) { s.Namespace = "default" }, tok, now},
		{"token-id differs", func(s *corev1.Secret) { s.Data[KeyID] = []byte("zzz999") }, tok, now},
		{"no token-secret", func(s *corev1.Secret) { delete(s.Data, KeySecret) }, tok, now},
		{"expires now", nil, tok, now.Add(time.Hour)},
		{"extra groups blank", func(s *corev1.Secret) { s.Data[KeyExtraGroups] = []byte("  ") }, tok, now},
		{"empty extra group entry", func(s *corev1.Secret) {
			s.Data[KeyExtraGroups] = []byte("system:bootstrappers:x,,system:bootstrappers:y")
		}, tok, now},
		{"one bad group of two", func(s *corev1.Secret) { s.Data[KeyExtraGroups] = []byte("system:bootstrappers:x,system:nodes") }, tok, now},
		{"system:bootstrappers as an extra group", func(s *corev1.Secret) { s.Data[KeyExtraGroups] = []byte("system:bootstrappers") }, tok, now},
		{"bare system:bootstrappers: group", func(s *corev1.Secret) { s.Data[KeyExtraGroups] = []byte("system:bootstrappers:") }, tok, now},
	} {
		s := good()
		if c.edit != nil {
			c.edit(s)
		}
		_, _, err := Authenticate(s, c.tok, c.at)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", c.what, err)
		} else if strings.Contains(err.Error(), tok.Secret) {
			t.Errorf("%s: the error carries the secret: %v", c.what, err)
		}
	}
}

// TestAuthenticateGroups: extra groups follow system:bootstrappers in
// their order, without repeats; spaces around entries are tolerated.
func TestAuthenticateGroups(t *testing.T) {
	tok := Token{ID: "abc123", Secret: "0123456789abcdef"}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		extra string
		want  []string
	}{
		{"", []string{"system:bootstrappers"}},
		{"system:bootstrappers:b,system:bootstrappers:a", []string{"system:bootstrappers", "system:bootstrappers:b", "system:bootstrappers:a"}},
		{"system:bootstrappers:a, system:bootstrappers:a ", []string{"system:bootstrappers", "system:bootstrappers:a"}},
		{"system:bootstrappers:kubeadm:default-node-token", []string{"system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token"}},
	} {
		s, err := Secret(tok, Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if c.extra != "" {
			s.Data[KeyExtraGroups] = []byte(c.extra)
		}
		user, groups, err := Authenticate(s, tok, now)
		if err != nil || user != "system:bootstrap:abc123" || !slices.Equal(groups, c.want) {
			t.Errorf("auth-extra-groups %q: %q %q %v, want %q", c.extra, user, groups, err, c.want)
		}
	}
}

// TestAuthenticateChecksTheSecretFirst: without the secret, a caller
// learns nothing of what the Secret says (expiry, usage, deletion).
func TestAuthenticateChecksTheSecretFirst(t *testing.T) {
	tok := Token{ID: "abc123", Secret: "0123456789abcdef"}
	wrong := Token{ID: "abc123", Secret: "ffffffffffffffff"}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, edit := range []func(*corev1.Secret){
		func(s *corev1.Secret) { s.Data[KeyExpiration] = []byte("tomorrow") },
		func(s *corev1.Secret) { s.Data[KeyExpiration] = []byte("2000-01-01T00:00:00Z") },
		func(s *corev1.Secret) { delete(s.Data, KeyUsageAuthn) },
		func(s *corev1.Secret) { s.DeletionTimestamp = &metav1.Time{Time: now} },
		func(s *corev1.Secret) { s.Data[KeyExtraGroups] = []byte("system:masters") },
	} {
		s, err := Secret(tok, Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		edit(s)
		_, _, err = Authenticate(s, wrong, now)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "secret does not match") {
			t.Errorf("wrong secret: %v, want only that the secret does not match", err)
		}
		if _, _, err := Authenticate(s, tok, now); !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "secret does not match") {
			t.Errorf("right secret: %v, want the Secret's own refusal", err)
		}
	}
}
