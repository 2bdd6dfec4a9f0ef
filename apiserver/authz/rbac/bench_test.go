package rbac

import (
	"context"
	"fmt"
	"testing"

	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/apiserver/authz"
	rbacv1 "k8s.io/api/rbac/v1"
)

// BenchPolicy returns the default policy (aggregated roles filled in)
// plus nRB RoleBindings spread over 10 namespaces (ns-0 ... ns-9) and
// nCRB ClusterRoleBindings: RoleBinding i binds User user-i, Group
// group-<i%7> and ServiceAccount sa-i to "edit" or a Role of its
// namespace; ClusterRoleBinding i binds User crb-user-i to "view".
func benchPolicy(nRB, nCRB int) []any {
	var objs []any
	roles := DefaultClusterRoles()
	changes, _ := Aggregate(roles)
	for _, r := range roles {
		if rules, ok := changes[r.Name]; ok {
			r.Rules = rules
		}
		objs = append(objs, r)
	}
	for _, b := range DefaultClusterRoleBindings() {
		objs = append(objs, b)
	}
	for i := 0; i < 10; i++ {
		ns := fmt.Sprintf("ns-%d", i)
		objs = append(objs, &rbacv1.Role{ObjectMeta: om(ns, "pod-reader"), Rules: []rbacv1.PolicyRule{rule(read, g(""), "pods", "pods/log")}})
	}
	for i := 0; i < nRB; i++ {
		ns := fmt.Sprintf("ns-%d", i%10)
		ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"}
		if i%2 == 1 {
			ref = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"}
		}
		objs = append(objs, &rbacv1.RoleBinding{ObjectMeta: om(ns, fmt.Sprintf("rb-%d", i)), RoleRef: ref,
			Subjects: []rbacv1.Subject{user(fmt.Sprintf("user-%d", i)), group(fmt.Sprintf("group-%d", i%7)),
				{Kind: rbacv1.ServiceAccountKind, Name: fmt.Sprintf("sa-%d", i), Namespace: ns}}})
	}
	for i := 0; i < nCRB; i++ {
		objs = append(objs, &rbacv1.ClusterRoleBinding{ObjectMeta: om("", fmt.Sprintf("crb-%d", i)),
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects: []rbacv1.Subject{user(fmt.Sprintf("crb-user-%d", i))}})
	}
	return objs
}

// benchCases are the requests the benchmarks make, and the decision each
// must get.
func benchCases() []struct {
	name string
	a    authz.Attributes
	want authz.Decision
} {
	get := func(u *authn.User, resource, ns, name string) authz.Attributes {
		return authz.Attributes{User: u, Verb: "get", ResourceRequest: true, Version: "v1", Resource: resource, Namespace: ns, Name: name}
	}
	masters := &authn.User{Name: "system:admin", Groups: []string{authn.SystemPrivileged, authn.AllAuthenticated}}
	// user-42's RoleBinding rb-42 is in ns-2 (edit).
	namespaced := &authn.User{Name: "user-42", Groups: []string{"group-3", authn.AllAuthenticated}}
	nodeUser := &authn.User{Name: "system:node:n1", Groups: []string{authn.NodesGroup, authn.AllAuthenticated}}
	denied := &authn.User{Name: "mallory", Groups: []string{"outsiders", authn.AllAuthenticated}}
	return []struct {
		name string
		a    authz.Attributes
		want authz.Decision
	}{
		{"masters", get(masters, "pods", "ns-2", "web"), authz.Allow},
		{"namespaced", get(namespaced, "pods", "ns-2", "web"), authz.Allow},
		{"node", get(nodeUser, "pods", "ns-2", "web"), authz.NoOpinion},
		{"denied", get(denied, "secrets", "ns-2", "db"), authz.NoOpinion},
	}
}

// plainSource hides every method but Source's: the authorizer over it
// takes the straightforward path (a scan of the bindings per request).
type plainSource struct{ Source }

// BenchmarkRBACAuthorize: the RBAC authorizer alone over the default
// policy + 200 RoleBindings + 50 ClusterRoleBindings, per user kind;
// "scan" is the straightforward path, "indexed" the authorizer as built.
func BenchmarkRBACAuthorize(b *testing.B) {
	src := &MemorySource{}
	src.Add(benchPolicy(200, 50)...)
	ctx := context.Background()
	for _, impl := range []struct {
		name string
		z    *Authorizer
	}{{"scan", New(plainSource{src})}, {"indexed", New(src)}} {
		for _, c := range benchCases() {
			b.Run(impl.name+"/"+c.name, func(b *testing.B) {
				if d, reason, err := impl.z.Authorize(ctx, c.a); d != c.want || err != nil {
					b.Fatalf("got %v (%q, %v), want %v", d, reason, err, c.want)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					impl.z.Authorize(ctx, c.a)
				}
			})
		}
	}
}
