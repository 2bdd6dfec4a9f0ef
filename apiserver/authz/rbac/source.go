package rbac

import (
	"context"
	"fmt"
	"sort"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"
)

// notFound is a missing role, in kube-apiserver's words
// (`clusterrole.rbac.authorization.k8s.io "x" not found`).
type notFound struct{ resource, name string }

func (e notFound) Error() string {
	return fmt.Sprintf("%s.%s %q not found", e.resource, rbacv1.GroupName, e.name)
}

func (e notFound) Is(target error) bool { return target == ErrNotFound }

// NotFound returns the error a Source gives for a missing role: resource
// is "role" or "clusterrole".
func NotFound(resource, name string) error { return notFound{resource, name} }

// MemorySource is a Source over objects held in memory: tests, and the
// pure policy checks. Its zero value is empty and ready; Set* replace an
// object (by namespace and name), Delete* remove it.
type MemorySource struct {
	mu                  sync.RWMutex
	roles               map[string]*rbacv1.Role // namespace/name
	clusterRoles        map[string]*rbacv1.ClusterRole
	roleBindings        map[string]*rbacv1.RoleBinding
	clusterRoleBindings map[string]*rbacv1.ClusterRoleBinding
	gen                 int64 // counts Adds: the Version
}

var _ Versioned = (*MemorySource)(nil)

// Add adds (or replaces) objects: *rbacv1.Role, ClusterRole, RoleBinding
// or ClusterRoleBinding. Other types are ignored.
func (m *MemorySource) Add(objs ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	if m.roles == nil {
		m.roles, m.clusterRoles = map[string]*rbacv1.Role{}, map[string]*rbacv1.ClusterRole{}
		m.roleBindings, m.clusterRoleBindings = map[string]*rbacv1.RoleBinding{}, map[string]*rbacv1.ClusterRoleBinding{}
	}
	for _, o := range objs {
		switch o := o.(type) {
		case *rbacv1.Role:
			m.roles[o.Namespace+"/"+o.Name] = o
		case *rbacv1.ClusterRole:
			m.clusterRoles[o.Name] = o
		case *rbacv1.RoleBinding:
			m.roleBindings[o.Namespace+"/"+o.Name] = o
		case *rbacv1.ClusterRoleBinding:
			m.clusterRoleBindings[o.Name] = o
		}
	}
}

// Role implements Source.
func (m *MemorySource) Role(_ context.Context, namespace, name string) (*rbacv1.Role, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if r, ok := m.roles[namespace+"/"+name]; ok {
		return r, nil
	}
	return nil, NotFound("role", name)
}

// ClusterRole implements Source.
func (m *MemorySource) ClusterRole(_ context.Context, name string) (*rbacv1.ClusterRole, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if r, ok := m.clusterRoles[name]; ok {
		return r, nil
	}
	return nil, NotFound("clusterrole", name)
}

// ClusterRoles returns every ClusterRole, by name.
func (m *MemorySource) ClusterRoles() []*rbacv1.ClusterRole {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*rbacv1.ClusterRole, 0, len(m.clusterRoles))
	for _, r := range m.clusterRoles {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RoleBindings implements Source.
func (m *MemorySource) RoleBindings(_ context.Context, namespace string) ([]*rbacv1.RoleBinding, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []*rbacv1.RoleBinding
	for _, b := range m.roleBindings {
		if b.Namespace == namespace {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ClusterRoleBindings implements Source.
func (m *MemorySource) ClusterRoleBindings(context.Context) ([]*rbacv1.ClusterRoleBinding, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*rbacv1.ClusterRoleBinding, 0, len(m.clusterRoleBindings))
	for _, b := range m.clusterRoleBindings {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Version implements Versioned: it moves with every Add.
func (m *MemorySource) Version() (Version, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return Version{m.gen}, true
}

// Contents implements Versioned: the bindings sorted as the Source's
// methods return them (RoleBindings by namespace, then name).
func (m *MemorySource) Contents(context.Context) (Contents, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c := Contents{Version: Version{m.gen}}
	for _, r := range m.roles {
		c.Roles = append(c.Roles, r)
	}
	for _, r := range m.clusterRoles {
		c.ClusterRoles = append(c.ClusterRoles, r)
	}
	for _, b := range m.roleBindings {
		c.RoleBindings = append(c.RoleBindings, b)
	}
	sort.Slice(c.RoleBindings, func(i, j int) bool {
		a, b := c.RoleBindings[i], c.RoleBindings[j]
		return a.Namespace < b.Namespace || a.Namespace == b.Namespace && a.Name < b.Name
	})
	for _, b := range m.clusterRoleBindings {
		c.ClusterRoleBindings = append(c.ClusterRoleBindings, b)
	}
	sort.Slice(c.ClusterRoleBindings, func(i, j int) bool { return c.ClusterRoleBindings[i].Name < c.ClusterRoleBindings[j].Name })
	return c, nil
}
