// Package bootstraptoken is Kubernetes' bootstrap tokens: the layout of
// their Secrets, the check that a token authenticates, and the cleaner
// controller that deletes expired ones (kube-controller-manager's
// "tokencleaner").
//
// Model: a token is "<id>.<secret>" (6 and 16 characters of a-z, 0-9).
// Its Secret is kube-system/bootstrap-token-<id> of type
// bootstrap.kubernetes.io/token with data token-id, token-secret,
// expiration (RFC 3339, absent = never), usage-bootstrap-authentication
// ("true" to authenticate), auth-extra-groups (comma-separated, each
// system:bootstrappers:<name>) and description. A valid token
// authenticates as system:bootstrap:<id> in system:bootstrappers and its
// extra groups.
//
// Invariants: Authenticate compares the secret in constant time and its
// errors (ErrInvalid) never carry the secret; an expired token, one
// without the authentication usage, one whose Secret is being deleted or
// names bad groups does not authenticate — whether or not the cleaner has
// deleted it yet. The decisions (Parse, Secret, Read, Authenticate, Due)
// are pure; the cleaner's sync deletes with a UID precondition.
//
// Example:
//
//	tok, _ := bootstraptoken.Generate()
//	sec, _ := bootstraptoken.Secret(tok, bootstraptoken.Options{TTL: 24 * time.Hour, Now: time.Now()})
//	// create sec; hand out tok.String()
//	user, groups, err := bootstraptoken.Authenticate(sec, tok, time.Now())
//	// "system:bootstrap:<id>", [system:bootstrappers], nil
package bootstraptoken
