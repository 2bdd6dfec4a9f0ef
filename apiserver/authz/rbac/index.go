package rbac

// The authorizer's index: which bindings name a user, a group or a
// service account, with their roles' rules resolved, built from a whole
// Versioned source and rebuilt when its version changes. A request then
// costs a few map lookups instead of a scan of every binding and a role
// lookup per binding that applies.

import (
	"context"
	"slices"

	"github.com/kelson-dev/kelson/apiserver/authn"
	rbacv1 "k8s.io/api/rbac/v1"
)

// Version identifies a Versioned source's contents: the API server's is
// the revisions of its four caches (roles, clusterroles, rolebindings,
// clusterrolebindings). Equal versions, equal contents.
type Version [4]int64

// Contents is everything a Versioned source holds, at Version. The
// bindings are in the order the Source's methods return them
// (ClusterRoleBindings, and RoleBindings namespace by namespace).
type Contents struct {
	Version             Version
	Roles               []*rbacv1.Role
	ClusterRoles        []*rbacv1.ClusterRole
	RoleBindings        []*rbacv1.RoleBinding
	ClusterRoleBindings []*rbacv1.ClusterRoleBinding
}

// Versioned is a Source that can say cheaply whether it changed, and
// hand over all its contents at once. The authorizer over one indexes the
// contents and decides from the index while the version holds; the
// decisions are those of the Source's methods.
type Versioned interface {
	Source
	// Version returns the current version; ok is false when it is not
	// known (the source is not loaded yet): the authorizer then reads the
	// Source's methods.
	Version() (v Version, ok bool)
	// Contents returns everything, and the version it reflects.
	Contents(ctx context.Context) (Contents, error)
}

// entry is one binding: where it is, its subjects, and its role's rules
// or the error reading them.
type entry struct {
	kind, name, namespace string
	ref                   rbacv1.RoleRef
	subjects              []rbacv1.Subject
	rules                 []rbacv1.PolicyRule
	err                   error
}

// scope is the bindings of the cluster, or of one namespace, in the
// Source's order, and the ordinals of those naming each user name (User
// subjects, and service accounts' user names) and each group, ascending.
type scope struct {
	entries []entry
	byName  map[string][]int32
	byGroup map[string][]int32
}

func newScope() *scope {
	return &scope{byName: map[string][]int32{}, byGroup: map[string][]int32{}}
}

// add appends e, indexed under what each of its subjects may match
// (SubjectIs), once per key.
func (s *scope) add(e entry) {
	ord := int32(len(s.entries))
	s.entries = append(s.entries, e)
	post := func(m map[string][]int32, key string) {
		if l := m[key]; len(l) == 0 || l[len(l)-1] != ord {
			m[key] = append(l, ord)
		}
	}
	for _, sub := range e.subjects {
		switch sub.Kind {
		case rbacv1.UserKind:
			if sub.Name != "" {
				post(s.byName, sub.Name)
			}
		case rbacv1.GroupKind:
			post(s.byGroup, sub.Name)
		case rbacv1.ServiceAccountKind:
			ns := sub.Namespace
			if ns == "" {
				ns = e.namespace
			}
			if ns != "" && sub.Name != "" {
				post(s.byName, authn.ServiceAccountUser+ns+":"+sub.Name)
			}
		}
	}
}

// candidates returns the ordinals of the entries that may apply to u, in
// order, without repeats; buf is scratch space.
func (s *scope) candidates(u *authn.User, buf []int32) []int32 {
	out := append(buf[:0], s.byName[u.Name]...)
	for _, g := range u.Groups {
		out = append(out, s.byGroup[g]...)
	}
	if len(out) > len(s.byName[u.Name]) {
		slices.Sort(out)
		out = slices.Compact(out)
	}
	return out
}

// index is a Versioned source's contents, indexed.
type index struct {
	version    Version
	cluster    *scope
	namespaces map[string]*scope
}

// buildIndex indexes c: each binding with its role's rules resolved as
// roleRules would (the same errors for missing roles).
func buildIndex(c Contents) *index {
	clusterRoles := make(map[string]*rbacv1.ClusterRole, len(c.ClusterRoles))
	for _, r := range c.ClusterRoles {
		clusterRoles[r.Name] = r
	}
	type nsName struct{ ns, name string }
	roles := make(map[nsName]*rbacv1.Role, len(c.Roles))
	for _, r := range c.Roles {
		roles[nsName{r.Namespace, r.Name}] = r
	}
	lookup := roleLookup{
		clusterRole: func(name string) (*rbacv1.ClusterRole, error) {
			if r, ok := clusterRoles[name]; ok {
				return r, nil
			}
			return nil, NotFound("clusterrole", name)
		},
		role: func(ns, name string) (*rbacv1.Role, error) {
			if r, ok := roles[nsName{ns, name}]; ok {
				return r, nil
			}
			return nil, NotFound("role", name)
		},
	}
	idx := &index{version: c.Version, cluster: newScope(), namespaces: map[string]*scope{}}
	for _, b := range c.ClusterRoleBindings {
		rules, err := lookup.rules(b.RoleRef, "")
		idx.cluster.add(entry{kind: "ClusterRoleBinding", name: b.Name, ref: b.RoleRef, subjects: b.Subjects, rules: rules, err: err})
	}
	for _, b := range c.RoleBindings {
		if b.Namespace == "" {
			continue // not a RoleBinding any namespace lists
		}
		s := idx.namespaces[b.Namespace]
		if s == nil {
			s = newScope()
			idx.namespaces[b.Namespace] = s
		}
		rules, err := lookup.rules(b.RoleRef, b.Namespace)
		s.add(entry{kind: "RoleBinding", name: b.Name, namespace: b.Namespace, ref: b.RoleRef, subjects: b.Subjects, rules: rules, err: err})
	}
	return idx
}

// visit is Authorizer.visit over the index.
func (idx *index) visit(u *authn.User, namespace string, f func(binding, []rbacv1.PolicyRule) bool) []error {
	var errs []error
	var buf [16]int32
	scopes := [2]*scope{idx.cluster, nil}
	if namespace != "" {
		scopes[1] = idx.namespaces[namespace]
	}
	for _, s := range scopes {
		if s == nil {
			continue
		}
		for _, ord := range s.candidates(u, buf[:]) {
			e := &s.entries[ord]
			sub, ok := appliesTo(u, e.subjects, e.namespace)
			if !ok {
				continue
			}
			if e.err != nil {
				errs = append(errs, e.err)
				continue
			}
			if !f(binding{kind: e.kind, name: e.name, namespace: e.namespace, ref: e.ref, subject: sub}, e.rules) {
				return errs
			}
		}
	}
	return errs
}

// current returns the index of z's source at its version, building it
// when the version moved, or nil when the source is not Versioned, its
// version is not known, or its contents cannot be read: then the caller
// reads the Source's methods.
func (z *Authorizer) current(ctx context.Context) *index {
	if z.versioned == nil {
		return nil
	}
	v, ok := z.versioned.Version()
	if !ok {
		return nil
	}
	if idx := z.idx.Load(); idx != nil && idx.version == v {
		return idx
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if idx := z.idx.Load(); idx != nil && idx.version == v {
		return idx
	}
	c, err := z.versioned.Contents(ctx)
	if err != nil {
		return nil
	}
	idx := buildIndex(c)
	if old := z.idx.Load(); old == nil || newer(idx.version, old.version) {
		z.idx.Store(idx)
	}
	if idx.version != v && !newer(idx.version, v) {
		return nil // the contents are older than asked for: read the source
	}
	return idx
}

// newer: every counter of a is at least b's.
func newer(a, b Version) bool {
	for i := range a {
		if a[i] < b[i] {
			return false
		}
	}
	return true
}
