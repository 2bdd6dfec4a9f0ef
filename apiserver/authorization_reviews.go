package apiserver

// authorization.k8s.io/v1: SelfSubjectAccessReview, SubjectAccessReview,
// LocalSubjectAccessReview and SelfSubjectRulesReview — create-only
// virtual resources, answered by the server's authorizers and never
// stored, what `kubectl auth can-i` asks. A request for someone else
// (SubjectAccessReview, LocalSubjectAccessReview) needs "create" on that
// resource, which only admin (local) and cluster-admin grant.

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/apiserver/authz"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// authorizationGroup is the group authorization_reviews.go serves.
const authorizationGroup = authorizationv1.GroupName

// review is one served review resource.
type review struct {
	resource, kind string
	namespaced     bool
	new            func() runtime.Object
}

var reviews = []review{
	{"localsubjectaccessreviews", "LocalSubjectAccessReview", true, func() runtime.Object { return &authorizationv1.LocalSubjectAccessReview{} }},
	{"selfsubjectaccessreviews", "SelfSubjectAccessReview", false, func() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} }},
	{"selfsubjectrulesreviews", "SelfSubjectRulesReview", false, func() runtime.Object { return &authorizationv1.SelfSubjectRulesReview{} }},
	{"subjectaccessreviews", "SubjectAccessReview", false, func() runtime.Object { return &authorizationv1.SubjectAccessReview{} }},
}

// authorizationDiscovery: the discovery documents of
// authorization.k8s.io/v1.
func authorizationDiscovery() virtualGroup {
	g := virtualGroup{gv: authorizationv1.SchemeGroupVersion, verbs: metav1.Verbs{"create"}}
	for _, rv := range reviews {
		g.resources = append(g.resources, virtualResource{rv.resource, strings.ToLower(rv.kind), rv.kind, rv.namespaced})
	}
	return g
}

// serveReview answers a POST of a review with its status (201).
func (s *Server) serveReview(w http.ResponseWriter, r *http.Request, ri requestInfo) error {
	var rv *review
	for i := range reviews {
		if reviews[i].resource == ri.Resource {
			rv = &reviews[i]
		}
	}
	if rv == nil || ri.Version != authorizationv1.SchemeGroupVersion.Version || ri.Subresource != "" || ri.Name != "" {
		return notFoundPath(r.URL.Path)
	}
	gr := authorizationv1.Resource(rv.resource)
	if rv.namespaced != ri.namespacedPath || (rv.namespaced && ri.Namespace == "") {
		return notFoundPath(r.URL.Path)
	}
	if ri.Verb != "create" {
		return apierrors.NewMethodNotSupported(gr, ri.Verb)
	}
	opts, err := parseWriteOptions(r)
	if err != nil {
		return err
	}
	info, err := s.requestSerializer(r)
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	gvk := authorizationv1.SchemeGroupVersion.WithKind(rv.kind)
	obj, err := s.decodeInto(w, info, body, gvk, rv.new(), opts)
	if err != nil {
		return err
	}
	u, _ := authn.UserFrom(r.Context())
	switch o := obj.(type) {
	case *authorizationv1.SelfSubjectAccessReview:
		if errs := validateReviewSpec(o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes); len(errs) > 0 {
			return apierrors.NewInvalid(gvk.GroupKind(), "", errs)
		}
		o.Status = s.accessReview(r, u, o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes)
	case *authorizationv1.SubjectAccessReview:
		errs := validateReviewSpec(o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes)
		if o.Spec.User == "" && len(o.Spec.Groups) == 0 {
			errs = append(errs, field.Invalid(field.NewPath("spec", "user"), o.Spec.User, "at least one of user or group must be specified"))
		}
		if len(errs) > 0 {
			return apierrors.NewInvalid(gvk.GroupKind(), "", errs)
		}
		o.Status = s.accessReview(r, subjectOf(o.Spec), o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes)
	case *authorizationv1.LocalSubjectAccessReview:
		errs := validateReviewSpec(o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes)
		if o.Spec.User == "" && len(o.Spec.Groups) == 0 {
			errs = append(errs, field.Invalid(field.NewPath("spec", "user"), o.Spec.User, "at least one of user or group must be specified"))
		}
		if o.Spec.NonResourceAttributes != nil {
			errs = append(errs, field.Invalid(field.NewPath("spec", "nonResourceAttributes"), o.Spec.NonResourceAttributes, "disallowed on this kind of request"))
		}
		if ra := o.Spec.ResourceAttributes; ra != nil && ra.Namespace != "" && ra.Namespace != ri.Namespace {
			errs = append(errs, field.Invalid(field.NewPath("spec", "resourceAttributes", "namespace"), ra.Namespace, "must match the namespace of the request ("+ri.Namespace+")"))
		}
		if len(errs) > 0 {
			return apierrors.NewInvalid(gvk.GroupKind(), "", errs)
		}
		o.Namespace = ri.Namespace
		o.Spec.ResourceAttributes.Namespace = ri.Namespace
		o.Status = s.accessReview(r, subjectOf(o.Spec), o.Spec.ResourceAttributes, nil)
	case *authorizationv1.SelfSubjectRulesReview:
		o.Status = s.rulesReview(r, u, o.Spec.Namespace)
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	out, err := s.negotiate(r, nil)
	if err != nil {
		return err
	}
	out.kind = outObject
	s.writeObject(w, r, out, http.StatusCreated, obj)
	return nil
}

// validateReviewSpec: exactly one of the two attribute sets.
func validateReviewSpec(ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) field.ErrorList {
	if (ra == nil) == (nra == nil) {
		return field.ErrorList{field.Invalid(field.NewPath("spec", "resourceAttributes"), ra,
			"exactly one of nonResourceAttributes or resourceAttributes must be specified")}
	}
	return nil
}

// subjectOf is the user a SubjectAccessReview asks about.
func subjectOf(spec authorizationv1.SubjectAccessReviewSpec) *authn.User {
	u := &authn.User{Name: spec.User, UID: spec.UID, Groups: spec.Groups}
	if len(spec.Extra) > 0 {
		u.Extra = map[string][]string{}
		for k, v := range spec.Extra {
			u.Extra[k] = v
		}
	}
	return u
}

// accessReview asks the server's authorizers about u.
func (s *Server) accessReview(r *http.Request, u *authn.User, ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) authorizationv1.SubjectAccessReviewStatus {
	a := authz.Attributes{User: u}
	if ra != nil {
		a.ResourceRequest = true
		a.Verb, a.Group, a.Version, a.Resource = ra.Verb, ra.Group, ra.Version, ra.Resource
		a.Subresource, a.Namespace, a.Name = ra.Subresource, ra.Namespace, ra.Name
		if ra.FieldSelector != nil {
			a.FieldSelector = ra.FieldSelector.RawSelector
		}
		if ra.LabelSelector != nil {
			a.LabelSelector = ra.LabelSelector.RawSelector
		}
	} else {
		a.Verb, a.Path = nra.Verb, nra.Path
	}
	d, reason, err := s.authz.Authorize(r.Context(), a)
	st := authorizationv1.SubjectAccessReviewStatus{Allowed: d == authz.Allow, Denied: d == authz.Deny, Reason: reason}
	if err != nil {
		st.EvaluationError = err.Error()
	}
	return st
}

// rulesReview lists what u may do in namespace, from RBAC (the node
// authorizer's decisions depend on objects, so they are not listed: the
// answer is then incomplete for nodes).
func (s *Server) rulesReview(r *http.Request, u *authn.User, namespace string) authorizationv1.SubjectRulesReviewStatus {
	var st authorizationv1.SubjectRulesReviewStatus
	if s.rbac == nil {
		st.Incomplete = true
		st.EvaluationError = fmt.Sprintf("rules are listed only with the RBAC authorization mode (this server's: %s)",
			strings.Join(s.cfg.AuthorizationModes, ","))
		return st
	}
	rules, errs := s.rbac.RulesFor(r.Context(), u, namespace)
	st.ResourceRules, st.NonResourceRules = []authorizationv1.ResourceRule{}, []authorizationv1.NonResourceRule{}
	for _, rule := range rules {
		st.ResourceRules, st.NonResourceRules = appendReviewRule(st.ResourceRules, st.NonResourceRules, rule)
	}
	if len(errs) > 0 {
		st.Incomplete = true
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		st.EvaluationError = strings.Join(msgs, "; ")
	}
	if _, isNode := nodeUser(u); isNode {
		st.Incomplete = true
	}
	return st
}

func appendReviewRule(rs []authorizationv1.ResourceRule, ns []authorizationv1.NonResourceRule, r rbacv1.PolicyRule) ([]authorizationv1.ResourceRule, []authorizationv1.NonResourceRule) {
	if len(r.NonResourceURLs) > 0 {
		return rs, append(ns, authorizationv1.NonResourceRule{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})
	}
	return append(rs, authorizationv1.ResourceRule{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames}), ns
}
