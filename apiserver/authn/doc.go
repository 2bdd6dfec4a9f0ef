// Package authn is the API server's authentication: who sent a request.
//
// An Authenticator looks at one kind of credential of an *http.Request (a
// verified client certificate, a bearer token of some kind) and answers
// one of three ways:
//
//	user, true, nil    the credential is valid: the request is user's
//	nil, false, nil    no credential of this kind: ask the next one
//	nil, false, err    a credential of this kind is present but invalid
//	                   (expired, tampered, signed by another CA, revoked):
//	                   the request is refused with 401, no other is asked
//
// Union chains Authenticators in order. The API server refuses a request
// no Authenticator claims with 401, except the anonymous paths it allows
// (health and version), which it serves as system:anonymous in the group
// system:unauthenticated.
//
// Every authenticated User is also in the group system:authenticated
// (Union adds it), as Kubernetes does.
//
// The authenticated user travels in the request's context: WithUser and
// UserFrom. Handlers read it for authorization, audit, SelfSubjectReview
// and admission.
//
// # Credentials
//
//   - X509: a TLS client certificate chaining to the cluster CA, for
//     client authentication; CN the user, O the groups.
//   - Bearer tokens (Bearer over Token authenticators, first claim wins):
//   - StaticTokens (TokenFile): kube-apiserver's --token-auth-file.
//   - BootstrapTokens: <id>.<secret> against the Secret
//     kube-system/bootstrap-token-<id>; user system:bootstrap:<id>.
//   - ServiceAccountTokens: ES256 JWTs of one issuer, Kubernetes' bound
//     token claims; user system:serviceaccount:<ns>:<name>. It is also
//     the issuer (Issue) behind TokenRequest.
//
// A bearer token of a kind an authenticator does not recognise (not
// shaped as a bootstrap token; a JWT of another issuer) is not claimed,
// so the next one may know it; a token it recognises and refuses is an
// error. Secrets are compared in constant time and never appear in
// errors.
//
// # Invariants of service account tokens
//
// A token authenticates only while: its header says ES256 (never none,
// never HMAC: the key is never a MAC secret) and the signature verifies;
// iss is the configured issuer; aud meets the audiences asked for (the
// API audiences, or a TokenReview's); now is within [nbf, exp] give or
// take Leeway; sub names the account of its kubernetes.io claims; and
// the service account, and the pod, secret or node it is bound to, exist
// with the UIDs it names and are not past their deletion time. Those
// objects are read through Lookup: a cache first, the store when the
// cached answer would refuse (a token for an object just created works;
// a token for one just deleted stops working once the cache has seen
// the deletion, as in Kubernetes).
//
// # Example
//
//	sa, _ := authn.NewServiceAccountTokens(authn.ServiceAccountConfig{Key: key, Lookup: objects})
//	tok, exp, _ := sa.Issue(authn.TokenSpec{Namespace: "default",
//		ServiceAccount: authn.ObjectRef{Name: "robot", UID: uid}, Lifetime: time.Hour})
//	static, err := authn.TokenFile("/etc/kelson/tokens.csv") // err names a bad line
//	a := authn.Union(authn.X509{Roots: caPool},
//		authn.Bearer(static, &authn.BootstrapTokens{Lookup: objects}, sa))
//	user, ok, err := a.Authenticate(req) // "Authorization: Bearer "+tok
package authn
