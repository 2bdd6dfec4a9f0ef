package apiserver

// The request filters in front of every handler: authentication (401),
// then authorization (403), with the user carried in the request's
// context (authn.WithUser) for the handlers behind.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/apiserver/authz"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// anonymousPaths are served to requests no authenticator claims: health
// and version, as the issue asks (kube-apiserver's system:public-info-viewer).
func anonymousPath(p string) bool {
	switch p {
	case "/healthz", "/livez", "/readyz", "/version":
		return true
	}
	for _, pre := range []string{"/healthz/", "/livez/", "/readyz/"} {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// authenticate finds r's user: 401 when a credential is invalid, or when
// there is none and the path is not one anonymous requests may read.
func (s *Server) authenticate(r *http.Request) (*authn.User, error) {
	u, ok, err := s.authn.Authenticate(r)
	if err != nil {
		s.log.Debug("authentication failed", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		return nil, apierrors.NewUnauthorized("Unauthorized")
	}
	if ok {
		return u, nil
	}
	if anonymousPath(r.URL.Path) {
		return authn.AnonymousUser(), nil
	}
	return nil, apierrors.NewUnauthorized("Unauthorized")
}

// attributesOf describes r for the authorizer.
func attributesOf(r *http.Request, u *authn.User) authz.Attributes {
	q := r.URL.Query()
	if ri, ok := parseRequest(r.Method, r.URL.Path, q.Get); ok {
		return authz.Attributes{User: u, Verb: ri.Verb, ResourceRequest: true,
			Group: ri.Group, Version: ri.Version, Resource: ri.Resource, Subresource: ri.Subresource,
			Namespace: resourceNamespace(ri), Name: ri.Name,
			FieldSelector: q.Get("fieldSelector"), LabelSelector: q.Get("labelSelector")}
	}
	return authz.Attributes{User: u, Verb: strings.ToLower(r.Method), Path: r.URL.Path}
}

// resourceNamespace is the namespace a request acts in: for
// /api/v1/namespaces/<name>[/status|/finalize] the namespace itself, as
// kube-apiserver's request info has it.
func resourceNamespace(ri requestInfo) string {
	if ri.namespacesSubresource {
		return ri.Name
	}
	return ri.Namespace
}

// authorize allows r or returns its 403.
func (s *Server) authorize(ctx context.Context, a authz.Attributes) error {
	if a.User != nil && a.User.Name == authn.Anonymous && !a.ResourceRequest && anonymousPath(a.Path) {
		return nil
	}
	d, reason, err := s.authz.Authorize(ctx, a)
	s.auditAuthorized(ctx, d == authz.Allow, reason)
	if err != nil {
		s.log.Warn("authorization failed", "user", a.User.Name, "verb", a.Verb, "err", err)
	}
	if d == authz.Allow {
		return nil
	}
	msg := a.Describe()
	if reason != "" {
		msg += ": " + reason
	}
	if !a.ResourceRequest {
		return apierrors.NewForbidden(schema.GroupResource{}, "", errors.New(msg))
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: a.Group, Resource: a.Resource}, a.Name, errors.New(msg))
}

// buildAuthorizer makes the union of the authorization modes, in order,
// as kube-apiserver's --authorization-mode.
func (s *Server) buildAuthorizer(modes []string) (authz.Authorizer, error) {
	var as []authz.Authorizer
	for _, m := range modes {
		switch m {
		case "AlwaysAllow":
			as = append(as, authz.AlwaysAllow)
		case "Node":
			as = append(as, s.nodeAuthorizer())
		case "RBAC":
			as = append(as, s.rbacAuthorizer())
		case "AlwaysDeny":
			as = append(as, authz.Func(func(context.Context, authz.Attributes) (authz.Decision, string, error) {
				return authz.Deny, "every request is denied (AlwaysDeny)", nil
			}))
		default:
			return nil, fmt.Errorf("%w: unknown authorization mode %q (want AlwaysAllow, AlwaysDeny, Node, RBAC)", ErrBadConfig, m)
		}
	}
	return authz.Union(as...), nil
}
