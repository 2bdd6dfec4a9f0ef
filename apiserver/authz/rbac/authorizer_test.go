package rbac

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/apiserver/authz"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func om(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }

func testSource() *MemorySource {
	src := &MemorySource{}
	src.Add(
		&rbacv1.Role{ObjectMeta: om("dev", "pod-reader"), Rules: []rbacv1.PolicyRule{rule(read, g(""), "pods", "pods/log")}},
		&rbacv1.ClusterRole{ObjectMeta: om("", "secret-reader"), Rules: []rbacv1.PolicyRule{rule(v("get"), g(""), "secrets")}},
		&rbacv1.ClusterRole{ObjectMeta: om("", "node-lister"), Rules: []rbacv1.PolicyRule{rule(v("list"), g(""), "nodes")}},
		// jane reads pods in dev; the team group reads secrets in dev (a
		// ClusterRole bound in one namespace); ci's "builder" account
		// reads pods (subject without a namespace: the binding's).
		&rbacv1.RoleBinding{ObjectMeta: om("dev", "jane-pods"), RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "pod-reader"},
			Subjects: []rbacv1.Subject{user("jane")}},
		&rbacv1.RoleBinding{ObjectMeta: om("dev", "team-secrets"), RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "secret-reader"},
			Subjects: []rbacv1.Subject{group("team")}},
		&rbacv1.RoleBinding{ObjectMeta: om("dev", "builder"), RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "pod-reader"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "builder"}}},
		&rbacv1.RoleBinding{ObjectMeta: om("dev", "dangling"), RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "gone"},
			Subjects: []rbacv1.Subject{user("bob")}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: om("", "ops-nodes"), RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "node-lister"},
			Subjects: []rbacv1.Subject{group("ops"), {Kind: rbacv1.ServiceAccountKind, Name: "mon", Namespace: "kube-system"}}},
	)
	return src
}

func TestAuthorize(t *testing.T) {
	jane := &authn.User{Name: "jane", Groups: []string{authn.AllAuthenticated}}
	teamMember := &authn.User{Name: "kim", Groups: []string{"team"}}
	builder := &authn.User{Name: "system:serviceaccount:dev:builder"}
	otherBuilder := &authn.User{Name: "system:serviceaccount:prod:builder"}
	mon := &authn.User{Name: "system:serviceaccount:kube-system:mon"}
	bob := &authn.User{Name: "bob"}
	res := func(u *authn.User, verb, resource, sub, ns, name string) authz.Attributes {
		return authz.Attributes{User: u, Verb: verb, ResourceRequest: true, Resource: resource, Subresource: sub, Namespace: ns, Name: name}
	}
	cases := []struct {
		name   string
		a      authz.Attributes
		want   authz.Decision
		reason string
	}{
		{"role grants get", res(jane, "get", "pods", "", "dev", "web"), authz.Allow, `RBAC: allowed by RoleBinding "jane-pods/dev" of Role "pod-reader" to User "jane"`},
		{"and the subresource named", res(jane, "get", "pods", "log", "dev", "web"), authz.Allow, ""},
		{"not another subresource", res(jane, "create", "pods", "exec", "dev", "web"), authz.NoOpinion, ""},
		{"not a verb it lacks", res(jane, "delete", "pods", "", "dev", "web"), authz.NoOpinion, ""},
		{"not in another namespace", res(jane, "get", "pods", "", "prod", "web"), authz.NoOpinion, ""},
		{"not across namespaces", res(jane, "list", "pods", "", "", ""), authz.NoOpinion, ""},
		{"not secrets", res(jane, "get", "secrets", "", "dev", "s"), authz.NoOpinion, ""},
		{"group binding of a cluster role in a namespace", res(teamMember, "get", "secrets", "", "dev", "s"), authz.Allow,
			`RBAC: allowed by RoleBinding "team-secrets/dev" of ClusterRole "secret-reader" to Group "team"`},
		{"only in that namespace", res(teamMember, "get", "secrets", "", "prod", "s"), authz.NoOpinion, ""},
		{"service account of the binding's namespace", res(builder, "list", "pods", "", "dev", ""), authz.Allow, ""},
		{"same name, other namespace", res(otherBuilder, "list", "pods", "", "dev", ""), authz.NoOpinion, ""},
		{"cluster binding, service account subject", res(mon, "list", "nodes", "", "", ""), authz.Allow,
			`RBAC: allowed by ClusterRoleBinding "ops-nodes" of ClusterRole "node-lister" to ServiceAccount "mon/kube-system"`},
		{"cluster binding applies in namespaces too", res(&authn.User{Name: "x", Groups: []string{"ops"}}, "list", "nodes", "", "", ""), authz.Allow, ""},
		{"dangling role is reported", res(bob, "get", "pods", "", "dev", "p"), authz.NoOpinion, `RBAC: role.rbac.authorization.k8s.io "gone" not found`},
		{"no user", res(nil, "get", "pods", "", "dev", "p"), authz.NoOpinion, ""},
	}
	z := New(testSource())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, reason, err := z.Authorize(context.Background(), c.a)
			if err != nil {
				t.Fatal(err)
			}
			if d != c.want {
				t.Fatalf("decision %v, want %v (reason %q)", d, c.want, reason)
			}
			if c.reason != "" && reason != c.reason {
				t.Fatalf("reason %q, want %q", reason, c.reason)
			}
		})
	}
}

func TestRulesFor(t *testing.T) {
	z := New(testSource())
	rules, errs := z.RulesFor(context.Background(), &authn.User{Name: "bob", Groups: []string{"team", "ops"}}, "dev")
	if len(rules) != 2 {
		t.Fatalf("rules %v, want secret-reader's and node-lister's", rules)
	}
	if len(errs) != 1 || !errors.Is(errs[0], ErrNotFound) {
		t.Fatalf("errs %v, want the dangling binding's role not found", errs)
	}
	rules, _ = z.RulesFor(context.Background(), &authn.User{Name: "bob", Groups: []string{"team", "ops"}}, "")
	if len(rules) != 1 {
		t.Fatalf("cluster-wide rules %v, want node-lister's only", rules)
	}
}

func TestEscalationMessage(t *testing.T) {
	_, missing := Covers(nil, []rbacv1.PolicyRule{rule(v("get", "list"), g(""), "secrets")})
	got := EscalationMessage(&authn.User{Name: "alice", Groups: []string{"system:authenticated"}}, missing, nil)
	want := `user "alice" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:` +
		"\n" + `{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	got = EscalationMessage(&authn.User{Name: "alice"}, missing, []error{NotFound("clusterrole", "x")})
	if !strings.HasSuffix(got, `; resolution errors: clusterrole.rbac.authorization.k8s.io "x" not found`) || !strings.Contains(got, "(groups=[])") {
		t.Fatalf("got %s", got)
	}
}
