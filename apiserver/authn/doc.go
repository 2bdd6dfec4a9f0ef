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
package authn
