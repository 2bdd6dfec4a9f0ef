package rbac

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/apiserver/authz"
	rbacv1 "k8s.io/api/rbac/v1"
)

// ErrNotFound is wrapped by a Source for a role that does not exist.
var ErrNotFound = errors.New("rbac: not found")

// Source is what the authorizer reads: roles and bindings. The API server
// implements it over its watch caches; tests over a map (MemorySource).
// Objects returned are shared and never modified by the caller. Methods
// must be safe for concurrent use; ctx bounds a wait for the caches.
type Source interface {
	// Role returns the Role, or an error wrapping ErrNotFound.
	Role(ctx context.Context, namespace, name string) (*rbacv1.Role, error)
	// ClusterRole returns the ClusterRole, or an error wrapping ErrNotFound.
	ClusterRole(ctx context.Context, name string) (*rbacv1.ClusterRole, error)
	// RoleBindings returns the RoleBindings of a namespace.
	RoleBindings(ctx context.Context, namespace string) ([]*rbacv1.RoleBinding, error)
	// ClusterRoleBindings returns every ClusterRoleBinding.
	ClusterRoleBindings(ctx context.Context) ([]*rbacv1.ClusterRoleBinding, error)
}

// Authorizer is RBAC over a Source. Its zero value is not usable; build it
// with New.
type Authorizer struct {
	src Source
	// versioned is src when it is Versioned: the authorizer then decides
	// from idx, an index of its contents rebuilt (under mu) when its
	// version moves.
	versioned Versioned
	mu        sync.Mutex
	idx       atomic.Pointer[index]
}

// New returns the RBAC authorizer reading src. When src is Versioned, the
// authorizer indexes its bindings by subject, rebuilding the index when
// the version changes; its decisions are the same.
func New(src Source) *Authorizer {
	z := &Authorizer{src: src}
	z.versioned, _ = src.(Versioned)
	return z
}

// Authorize allows a request some binding of a's user grants; otherwise it
// has no opinion (RBAC never denies: the next authorizer, or the 403,
// decides). The reason of an Allow names the binding, as kube-apiserver's
// does; the reason of a NoOpinion lists the roles that could not be read
// (a binding to a role that does not exist), else it is empty.
func (z *Authorizer) Authorize(ctx context.Context, a authz.Attributes) (authz.Decision, string, error) {
	var allowedBy []byte
	errs := z.visit(ctx, a.User, a.Namespace, func(by binding, rules []rbacv1.PolicyRule) bool {
		if AllowsAny(rules, a) {
			allowedBy = by.appendTo(append(make([]byte, 0, 160), "RBAC: allowed by "...))
			return false
		}
		return true
	})
	if allowedBy != nil {
		return authz.Allow, string(allowedBy), nil
	}
	if len(errs) > 0 {
		return authz.NoOpinion, "RBAC: " + joinErrors(errs), nil
	}
	return authz.NoOpinion, "", nil
}

// RulesFor returns the rules u holds in namespace (the cluster-wide ones
// and, when namespace is not "", those of the namespace's RoleBindings),
// and the errors met reading them (a binding's missing role): the rules
// are then incomplete.
func (z *Authorizer) RulesFor(ctx context.Context, u *authn.User, namespace string) ([]rbacv1.PolicyRule, []error) {
	var rules []rbacv1.PolicyRule
	errs := z.visit(ctx, u, namespace, func(_ binding, rs []rbacv1.PolicyRule) bool {
		rules = append(rules, rs...)
		return true
	})
	return rules, errs
}

// binding describes where rules came from, for reasons.
type binding struct {
	kind, name, namespace string // ClusterRoleBinding or RoleBinding
	ref                   rbacv1.RoleRef
	subject               rbacv1.Subject
}

// String is kube-apiserver's wording: `ClusterRoleBinding "x" of
// ClusterRole "y" to User "z"`, `RoleBinding "b/ns" of Role "r" to
// ServiceAccount "sa/ns"`.
func (b binding) String() string { return string(b.appendTo(nil)) }

// appendTo appends String's text to buf (one allocation per request
// allowed, not fmt's dozen).
func (b binding) appendTo(buf []byte) []byte {
	name := b.name
	if b.namespace != "" {
		name += "/" + b.namespace
	}
	subject := b.subject.Name
	if b.subject.Kind == rbacv1.ServiceAccountKind && b.subject.Namespace != "" {
		subject += "/" + b.subject.Namespace
	}
	buf = append(buf, b.kind...)
	buf = append(buf, ' ')
	buf = strconv.AppendQuote(buf, name)
	buf = append(buf, " of "...)
	buf = append(buf, b.ref.Kind...)
	buf = append(buf, ' ')
	buf = strconv.AppendQuote(buf, b.ref.Name)
	buf = append(buf, " to "...)
	buf = append(buf, b.subject.Kind...)
	buf = append(buf, ' ')
	return strconv.AppendQuote(buf, subject)
}

// visit calls f with the rules of every binding that applies to u —
// ClusterRoleBindings, then namespace's RoleBindings — until f returns
// false. It returns the errors met (unreadable roles or bindings).
func (z *Authorizer) visit(ctx context.Context, u *authn.User, namespace string, f func(binding, []rbacv1.PolicyRule) bool) []error {
	if u == nil {
		return nil
	}
	if idx := z.current(ctx); idx != nil {
		return idx.visit(u, namespace, f)
	}
	var errs []error
	crbs, err := z.src.ClusterRoleBindings(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	for _, crb := range crbs {
		s, ok := appliesTo(u, crb.Subjects, "")
		if !ok {
			continue
		}
		rules, err := z.roleRules(ctx, crb.RoleRef, "")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !f(binding{kind: "ClusterRoleBinding", name: crb.Name, ref: crb.RoleRef, subject: s}, rules) {
			return errs
		}
	}
	if namespace == "" {
		return errs
	}
	rbs, err := z.src.RoleBindings(ctx, namespace)
	if err != nil {
		errs = append(errs, err)
	}
	for _, rb := range rbs {
		s, ok := appliesTo(u, rb.Subjects, namespace)
		if !ok {
			continue
		}
		rules, err := z.roleRules(ctx, rb.RoleRef, namespace)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !f(binding{kind: "RoleBinding", name: rb.Name, namespace: namespace, ref: rb.RoleRef, subject: s}, rules) {
			return errs
		}
	}
	return errs
}

// roleRules returns the rules ref points at: a ClusterRole, or a Role of
// namespace.
func (z *Authorizer) roleRules(ctx context.Context, ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error) {
	return roleLookup{
		clusterRole: func(name string) (*rbacv1.ClusterRole, error) { return z.src.ClusterRole(ctx, name) },
		role:        func(ns, name string) (*rbacv1.Role, error) { return z.src.Role(ctx, ns, name) },
	}.rules(ref, namespace)
}

// roleLookup finds roles (the Source's, or an index's maps).
type roleLookup struct {
	clusterRole func(name string) (*rbacv1.ClusterRole, error)
	role        func(namespace, name string) (*rbacv1.Role, error)
}

// rules returns the rules of the role ref of a binding in namespace ("":
// a ClusterRoleBinding).
func (l roleLookup) rules(ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error) {
	switch ref.Kind {
	case "ClusterRole":
		r, err := l.clusterRole(ref.Name)
		if err != nil {
			return nil, err
		}
		return r.Rules, nil
	case "Role":
		if namespace == "" {
			return nil, fmt.Errorf("rbac: a ClusterRoleBinding refers to Role %q", ref.Name)
		}
		r, err := l.role(namespace, ref.Name)
		if err != nil {
			return nil, err
		}
		return r.Rules, nil
	}
	return nil, fmt.Errorf("rbac: unknown role kind %q of role %q", ref.Kind, ref.Name)
}

// appliesTo returns the first subject that is u. A ServiceAccount subject
// without a namespace is one of the binding's namespace (bindingNS, "" for
// a ClusterRoleBinding, where validation requires it).
func appliesTo(u *authn.User, subjects []rbacv1.Subject, bindingNS string) (rbacv1.Subject, bool) {
	for _, s := range subjects {
		if SubjectIs(s, u, bindingNS) {
			return s, true
		}
	}
	return rbacv1.Subject{}, false
}

// SubjectIs reports whether the subject s of a binding in bindingNS names u.
func SubjectIs(s rbacv1.Subject, u *authn.User, bindingNS string) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return s.Name != "" && u.Name == s.Name
	case rbacv1.GroupKind:
		return u.InGroup(s.Name)
	case rbacv1.ServiceAccountKind:
		ns := s.Namespace
		if ns == "" {
			ns = bindingNS
		}
		if ns == "" || s.Name == "" {
			return false
		}
		return u.Name == authn.ServiceAccountUser+ns+":"+s.Name
	}
	return false
}

func joinErrors(errs []error) string {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	if len(msgs) == 1 {
		return msgs[0]
	}
	return "[" + strings.Join(msgs, ", ") + "]"
}
