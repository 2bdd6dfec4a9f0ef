package authn

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Bootstrap tokens, as Kubernetes': a bearer token <id>.<secret> (id
// [a-z0-9]{6}, secret [a-z0-9]{16}) is valid while the Secret
// kube-system/bootstrap-token-<id> of type bootstrap.kubernetes.io/token
// holds that id and secret, says usage-bootstrap-authentication "true",
// has not expired (expiration, RFC 3339) and is not being deleted. The
// user is system:bootstrap:<id> in system:bootstrappers and the groups of
// auth-extra-groups (comma-separated, each system:bootstrappers:...).

// Names and keys of bootstrap token Secrets.
const (
	BootstrapTokenNamespace  = "kube-system"
	BootstrapTokenPrefix     = "bootstrap-token-"
	BootstrapTokenSecretType = corev1.SecretType("bootstrap.kubernetes.io/token")
	BootstrapUserPrefix      = "system:bootstrap:"

	BootstrapTokenIDKey      = "token-id"
	BootstrapTokenSecretKey  = "token-secret"
	BootstrapExpirationKey   = "expiration"
	BootstrapUsageAuthKey    = "usage-bootstrap-authentication"
	BootstrapExtraGroupsKey  = "auth-extra-groups"
	BootstrapDescriptionKey  = "description"
	BootstrapUsageSigningKey = "usage-bootstrap-signing"
)

var (
	bootstrapTokenRE = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)
	bootstrapGroupRE = regexp.MustCompile(`^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$`)
)

// ErrBootstrapToken wraps every refusal of a bootstrap token.
var ErrBootstrapToken = errors.New("authn: bootstrap token")

// ParseBootstrapToken splits a bootstrap token into id and secret; ok is
// false when tok does not have the shape of one.
func ParseBootstrapToken(tok string) (id, secret string, ok bool) {
	m := bootstrapTokenRE.FindStringSubmatch(tok)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// BootstrapTokens authenticates bootstrap tokens against their Secrets.
type BootstrapTokens struct {
	// Lookup finds kube-system/bootstrap-token-<id> (kind Secret).
	Lookup Lookup
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// AuthenticateToken implements Token. A token without the shape of a
// bootstrap token, or whose Secret does not exist, is not claimed; one
// whose Secret exists but refuses it is an error (401).
func (b *BootstrapTokens) AuthenticateToken(ctx context.Context, tok string) (*User, bool, error) {
	id, secret, ok := ParseBootstrapToken(tok)
	if !ok {
		return nil, false, nil
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	// The store is read only when the cache has no such Secret (one just
	// created): a wrong secret costs no store read.
	s, found, err := getChecked(ctx, b.Lookup, KindSecret, BootstrapTokenNamespace, BootstrapTokenPrefix+id,
		func(*corev1.Secret) bool { return true })
	if err != nil {
		return nil, false, err
	}
	if !found {
		return nil, false, nil
	}
	u, err := CheckBootstrapSecret(s, id, secret, now())
	if err != nil {
		return nil, false, err
	}
	return u, true, nil
}

// CheckBootstrapSecret decides whether the bootstrap token id.secret is
// valid at now according to its Secret s, and returns its user. Pure.
// The secret is compared in constant time; no error holds it.
func CheckBootstrapSecret(s *corev1.Secret, id, secret string, now time.Time) (*User, error) {
	if s.Namespace != BootstrapTokenNamespace || s.Name != BootstrapTokenPrefix+id {
		return nil, fmt.Errorf("%w %s: its secret is %s/%s", ErrBootstrapToken, id, s.Namespace, s.Name)
	}
	if s.Type != BootstrapTokenSecretType {
		return nil, fmt.Errorf("%w %s: secret has type %q, want %q", ErrBootstrapToken, id, s.Type, BootstrapTokenSecretType)
	}
	if s.DeletionTimestamp != nil {
		return nil, fmt.Errorf("%w %s: its secret is being deleted", ErrBootstrapToken, id)
	}
	data := func(k string) string { return string(s.Data[k]) }
	// Constant time over the secret; the id is public.
	wantSecret := data(BootstrapTokenSecretKey)
	secretOK := subtle.ConstantTimeCompare([]byte(wantSecret), []byte(secret)) == 1
	if data(BootstrapTokenIDKey) != id || !secretOK {
		return nil, fmt.Errorf("%w %s: the token's secret does not match", ErrBootstrapToken, id)
	}
	if data(BootstrapUsageAuthKey) != "true" {
		return nil, fmt.Errorf("%w %s: not allowed for authentication (%s is not \"true\")", ErrBootstrapToken, id, BootstrapUsageAuthKey)
	}
	if exp := data(BootstrapExpirationKey); exp != "" {
		t, err := time.Parse(time.RFC3339, exp)
		if err != nil {
			return nil, fmt.Errorf("%w %s: unreadable %s %q (want RFC 3339): treated as expired", ErrBootstrapToken, id, BootstrapExpirationKey, exp)
		}
		if !now.Before(t) {
			return nil, fmt.Errorf("%w %s: expired at %s", ErrBootstrapToken, id, t.UTC().Format(time.RFC3339))
		}
	}
	groups := []string{BootstrappersGroup}
	if extra := data(BootstrapExtraGroupsKey); extra != "" {
		for _, g := range strings.Split(extra, ",") {
			g = strings.TrimSpace(g)
			if !bootstrapGroupRE.MatchString(g) {
				return nil, fmt.Errorf("%w %s: %s holds %q, not a group of the form system:bootstrappers:<name>", ErrBootstrapToken, id, BootstrapExtraGroupsKey, g)
			}
			if !containsString(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	return &User{Name: BootstrapUserPrefix + id, Groups: groups}, nil
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
