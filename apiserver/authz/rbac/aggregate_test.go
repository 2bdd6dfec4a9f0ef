package rbac

import (
	"reflect"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAggregateDefaults(t *testing.T) {
	roles := DefaultClusterRoles()
	byName := map[string]*rbacv1.ClusterRole{}
	for _, r := range roles {
		byName[r.Name] = r
	}
	// An operator's role labelled aggregate-to-view.
	extra := clusterRole("crontab-view", labelsTrue(AggregateToView), rule(read, g("stable.example.com"), "crontabs"))
	roles = append(roles, extra)
	got, errs := Aggregate(roles)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(got) != 3 {
		t.Fatalf("aggregated %d roles, want admin, edit and view", len(got))
	}
	view, edit, admin := got["view"], got["edit"], got["admin"]
	has := func(rules []rbacv1.PolicyRule, r rbacv1.PolicyRule) bool { return containsRule(rules, r) }
	if !has(view, extra.Rules[0]) || !has(edit, extra.Rules[0]) || !has(admin, extra.Rules[0]) {
		t.Fatal("the operator's view rule is not in view, edit and admin")
	}
	secrets := byName["system:aggregate-to-edit"].Rules[0]
	if has(view, secrets) || !has(edit, secrets) || !has(admin, secrets) {
		t.Fatal("edit's rules must be in edit and admin, not view")
	}
	rbacRule := byName["system:aggregate-to-admin"].Rules[0]
	if has(edit, rbacRule) || !has(admin, rbacRule) {
		t.Fatal("admin's RBAC rule must be in admin only")
	}
	for _, r := range view {
		for _, res := range r.Resources {
			if res == "secrets" {
				t.Fatalf("view grants secrets: %v", r)
			}
		}
	}

	// Once the rules are written back, there is nothing to do; the order
	// the roles come in does not matter.
	for i, r := range roles {
		if rules, ok := got[r.Name]; ok {
			c := r.DeepCopy()
			c.Rules = rules
			roles[i] = c
		}
	}
	for i, j := 0, len(roles)-1; i < j; i, j = i+1, j-1 {
		roles[i], roles[j] = roles[j], roles[i]
	}
	if again, _ := Aggregate(roles); len(again) != 0 {
		t.Fatalf("second pass changes %v", again)
	}
}

func TestAggregateRemovesAndReportsBadSelectors(t *testing.T) {
	agg := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "agg"},
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"x": "y"}}}},
		Rules:           []rbacv1.PolicyRule{rule(v("get"), g(""), "stale")}}
	bad := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "bad"},
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "x", Operator: "Bogus"}}}}}}
	got, errs := Aggregate([]*rbacv1.ClusterRole{agg, bad})
	if rules, ok := got["agg"]; !ok || len(rules) != 0 {
		t.Fatalf("agg's stale rule must go (nothing matches): %v", got)
	}
	if errs["bad"] == nil {
		t.Fatal("a bad selector must be reported")
	}
	if _, ok := got["bad"]; ok {
		t.Fatal("a role with a bad selector is left alone")
	}
}

func TestReconcile(t *testing.T) {
	want := clusterRole("r", nil, rule(v("get"), g(""), "pods"), rule(v("list"), g(""), "pods"))
	if out, a := ReconcileClusterRole(nil, want); a != Create || !reflect.DeepEqual(out, want) {
		t.Fatalf("missing: %v", a)
	}
	// Same content: keep.
	if _, a := ReconcileClusterRole(want.DeepCopy(), want); a != Keep {
		t.Fatalf("same: %v", a)
	}
	// A rule missing: added; an extra rule stays.
	old := want.DeepCopy()
	old.Rules = []rbacv1.PolicyRule{rule(v("get"), g(""), "pods"), rule(v("delete"), g(""), "pods")}
	out, a := ReconcileClusterRole(old, want)
	if a != Update || len(out.Rules) != 3 {
		t.Fatalf("update: %v %v", a, out.Rules)
	}
	// Without the annotation (or with false): never touched.
	old.Annotations = map[string]string{AutoUpdateAnnotation: "false"}
	if _, a := ReconcileClusterRole(old, want); a != Keep {
		t.Fatalf("autoupdate=false: %v", a)
	}
	old.Annotations = nil
	if _, a := ReconcileClusterRole(old, want); a != Keep {
		t.Fatalf("no annotation: %v", a)
	}
	// Aggregated: selectors merged, rules left alone.
	agg := aggregated("admin", nil, AggregateToAdmin)
	cur := agg.DeepCopy()
	cur.Rules = []rbacv1.PolicyRule{rule(v("get"), g(""), "pods")}
	cur.AggregationRule.ClusterRoleSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"mine": "true"}}}
	out, a = ReconcileClusterRole(cur, agg)
	if a != Update || len(out.AggregationRule.ClusterRoleSelectors) != 2 || len(out.Rules) != 1 {
		t.Fatalf("aggregated: %v %+v", a, out)
	}

	b := clusterRoleBinding("b", "r", group("g1"))
	if _, a := ReconcileClusterRoleBinding(nil, b); a != Create {
		t.Fatal(a)
	}
	curB := b.DeepCopy()
	curB.Subjects = []rbacv1.Subject{user("extra")}
	outB, a := ReconcileClusterRoleBinding(curB, b)
	if a != Update || len(outB.Subjects) != 2 {
		t.Fatalf("binding update: %v %v", a, outB)
	}
	curB.RoleRef.Name = "other"
	if outB, a = ReconcileClusterRoleBinding(curB, b); a != Recreate || outB.RoleRef.Name != "r" {
		t.Fatalf("roleRef change: %v", a)
	}
	curB.Annotations = nil
	if _, a = ReconcileClusterRoleBinding(curB, b); a != Keep {
		t.Fatalf("unannotated binding: %v", a)
	}
}
