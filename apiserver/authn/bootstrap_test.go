package authn

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/bootstraptoken"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func bootstrapSecret(id, secret string, edit func(*corev1.Secret)) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "bootstrap-token-" + id, UID: "u"},
		Type:       bootstraptoken.SecretType,
		Data: map[string][]byte{
			bootstraptoken.KeyID:         []byte(id),
			bootstraptoken.KeySecret:     []byte(secret),
			bootstraptoken.KeyUsageAuthn: []byte("true"),
			bootstraptoken.KeyExpiration: []byte("2030-01-01T00:00:00Z"),
		},
	}
	if edit != nil {
		edit(s)
	}
	return s
}

func TestBootstrapTokens(t *testing.T) {
	now := time.Date(2029, 6, 1, 0, 0, 0, 0, time.UTC)
	const id, secret = "abcdef", "0123456789abcdef"
	const tok = id + "." + secret
	cases := []struct {
		name    string
		token   string
		secret  *corev1.Secret // nil: none stored
		claimed bool
		wantErr string
		groups  []string
	}{
		{name: "valid", token: tok, secret: bootstrapSecret(id, secret, nil), claimed: true,
			groups: []string{"system:bootstrappers"}},
		{name: "valid with extra groups and no expiry", token: tok, claimed: true,
			secret: bootstrapSecret(id, secret, func(s *corev1.Secret) {
				delete(s.Data, bootstraptoken.KeyExpiration)
				s.Data[bootstraptoken.KeyExtraGroups] = []byte("system:bootstrappers:kelson:agents, system:bootstrappers:kelson:agents,system:bootstrappers:x")
			}),
			groups: []string{"system:bootstrappers", "system:bootstrappers:kelson:agents", "system:bootstrappers:x"}},
		{name: "not a bootstrap token", token: "hello", secret: bootstrapSecret(id, secret, nil)},
		{name: "upper case id", token: "ABCDEF." + secret, secret: bootstrapSecret(id, secret, nil)},
		{name: "short secret", token: id + ".0123", secret: bootstrapSecret(id, secret, nil)},
		{name: "no secret stored", token: tok},
		{name: "wrong secret", token: id + ".0123456789abcdeX", secret: bootstrapSecret(id, secret, nil)},
		{name: "wrong secret same shape", token: id + ".fffffffffffffff0", secret: bootstrapSecret(id, secret, nil),
			claimed: true, wantErr: "does not match"},
		{name: "token-id differs", token: tok, claimed: true, wantErr: "does not match",
			secret: bootstrapSecret(id, secret, func(s *corev1.Secret) { s.Data[bootstraptoken.KeyID] = []byte("zzzzzz") })},
		{name: "expired", token: tok, claimed: true, wantErr: "expired",
			secret: bootstrapSecret(id, secret, func(s *corev1.Secret) { s.Data[bootstraptoken.KeyExpiration] = []byte("2029-05-31T23:59:59Z") })},
		{name: "unreadable expiry", token: tok, claimed: true, wantErr: "unreadable",
			secret: bootstrapSecret(id, secret, func(s *corev1.Secret) { s.Data[bootstraptoken.KeyExpiration] = []byte("tomorrow") })},
		{name: "no usage", token: tok, claimed: true, wantErr: "not allowed for authentication",
			secret: bootstrapSecret(id, secret, func(s *corev1.Secret) { delete(s.Data, bootstraptoken.KeyUsageAuthn) })},
		{name: "usage false", token: tok, claimed: true, wantErr: "not allowed for authentication",
			secret: bootstrapSecret(id, secret, func(s *corev1.Secret) { s.Data[bootstraptoken.KeyUsageAuthn] = []byte("false") })},
		{name: "wrong type", token: tok, claimed: true, wantErr: "type",
			secret: bootstrapSecret(id, secret, func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque })},
		{name: "being deleted", token: tok, claimed: true, wantErr: "being deleted",
			secret: bootstrapSecret(id, secret, func(s *corev1.Secret) { s.DeletionTimestamp = &metav1.Time{Time: now} })},
		{name: "extra group outside system:bootstrappers", token: tok, claimed: true, wantErr: "auth-extra-groups",
			secret: bootstrapSecret(id, secret, func(s *corev1.Secret) { s.Data[bootstraptoken.KeyExtraGroups] = []byte("system:masters") })},
		{name: "extra groups only blank", token: tok, claimed: true, wantErr: "auth-extra-groups",
			secret: bootstrapSecret(id, secret, func(s *corev1.Secret) { s.Data[bootstraptoken.KeyExtraGroups] = []byte(" ") })},
		{name: "wrong secret and expired: the secret is checked first", token: id + ".fffffffffffffff0", claimed: true, wantErr: "does not match",
			secret: bootstrapSecret(id, secret, func(s *corev1.Secret) { s.Data[bootstraptoken.KeyExpiration] = []byte("tomorrow") })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := newFakeObjects()
			if tc.secret != nil {
				objs.put(KindSecret, "kube-system", tc.secret.Name, tc.secret)
			}
			b := &BootstrapTokens{Lookup: objs, Now: func() time.Time { return now }}
			u, ok, err := b.AuthenticateToken(context.Background(), tc.token)
			switch {
			case tc.claimed && tc.wantErr == "":
				if !ok || err != nil {
					t.Fatalf("refused: %v", err)
				}
				if u.Name != "system:bootstrap:"+id || !slices.Equal(u.Groups, tc.groups) {
					t.Fatalf("user %+v, want groups %v", u, tc.groups)
				}
			case tc.claimed:
				if ok || !errors.Is(err, bootstraptoken.ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ok=%v err=%v, want an error with %q", ok, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), secret) {
					t.Fatal("the error holds the secret")
				}
			default:
				if ok || err != nil {
					t.Fatalf("claimed: ok=%v err=%v", ok, err)
				}
			}
		})
	}
}

// A wrong secret costs no store read: the store is asked only when the
// cache has no such Secret.
func TestBootstrapTokenStoreReads(t *testing.T) {
	objs := newFakeObjects()
	objs.put(KindSecret, "kube-system", "bootstrap-token-abcdef", bootstrapSecret("abcdef", "0123456789abcdef", nil))
	b := &BootstrapTokens{Lookup: objs, Now: func() time.Time { return time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC) }}
	b.AuthenticateToken(context.Background(), "abcdef.ffffffffffffffff")
	if len(objs.reads) != 1 || objs.reads[0] {
		t.Fatalf("reads %v, want one cache read", objs.reads)
	}
	objs.cache = map[string]any{}
	objs.reads = nil
	if _, ok, err := b.AuthenticateToken(context.Background(), "abcdef.0123456789abcdef"); !ok || err != nil {
		t.Fatalf("a secret only the store holds: ok=%v err=%v", ok, err)
	}
	if len(objs.reads) != 2 || !objs.reads[1] {
		t.Fatalf("reads %v, want the cache then the store", objs.reads)
	}
}
