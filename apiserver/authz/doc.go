// Package authz is the API server's authorization: may this user do this.
//
// An Authorizer answers for Attributes — who (an authn.User), which verb,
// and either a resource (group, resource, subresource, namespace, name) or
// a non-resource path (/healthz, /version, /api, /openapi/v3 ...) — with a
// Decision: Allow, Deny, or NoOpinion (let the next one decide). Union asks
// them in order; the first Allow or Deny wins, and a request nobody allows
// is refused with 403 and the reason of the last that gave one.
//
// Verbs are Kubernetes' verbs: get list watch create update patch delete
// deletecollection for resources (and the special ones: use, bind,
// escalate, impersonate, approve, sign); get post put patch delete head
// for non-resource paths, lower case.
//
// The authorizers of a `kelson server` are, in order: the node authorizer
// (node), RBAC (rbac). Both read the API's own watch caches, never the
// store.
package authz
