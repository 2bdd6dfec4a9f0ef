package apiserver

import (
	"fmt"
	"net/http"
	"runtime/debug"

	"github.com/kelson-dev/kelson/apiserver/admission"
	"github.com/kelson-dev/kelson/apiserver/authn"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// maxBodyBytes is the largest request body read (kube-apiserver's 3 MiB).
const maxBodyBytes = 3 << 20

// serveHTTP is the outermost handler: it bounds the body, audits the
// request when a policy is set (audit.go), authenticates it, applies its
// Impersonate-* headers (impersonation.go), authorizes it
// (filters.go), and turns a panic in a handler into a 500 Status instead
// of a dropped connection.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil { // on the server's own writer: it closes the connection after a 413
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	}
	var ar *auditRecord // nil: no audit (audit.go)
	if s.audit != nil {
		ar, w = s.startAudit(w, r)
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				ar.complete()
				panic(p)
			}
			s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			s.writeError(w, r, apierrors.NewInternalError(fmt.Errorf("the server failed on this request: %v", p)))
			ar.panicked(p)
			return
		}
		ar.complete()
	}()
	u, err := s.authenticate(r)
	if err != nil {
		if ar != nil {
			ar.decide(r, attributesOf(r, nil))
		}
		s.writeError(w, r, err)
		return
	}
	if ar != nil { // the policy and the event's user: the sender's
		r = ar.decide(r, attributesOf(r, u))
	}
	// Impersonation (impersonation.go): from here on the request is the
	// impersonated user's, for authorization and the handlers.
	as, err := s.impersonate(r.Context(), r, u)
	if err != nil {
		if apierrors.IsForbidden(err) {
			ar.authorized(false, "")
		}
		s.writeError(w, r, err)
		return
	}
	if as != u { // impersonated
		ar.impersonated(as)
		u = as
	}
	r = r.WithContext(withAudit(admission.WithWarnings(authn.WithUser(r.Context(), u), headerWarnings{w.Header()}), ar))
	attrs := attributesOf(r, u)
	err = s.authorize(r.Context(), attrs)
	ar.authorized(err == nil, "")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func notFoundPath(path string) error {
	return apierrors.NewGenericServerResponse(http.StatusNotFound, "get", schema.GroupResource{}, "",
		fmt.Sprintf("the server could not find the requested resource (path %s)", path), 0, false)
}

// serveAPI serves everything under /api and /apis: discovery documents,
// then resource requests.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "query", r.URL.RawQuery, "agent", r.UserAgent())
	if s.serveDiscovery(w, r) {
		return
	}
	q := r.URL.Query()
	ri, ok := parseRequest(r.Method, r.URL.Path, q.Get)
	if !ok {
		s.writeError(w, r, notFoundPath(r.URL.Path))
		return
	}
	if ri.Group == metricsGroup { // computed, not stored (metrics.go)
		if err := s.serveMetrics(w, r, ri); err != nil {
			s.writeError(w, r, err)
		}
		return
	}
	if ri.Group == authenticationGroup { // virtual, create only (authentication.go)
		if err := s.serveAuthenticationAPI(w, r, ri); err != nil {
			s.writeError(w, r, err)
		}
		return
	}
	if ri.Group == authorizationGroup { // reviews, not stored (authorization_reviews.go)
		if err := s.serveReview(w, r, ri); err != nil {
			s.writeError(w, r, err)
		}
		return
	}
	res := s.lookup(schema.GroupVersionResource{Group: ri.Group, Version: ri.Version, Resource: ri.Resource})
	if res == nil {
		s.writeError(w, r, notFoundPath(r.URL.Path))
		return
	}
	if err := checkScope(res, &ri); err != nil {
		s.writeError(w, r, err)
		return
	}
	var err error
	switch ri.Subresource {
	case "":
		err = s.serveResource(w, r, res, ri)
	case "status":
		if !res.kind.HasStatus {
			err = notFoundPath(r.URL.Path)
			break
		}
		err = s.serveStatus(w, r, res, ri)
	case "scale":
		if res.kind.Scale == nil {
			err = notFoundPath(r.URL.Path)
			break
		}
		err = s.serveScale(w, r, res, ri)
	case "finalize":
		if res.kind.Resource != "namespaces" || ri.Verb != "update" {
			err = notFoundPath(r.URL.Path)
			break
		}
		err = s.update(w, r, res, ri, "finalize")
	default:
		err = s.serveSubresource(w, r, res, ri)
	}
	if err != nil {
		s.writeError(w, r, err)
	}
}

// checkScope refuses a namespace on a cluster-scoped resource and a
// missing one where a namespaced verb needs it.
func checkScope(res *resource, ri *requestInfo) error {
	if !res.kind.Namespaced {
		if ri.namespacedPath {
			return apierrors.NewNotFound(res.groupResource(), ri.Name)
		}
		return nil
	}
	if ri.Namespace == "" && ri.Name != "" {
		return apierrors.NewBadRequest(fmt.Sprintf("%s is namespaced: the path needs /namespaces/<namespace>/", res.kind.Resource))
	}
	if ri.Namespace == "" && (ri.Verb == "create" || ri.Verb == "deletecollection") {
		return apierrors.NewBadRequest(fmt.Sprintf("%s is namespaced: %s needs a namespace in the path", res.kind.Resource, ri.Verb))
	}
	return nil
}

// serveResource dispatches the verbs of a resource itself.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) error {
	switch ri.Verb {
	case "get":
		return s.serveGet(w, r, res, ri)
	case "list":
		return s.serveList(w, r, res, ri)
	case "watch":
		return s.serveWatch(w, r, res, ri)
	case "create":
		if ri.Name != "" {
			return apierrors.NewMethodNotSupported(res.groupResource(), "create on a named path")
		}
		return s.serveCreate(w, r, res, ri)
	case "update":
		return s.update(w, r, res, ri, "")
	case "patch":
		return s.servePatch(w, r, res, ri, "")
	case "delete":
		return s.serveDelete(w, r, res, ri)
	case "deletecollection":
		return s.serveDeleteCollection(w, r, res, ri)
	}
	return apierrors.NewMethodNotSupported(res.groupResource(), r.Method)
}

// serveSubresource answers the pods' subresources (binding, eviction,
// and log, exec, attach through the node agent) and those not served yet.
func (s *Server) serveSubresource(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) error {
	if res.kind.Resource == "pods" {
		switch ri.Subresource {
		case "log", "exec", "attach":
			return s.servePodStream(w, r, res, ri)
		case "portforward", "proxy":
			return apierrors.NewServiceUnavailable(fmt.Sprintf(
				"pods/%s is not available: no node agent serves it yet (it comes with Kelson's node agent)", ri.Subresource))
		case "binding":
			return s.serveBinding(w, r, res, ri)
		case "eviction":
			return s.serveEviction(w, r, res, ri)
		}
	}
	if res.kind.Resource == "serviceaccounts" && ri.Subresource == "token" {
		return s.serveTokenRequest(w, r, res, ri)
	}
	return notFoundPath(r.URL.Path)
}
