// Package bootstraptoken is Kubernetes' bootstrap tokens as pure rules:
// the token's format, the layout of its Secret, parsing, generation and
// the check that a token authenticates. It does no IO: the API server's
// authenticator (apiserver/authn.BootstrapTokens), the join endpoint
// (cmd/kelson) and the tokencleaner controller (controllers/bootstraptoken)
// read Secrets and ask it.
//
// Model: a token is "<id>.<secret>" (6 and 16 characters of a-z, 0-9);
// the ID is public (it names the Secret), the secret is not. Its Secret is
// kube-system/bootstrap-token-<id> of type bootstrap.kubernetes.io/token
// with data token-id, token-secret, expiration (RFC 3339, absent = never),
// usage-bootstrap-authentication ("true" to authenticate),
// auth-extra-groups (comma-separated, each system:bootstrappers:<name>)
// and description. A valid token authenticates as system:bootstrap:<id>
// in system:bootstrappers and its extra groups.
//
// Invariants: Authenticate compares the secret in constant time, checks
// it before reporting anything else about the Secret, and its errors
// (ErrInvalid) never carry the secret. A token whose Secret is of another
// namespace, name or type, is expired (at the expiration instant or
// later, or with an unreadable expiration), lacks the authentication
// usage, is being deleted or names a group outside system:bootstrappers:
// does not authenticate — whether or not the cleaner has deleted it yet.
// Secret refuses to lay out what Authenticate would refuse (bad ID,
// secret or group, negative TTL).
//
// Example:
//
//	tok, _ := bootstraptoken.Generate()
//	sec, _ := bootstraptoken.Secret(tok, bootstraptoken.Options{TTL: 24 * time.Hour, Now: time.Now()})
//	// create sec; hand out tok.String()
//	t, err := bootstraptoken.Parse(bearer) // from "Authorization: Bearer <id>.<secret>"
//	// read kube-system/bootstrap-token-<t.ID> into sec
//	user, groups, err := bootstraptoken.Authenticate(sec, t, time.Now())
//	// "system:bootstrap:<id>", [system:bootstrappers], nil
package bootstraptoken
