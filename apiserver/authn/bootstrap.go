package authn

import (
	"context"
	"fmt"
	"time"

	"github.com/kelson-dev/kelson/internal/bootstraptoken"
	corev1 "k8s.io/api/core/v1"
)

// BootstrapTokens authenticates Kubernetes' bootstrap tokens (bearer
// <id>.<secret>) against their Secrets kube-system/bootstrap-token-<id>;
// the rules are internal/bootstraptoken's (Parse, Authenticate). The user
// is system:bootstrap:<id> in system:bootstrappers and the token's
// auth-extra-groups.
type BootstrapTokens struct {
	// Lookup finds kube-system/bootstrap-token-<id> (kind Secret).
	Lookup Lookup
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// AuthenticateToken implements Token. A token without the shape of a
// bootstrap token, or whose Secret does not exist, is not claimed; one
// whose Secret exists but refuses it is an error (401), wrapping
// bootstraptoken.ErrInvalid and never holding the secret.
func (b *BootstrapTokens) AuthenticateToken(ctx context.Context, tok string) (*User, bool, error) {
	t, err := bootstraptoken.Parse(tok)
	if err != nil {
		return nil, false, nil // not shaped as a bootstrap token: not ours
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	// The store is read only when the cache has no such Secret (one just
	// created): a wrong secret costs no store read.
	s, found, err := getChecked(ctx, b.Lookup, KindSecret, bootstraptoken.Namespace, bootstraptoken.SecretPrefix+t.ID,
		func(*corev1.Secret) bool { return true })
	if err != nil {
		return nil, false, err
	}
	if !found {
		return nil, false, nil
	}
	name, groups, err := bootstraptoken.Authenticate(s, t, now())
	if err != nil {
		return nil, false, fmt.Errorf("authn: %w", err)
	}
	return &User{Name: name, Groups: groups}, true, nil
}
