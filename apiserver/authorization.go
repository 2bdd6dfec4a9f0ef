package apiserver

// Authorization's wiring: the Node and RBAC authorizers over the watch
// caches (their Graph and Source), RBAC's escalation checks on writes of
// roles and bindings, and the server's RBAC loop (the default policy at
// start, then ClusterRole aggregation). The decisions are the pure
// packages authz/rbac and authz/node; this file reads caches and writes.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/apiserver/authz"
	"github.com/kelson-dev/kelson/apiserver/authz/node"
	"github.com/kelson-dev/kelson/apiserver/authz/rbac"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// privilegedGroups allows every request of system:masters, before any
// other authorizer and whatever the roles say (as kube-apiserver does with
// RBAC on): the admin is never locked out, even before the caches load.
var privilegedGroups = authz.Func(func(_ context.Context, a authz.Attributes) (authz.Decision, string, error) {
	if a.User.InGroup(authn.SystemPrivileged) {
		return authz.Allow, "", nil
	}
	return authz.NoOpinion, "", nil
})

// apiserverUser is who the server's own writes (the default policy,
// aggregation) are made as: kube-apiserver's loopback identity.
var apiserverUser = &authn.User{Name: "system:apiserver", Groups: []string{authn.SystemPrivileged, authn.AllAuthenticated}}

// rbacAuthorizer returns the RBAC authorizer (built once; kept for
// SelfSubjectRulesReview and the escalation checks).
func (s *Server) rbacAuthorizer() authz.Authorizer {
	s.rbac = rbac.New(newCacheRBAC(s))
	return authz.Union(privilegedGroups, s.rbac)
}

// nodeUser reports whether u is a node's (the node authorizer's users).
func nodeUser(u *authn.User) (string, bool) { return node.NodeName(u) }

// nodeAuthorizer returns the node authorizer over the pod cache.
func (s *Server) nodeAuthorizer() authz.Authorizer { return node.New(cacheGraph{s}) }

// readyCache finds a built-in resource's cache and waits for its first
// list (ctx bounds the wait).
func (s *Server) readyCache(ctx context.Context, group, resource string) (*resource, error) {
	for _, r := range s.builtin {
		if r.kind.GVK.Group == group && r.kind.Resource == resource {
			if err := r.cache.WaitReady(ctx); err != nil {
				return nil, fmt.Errorf("the %s cache is not ready: %w", resource, err)
			}
			return r, nil
		}
	}
	return nil, fmt.Errorf("apiserver: no %s resource", resource)
}

// cacheRBAC is rbac.Source over the watch caches. Built by
// newCacheRBAC it is also rbac.Versioned (the caches' revisions), so the
// authorizer indexes the bindings and decides without listing them.
type cacheRBAC struct {
	s *Server
	// The caches of roles, clusterroles, rolebindings and
	// clusterrolebindings (nil without newCacheRBAC).
	caches *[4]*resource
}

var _ rbac.Versioned = cacheRBAC{}

// newCacheRBAC is cacheRBAC with its four caches found.
func newCacheRBAC(s *Server) cacheRBAC {
	var cs [4]*resource
	for i, name := range []string{"roles", "clusterroles", "rolebindings", "clusterrolebindings"} {
		for _, r := range s.builtin {
			if r.kind.GVK.Group == rbacv1.GroupName && r.kind.Resource == name {
				cs[i] = r
			}
		}
		if cs[i] == nil {
			return cacheRBAC{s: s} // no such resource: no index, the Source's methods say why
		}
	}
	return cacheRBAC{s: s, caches: &cs}
}

// Version implements rbac.Versioned: the four caches' revisions, unknown
// until each has loaded (revision 0).
func (c cacheRBAC) Version() (rbac.Version, bool) {
	if c.caches == nil {
		return rbac.Version{}, false
	}
	var v rbac.Version
	for i, r := range c.caches {
		if v[i] = r.cache.Rev(); v[i] == 0 {
			return v, false
		}
	}
	return v, true
}

// Contents implements rbac.Versioned: every role and binding, each cache
// listed once (sorted by key, as the Source's methods return them).
func (c cacheRBAC) Contents(ctx context.Context) (rbac.Contents, error) {
	var out rbac.Contents
	if c.caches == nil {
		return out, errors.New("apiserver: the RBAC caches are missing")
	}
	for i, r := range c.caches {
		if err := r.cache.WaitReady(ctx); err != nil {
			return out, fmt.Errorf("the %s cache is not ready: %w", r.kind.Resource, err)
		}
		objs, rev := r.cache.List(r.prefix)
		out.Version[i] = rev
		for _, o := range objs {
			switch o := o.Obj.(type) {
			case *rbacv1.Role:
				out.Roles = append(out.Roles, o)
			case *rbacv1.ClusterRole:
				out.ClusterRoles = append(out.ClusterRoles, o)
			case *rbacv1.RoleBinding:
				out.RoleBindings = append(out.RoleBindings, o)
			case *rbacv1.ClusterRoleBinding:
				out.ClusterRoleBindings = append(out.ClusterRoleBindings, o)
			}
		}
	}
	return out, nil
}

func (c cacheRBAC) get(ctx context.Context, resource, ns, name string) (runtime.Object, error) {
	r, err := c.s.readyCache(ctx, rbacv1.GroupName, resource)
	if err != nil {
		return nil, err
	}
	o, ok, _ := r.cache.Get(r.key(ns, name))
	if !ok {
		return nil, nil
	}
	return o.Obj, nil
}

func (c cacheRBAC) Role(ctx context.Context, ns, name string) (*rbacv1.Role, error) {
	o, err := c.get(ctx, "roles", ns, name)
	if r, ok := o.(*rbacv1.Role); ok && err == nil {
		return r, nil
	}
	if err == nil {
		err = rbac.NotFound("role", name)
	}
	return nil, err
}

func (c cacheRBAC) ClusterRole(ctx context.Context, name string) (*rbacv1.ClusterRole, error) {
	o, err := c.get(ctx, "clusterroles", "", name)
	if r, ok := o.(*rbacv1.ClusterRole); ok && err == nil {
		return r, nil
	}
	if err == nil {
		err = rbac.NotFound("clusterrole", name)
	}
	return nil, err
}

func (c cacheRBAC) RoleBindings(ctx context.Context, ns string) ([]*rbacv1.RoleBinding, error) {
	r, err := c.s.readyCache(ctx, rbacv1.GroupName, "rolebindings")
	if err != nil {
		return nil, err
	}
	objs, _ := r.cache.List(r.listPrefix(ns))
	out := make([]*rbacv1.RoleBinding, 0, len(objs))
	for _, o := range objs {
		if b, ok := o.Obj.(*rbacv1.RoleBinding); ok {
			out = append(out, b)
		}
	}
	return out, nil
}

func (c cacheRBAC) ClusterRoleBindings(ctx context.Context) ([]*rbacv1.ClusterRoleBinding, error) {
	r, err := c.s.readyCache(ctx, rbacv1.GroupName, "clusterrolebindings")
	if err != nil {
		return nil, err
	}
	objs, _ := r.cache.List(r.prefix)
	out := make([]*rbacv1.ClusterRoleBinding, 0, len(objs))
	for _, o := range objs {
		if b, ok := o.Obj.(*rbacv1.ClusterRoleBinding); ok {
			out = append(out, b)
		}
	}
	return out, nil
}

// cacheGraph is node.Graph over the pod and claim caches.
type cacheGraph struct{ s *Server }

func (g cacheGraph) PodsOnNode(ctx context.Context, ns, nodeName string) ([]*corev1.Pod, error) {
	r, err := g.s.readyCache(ctx, "", "pods")
	if err != nil {
		return nil, err
	}
	objs, _ := r.cache.List(r.listPrefix(ns))
	var out []*corev1.Pod
	for _, o := range objs {
		if p, ok := o.Obj.(*corev1.Pod); ok && p.Spec.NodeName == nodeName {
			out = append(out, p)
		}
	}
	return out, nil
}

func (g cacheGraph) Pod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	r, err := g.s.readyCache(ctx, "", "pods")
	if err != nil {
		return nil, err
	}
	o, ok, _ := r.cache.Get(r.key(ns, name))
	if !ok {
		return nil, nil
	}
	p, _ := o.Obj.(*corev1.Pod)
	return p, nil
}

func (g cacheGraph) PersistentVolumeClaim(ctx context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	r, err := g.s.readyCache(ctx, "", "persistentvolumeclaims")
	if err != nil {
		return nil, err
	}
	o, ok, _ := r.cache.Get(r.key(ns, name))
	if !ok {
		return nil, nil
	}
	c, _ := o.Obj.(*corev1.PersistentVolumeClaim)
	return c, nil
}

// checkRBACWrite refuses a write of a Role, ClusterRole or binding that
// would grant permissions its writer does not hold (escalation
// prevention, with RBAC on). obj is the object to store, old the stored
// one (nil on create). The server's own writes (no user in ctx) and
// system:masters pass.
func (s *Server) checkRBACWrite(ctx context.Context, res *resource, obj, old runtime.Object) error {
	if s.rbac == nil || res.kind.GVK.Group != rbacv1.GroupName {
		return nil
	}
	u, ok := authn.UserFrom(ctx)
	if !ok || u.InGroup(authn.SystemPrivileged) {
		return nil
	}
	gr := res.groupResource()
	name := metaOf(obj).GetName()
	ns := metaOf(obj).GetNamespace()
	var requested []rbacv1.PolicyRule
	switch o := obj.(type) {
	case *rbacv1.Role:
		if prev, ok := old.(*rbacv1.Role); ok && equality.Semantic.DeepEqual(prev.Rules, o.Rules) {
			return nil
		}
		if s.allowed(ctx, u, "escalate", "roles", ns, name) {
			return nil
		}
		requested = o.Rules
	case *rbacv1.ClusterRole:
		if prev, ok := old.(*rbacv1.ClusterRole); ok && equality.Semantic.DeepEqual(prev.Rules, o.Rules) &&
			equality.Semantic.DeepEqual(prev.AggregationRule, o.AggregationRule) {
			return nil
		}
		if s.allowed(ctx, u, "escalate", "clusterroles", "", name) {
			return nil
		}
		requested = o.Rules
		if o.AggregationRule != nil {
			// Its rules will be whatever the selected roles grant.
			requested = rbac.FullAuthority
		}
	case *rbacv1.RoleBinding:
		if prev, ok := old.(*rbacv1.RoleBinding); ok && prev.RoleRef == o.RoleRef && equality.Semantic.DeepEqual(prev.Subjects, o.Subjects) {
			return nil
		}
		rules, mayBind, err := s.boundRules(ctx, u, o.RoleRef, ns)
		if mayBind {
			return nil
		}
		if err != nil {
			return apierrors.NewForbidden(gr, name, err)
		}
		requested = rules
	case *rbacv1.ClusterRoleBinding:
		if prev, ok := old.(*rbacv1.ClusterRoleBinding); ok && prev.RoleRef == o.RoleRef && equality.Semantic.DeepEqual(prev.Subjects, o.Subjects) {
			return nil
		}
		rules, mayBind, err := s.boundRules(ctx, u, o.RoleRef, "")
		if mayBind {
			return nil
		}
		if err != nil {
			return apierrors.NewForbidden(gr, name, err)
		}
		requested = rules
	default:
		return nil
	}
	held, errs := s.rbac.RulesFor(ctx, u, ns)
	if ok, missing := rbac.Covers(held, requested); !ok {
		return apierrors.NewForbidden(gr, name, errors.New(rbac.EscalationMessage(u, missing, errs)))
	}
	return nil
}

// boundRules returns the rules of the role a binding (in ns, "" for a
// ClusterRoleBinding) refers to, for the escalation check, or mayBind
// when u may "bind" that role (then there is nothing to check).
func (s *Server) boundRules(ctx context.Context, u *authn.User, ref rbacv1.RoleRef, ns string) (rules []rbacv1.PolicyRule, mayBind bool, err error) {
	resource := "clusterroles"
	if ref.Kind == "Role" {
		resource = "roles"
	}
	if s.allowed(ctx, u, "bind", resource, ns, ref.Name) {
		return nil, true, nil
	}
	src := cacheRBAC{s: s}
	if ref.Kind == "Role" {
		r, err := src.Role(ctx, ns, ref.Name)
		if err != nil {
			return nil, false, err
		}
		return r.Rules, false, nil
	}
	r, err := src.ClusterRole(ctx, ref.Name)
	if err != nil {
		return nil, false, err
	}
	return r.Rules, false, nil
}

// allowed asks the server's authorizers whether u may do verb on an RBAC
// resource (escalate, bind).
func (s *Server) allowed(ctx context.Context, u *authn.User, verb, resource, ns, name string) bool {
	d, _, _ := s.authz.Authorize(ctx, authz.Attributes{User: u, Verb: verb, ResourceRequest: true,
		Group: rbacv1.GroupName, Version: "v1", Resource: resource, Namespace: ns, Name: name})
	return d == authz.Allow
}

// runRBAC writes the default policy once the caches have loaded (retrying
// until it succeeds), then keeps aggregated ClusterRoles' rules current
// until ctx ends. Only with RBAC on.
func (s *Server) runRBAC(ctx context.Context) {
	if s.rbac == nil {
		return
	}
	ctx = authn.WithUser(ctx, apiserverUser)
	roles, err := s.readyCache(ctx, rbacv1.GroupName, "clusterroles")
	if err != nil {
		return
	}
	for ctx.Err() == nil {
		if err := s.reconcileDefaultPolicy(ctx); err == nil {
			break
		} else if ctx.Err() == nil {
			s.log.Warn("default RBAC policy: retrying", "err", err)
		}
		sleep(ctx, time.Second)
	}
	var seen int64
	for ctx.Err() == nil {
		if rev := roles.cache.Rev(); rev != seen {
			if err := s.aggregateClusterRoles(ctx, roles); err != nil && ctx.Err() == nil {
				s.log.Warn("clusterrole aggregation: retrying", "err", err)
			} else {
				seen = rev
			}
		}
		sleep(ctx, 200*time.Millisecond)
	}
}

var writeAsServer = writeOptions{fieldManager: "kelson-apiserver", fieldValidation: "Ignore"}

// reconcileDefaultPolicy creates the default roles and bindings that are
// missing and brings autoupdate ones up to date (rbac.Reconcile*).
func (s *Server) reconcileDefaultPolicy(ctx context.Context) error {
	roles, err := s.readyCache(ctx, rbacv1.GroupName, "clusterroles")
	if err != nil {
		return err
	}
	bindings, err := s.readyCache(ctx, rbacv1.GroupName, "clusterrolebindings")
	if err != nil {
		return err
	}
	for _, want := range rbac.DefaultClusterRoles() {
		err := s.reconcileObject(ctx, roles, want.Name, func(cur runtime.Object) (runtime.Object, rbac.Action) {
			c, _ := cur.(*rbacv1.ClusterRole)
			out, a := rbac.ReconcileClusterRole(c, want)
			return out, a
		})
		if err != nil {
			return fmt.Errorf("clusterrole %s: %w", want.Name, err)
		}
	}
	for _, want := range rbac.DefaultClusterRoleBindings() {
		err := s.reconcileObject(ctx, bindings, want.Name, func(cur runtime.Object) (runtime.Object, rbac.Action) {
			c, _ := cur.(*rbacv1.ClusterRoleBinding)
			out, a := rbac.ReconcileClusterRoleBinding(c, want)
			return out, a
		})
		if err != nil {
			return fmt.Errorf("clusterrolebinding %s: %w", want.Name, err)
		}
	}
	return nil
}

// reconcileObject applies decide to the stored object name of res (nil
// when missing): create, update (decided again on each attempt's read) or
// delete and create.
func (s *Server) reconcileObject(ctx context.Context, res *resource, name string,
	decide func(cur runtime.Object) (runtime.Object, rbac.Action)) error {
	cur, err := s.get(ctx, res, "", name)
	if apierrors.IsNotFound(err) {
		cur, err = nil, nil
	}
	if err != nil {
		return err
	}
	want, action := decide(cur)
	switch action {
	case rbac.Keep:
		return nil
	case rbac.Create:
		return s.createAsServer(ctx, res, want)
	case rbac.Recreate:
		if _, err := s.deleteObject(ctx, res, "", name, &metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		return s.createAsServer(ctx, res, want)
	}
	_, _, err = s.updateObject(ctx, res, requestInfo{Name: name}, "", writeAsServer, func(cur runtime.Object) (runtime.Object, error) {
		out, action := decide(cur)
		if action != rbac.Update {
			return cur, nil // changed meanwhile: nothing (more) to do
		}
		return out, nil
	})
	return err
}

func (s *Server) createAsServer(ctx context.Context, res *resource, obj runtime.Object) error {
	obj = obj.DeepCopyObject()
	setTypeMeta(obj, res)
	metaOf(obj).SetResourceVersion("")
	_, err := s.createObject(ctx, res, "", obj, writeAsServer)
	if apierrors.IsAlreadyExists(err) {
		return nil // another server made it; the next start reconciles it
	}
	return err
}

// aggregateClusterRoles writes the rules of every aggregated ClusterRole
// that changed (rbac.Aggregate over the cache).
func (s *Server) aggregateClusterRoles(ctx context.Context, roles *resource) error {
	objs, _ := roles.cache.List(roles.prefix)
	all := make([]*rbacv1.ClusterRole, 0, len(objs))
	for _, o := range objs {
		if r, ok := o.Obj.(*rbacv1.ClusterRole); ok {
			all = append(all, r)
		}
	}
	changes, errs := rbac.Aggregate(all)
	for name, err := range errs {
		s.log.Warn("clusterrole aggregation: bad selector", "clusterrole", name, "err", err)
	}
	for name, rules := range changes {
		_, _, err := s.updateObject(ctx, roles, requestInfo{Name: name}, "", writeAsServer, func(cur runtime.Object) (runtime.Object, error) {
			r := cur.(*rbacv1.ClusterRole)
			if r.AggregationRule == nil {
				return cur, nil
			}
			r.Rules = rules
			return r, nil
		})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("clusterrole %s: %w", name, err)
		}
	}
	return nil
}
