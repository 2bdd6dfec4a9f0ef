package rbac

import (
	"maps"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AutoUpdateAnnotation marks a default role or binding the API server
// keeps current: "true" on every object of the default policy. An object
// without it (or with another value) is never touched, so an operator who
// edits a default role removes the annotation to keep the edit.
const AutoUpdateAnnotation = "rbac.authorization.kubernetes.io/autoupdate"

// Action is what Reconcile* asks the caller to do.
type Action int

const (
	// Keep: nothing to write.
	Keep Action = iota
	// Create the object returned: it does not exist.
	Create
	// Update the existing object to the one returned.
	Update
	// Recreate: delete the existing object and create the one returned
	// (a binding's roleRef cannot change in place).
	Recreate
)

func (a Action) String() string {
	return [...]string{"keep", "create", "update", "recreate"}[a]
}

func autoUpdate(annotations map[string]string) bool {
	return annotations[AutoUpdateAnnotation] == "true"
}

// ReconcileClusterRole decides how to bring existing (nil: missing) up to
// want, a role of the default policy. A missing role is created. An
// existing one annotated autoupdate=true gets want's labels and
// annotations and every rule of want it does not already grant — added,
// never removed, as Kubernetes' reconciliation does, so that permissions
// an operator added stay; for an aggregated role, want's selectors are
// added to its aggregationRule and its rules are left to the aggregation
// loop. Any other existing role is kept as it is.
func ReconcileClusterRole(existing, want *rbacv1.ClusterRole) (*rbacv1.ClusterRole, Action) {
	if existing == nil {
		return want.DeepCopy(), Create
	}
	if !autoUpdate(existing.Annotations) {
		return nil, Keep
	}
	out := existing.DeepCopy()
	out.Labels = mergeMap(out.Labels, want.Labels)
	out.Annotations = mergeMap(out.Annotations, want.Annotations)
	if want.AggregationRule != nil {
		if out.AggregationRule == nil {
			out.AggregationRule = &rbacv1.AggregationRule{}
		}
		for _, s := range want.AggregationRule.ClusterRoleSelectors {
			if !slices.ContainsFunc(out.AggregationRule.ClusterRoleSelectors, func(have metav1.LabelSelector) bool {
				return equality.Semantic.DeepEqual(have, s)
			}) {
				out.AggregationRule.ClusterRoleSelectors = append(out.AggregationRule.ClusterRoleSelectors, s)
			}
		}
	} else if ok, missing := Covers(out.Rules, want.Rules); !ok {
		out.Rules = append(out.Rules, missing...)
	}
	if equality.Semantic.DeepEqual(out, existing) {
		return nil, Keep
	}
	return out, Update
}

// ReconcileClusterRoleBinding decides how to bring existing (nil:
// missing) up to want. A missing binding is created; one annotated
// autoupdate=true gets want's labels, annotations and missing subjects
// (extra subjects stay), or is recreated when its roleRef differs; any
// other is kept.
func ReconcileClusterRoleBinding(existing, want *rbacv1.ClusterRoleBinding) (*rbacv1.ClusterRoleBinding, Action) {
	if existing == nil {
		return want.DeepCopy(), Create
	}
	if !autoUpdate(existing.Annotations) {
		return nil, Keep
	}
	if existing.RoleRef != want.RoleRef {
		out := want.DeepCopy()
		out.Subjects = mergeSubjects(existing.Subjects, want.Subjects)
		return out, Recreate
	}
	out := existing.DeepCopy()
	out.Labels = mergeMap(out.Labels, want.Labels)
	out.Annotations = mergeMap(out.Annotations, want.Annotations)
	out.Subjects = mergeSubjects(out.Subjects, want.Subjects)
	if equality.Semantic.DeepEqual(out, existing) {
		return nil, Keep
	}
	return out, Update
}

func mergeSubjects(have, want []rbacv1.Subject) []rbacv1.Subject {
	out := slices.Clone(have)
	for _, s := range want {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// mergeMap returns have with want's entries set (want wins).
func mergeMap(have, want map[string]string) map[string]string {
	if len(want) == 0 {
		return have
	}
	out := maps.Clone(have)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, want)
	return out
}
