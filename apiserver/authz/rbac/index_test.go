package rbac

import (
	"context"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/apiserver/authz"
	rbacv1 "k8s.io/api/rbac/v1"
)

// randomPolicy draws roles and bindings over small sets of names, so
// that subjects, groups, namespaces and roles collide often: bindings to
// missing roles, Roles referred to by ClusterRoleBindings, unknown kinds,
// service accounts with and without namespaces, empty names.
type randomPolicy struct{ r *rand.Rand }

var (
	rpNamespaces = []string{"a", "b", "c"}
	rpNames      = []string{"u1", "u2", "u3", "", "system:serviceaccount:a:sa1"}
	rpGroups     = []string{"g1", "g2", "g3", "", authn.AllAuthenticated}
	rpSAs        = []string{"sa1", "sa2", ""}
	rpRoles      = []string{"r1", "r2", "r3", "missing"}
	rpVerbs      = []string{"get", "list", "create", "*"}
	rpAPIGroups  = []string{"", "apps", "*"}
	rpResources  = []string{"pods", "pods/log", "deployments", "*", "*/scale"}
	rpRNames     = []string{"x", "y"}
	rpURLs       = []string{"/healthz", "/api*", "*", "/metrics"}
)

func (p randomPolicy) pick(from []string) string { return from[p.r.Intn(len(from))] }

func (p randomPolicy) some(from []string, max int) []string {
	n := p.r.Intn(max + 1)
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, p.pick(from))
	}
	return out
}

func (p randomPolicy) rules() []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for i := p.r.Intn(3); i > 0; i-- {
		if p.r.Intn(4) == 0 {
			out = append(out, rbacv1.PolicyRule{Verbs: p.some(rpVerbs, 2), NonResourceURLs: p.some(rpURLs, 2)})
			continue
		}
		r := rbacv1.PolicyRule{Verbs: p.some(rpVerbs, 2), APIGroups: p.some(rpAPIGroups, 2), Resources: p.some(rpResources, 2)}
		if p.r.Intn(3) == 0 {
			r.ResourceNames = p.some(rpRNames, 1)
		}
		out = append(out, r)
	}
	return out
}

func (p randomPolicy) subjects() []rbacv1.Subject {
	var out []rbacv1.Subject
	for i := p.r.Intn(4); i > 0; i-- {
		switch p.r.Intn(7) {
		case 0, 1:
			out = append(out, rbacv1.Subject{Kind: rbacv1.UserKind, Name: p.pick(rpNames)})
		case 2, 3:
			out = append(out, rbacv1.Subject{Kind: rbacv1.GroupKind, Name: p.pick(rpGroups)})
		case 4:
			out = append(out, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: p.pick(rpSAs), Namespace: p.pick(append([]string{""}, rpNamespaces...))})
		case 5:
			out = append(out, rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: p.pick(rpSAs)})
		default:
			out = append(out, rbacv1.Subject{Kind: "Robot", Name: p.pick(rpNames)})
		}
	}
	return out
}

func (p randomPolicy) ref() rbacv1.RoleRef {
	kind := []string{"ClusterRole", "Role", "Bogus"}[p.r.Intn(5)%3]
	return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: p.pick(rpRoles)}
}

// objects returns n random roles and bindings.
func (p randomPolicy) objects(n int) []any {
	var out []any
	for i := 0; i < n; i++ {
		ns := p.pick(rpNamespaces)
		name := fmt.Sprintf("o%d", p.r.Intn(n))
		switch p.r.Intn(4) {
		case 0:
			out = append(out, &rbacv1.Role{ObjectMeta: om(ns, p.pick(rpRoles)), Rules: p.rules()})
		case 1:
			out = append(out, &rbacv1.ClusterRole{ObjectMeta: om("", p.pick(rpRoles)), Rules: p.rules()})
		case 2:
			out = append(out, &rbacv1.RoleBinding{ObjectMeta: om(ns, name), RoleRef: p.ref(), Subjects: p.subjects()})
		default:
			out = append(out, &rbacv1.ClusterRoleBinding{ObjectMeta: om("", name), RoleRef: p.ref(), Subjects: p.subjects()})
		}
	}
	return out
}

func (p randomPolicy) user() *authn.User {
	if p.r.Intn(10) == 0 {
		return nil
	}
	name := p.pick(rpNames)
	if p.r.Intn(3) == 0 {
		name = authn.ServiceAccountUser + p.pick(rpNamespaces) + ":" + p.pick(rpSAs)
	}
	return &authn.User{Name: name, Groups: p.some(rpGroups, 3)}
}

func (p randomPolicy) request() authz.Attributes {
	a := authz.Attributes{User: p.user(), Verb: p.pick(rpVerbs[:3])}
	if p.r.Intn(5) == 0 {
		a.Path = p.pick([]string{"/healthz", "/apis", "/api", "/metrics", "/version"})
		return a
	}
	a.ResourceRequest = true
	a.Group = p.pick(rpAPIGroups[:2])
	a.Resource = p.pick([]string{"pods", "deployments"})
	if p.r.Intn(3) == 0 {
		a.Subresource = p.pick([]string{"log", "scale"})
	}
	if p.r.Intn(4) != 0 {
		a.Namespace = p.pick(rpNamespaces)
	}
	if p.r.Intn(2) == 0 {
		a.Name = p.pick(rpRNames)
	}
	return a
}

// TestIndexMatchesScan: on random roles, bindings and requests, the
// indexed authorizer (over a Versioned source) decides exactly as the
// straightforward one (a scan of the bindings per request): decision,
// reason, error, and RulesFor's rules and errors; also after the source
// changes (the index is rebuilt).
func TestIndexMatchesScan(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	p := randomPolicy{r}
	ctx := context.Background()
	for round := 0; round < 200; round++ {
		src := &MemorySource{}
		src.Add(p.objects(1 + r.Intn(40))...)
		indexed, scan := New(src), New(plainSource{src})
		for change := 0; change < 3; change++ {
			for i := 0; i < 50; i++ {
				a := p.request()
				d1, r1, e1 := indexed.Authorize(ctx, a)
				d2, r2, e2 := scan.Authorize(ctx, a)
				if d1 != d2 || r1 != r2 || fmt.Sprint(e1) != fmt.Sprint(e2) {
					t.Fatalf("seed %d round %d: %+v (user %+v):\nindexed %v %q %v\nscan    %v %q %v", seed, round, a, a.User, d1, r1, e1, d2, r2, e2)
				}
				rules1, errs1 := indexed.RulesFor(ctx, a.User, a.Namespace)
				rules2, errs2 := scan.RulesFor(ctx, a.User, a.Namespace)
				if !reflect.DeepEqual(rules1, rules2) || fmt.Sprint(errs1) != fmt.Sprint(errs2) {
					t.Fatalf("seed %d round %d: RulesFor(%+v, %q):\nindexed %v %v\nscan    %v %v", seed, round, a.User, a.Namespace, rules1, errs1, rules2, errs2)
				}
			}
			src.Add(p.objects(1 + r.Intn(10))...)
		}
	}
}

// TestIndexFollowsChanges: a binding added after the index was built
// applies at once; one replaced stops applying.
func TestIndexFollowsChanges(t *testing.T) {
	src := testSource()
	z := New(src)
	ctx := context.Background()
	lee := &authn.User{Name: "lee"}
	get := authz.Attributes{User: lee, Verb: "get", ResourceRequest: true, Resource: "pods", Namespace: "dev", Name: "web"}
	if d, _, _ := z.Authorize(ctx, get); d != authz.NoOpinion {
		t.Fatalf("lee before any binding: %v", d)
	}
	src.Add(&rbacv1.RoleBinding{ObjectMeta: om("dev", "lee"), RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "pod-reader"}, Subjects: []rbacv1.Subject{user("lee")}})
	if d, reason, _ := z.Authorize(ctx, get); d != authz.Allow || reason != `RBAC: allowed by RoleBinding "lee/dev" of Role "pod-reader" to User "lee"` {
		t.Fatalf("lee bound: %v %q", d, reason)
	}
	src.Add(&rbacv1.RoleBinding{ObjectMeta: om("dev", "lee"), RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "pod-reader"}, Subjects: []rbacv1.Subject{user("someone-else")}})
	if d, _, _ := z.Authorize(ctx, get); d != authz.NoOpinion {
		t.Fatalf("lee unbound: %v", d)
	}
}
