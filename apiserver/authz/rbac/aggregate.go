package rbac

import (
	"fmt"
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Aggregate computes the rules of every ClusterRole with an
// aggregationRule: the rules of the other ClusterRoles whose labels match
// one of its clusterRoleSelectors, in the order of their names, each rule
// once. An aggregated role may itself be selected by another (edit's rules
// go into admin): Aggregate iterates until nothing changes, so the result
// does not depend on the order roles are given in; a cycle converges too
// (rules only accumulate, and there are finitely many).
//
// It returns the roles whose rules must change, with their new rules, by
// name; roles already current are left out. A selector that does not parse
// makes its role's entry an error (the role is left as it is).
func Aggregate(roles []*rbacv1.ClusterRole) (map[string][]rbacv1.PolicyRule, map[string]error) {
	sorted := append([]*rbacv1.ClusterRole(nil), roles...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	current := make(map[string][]rbacv1.PolicyRule, len(sorted))
	for _, r := range sorted {
		current[r.Name] = r.Rules
	}
	selectors := map[string][]labels.Selector{}
	errs := map[string]error{}
	for _, r := range sorted {
		if r.AggregationRule == nil {
			continue
		}
		var sels []labels.Selector
		for i := range r.AggregationRule.ClusterRoleSelectors {
			s, err := metav1.LabelSelectorAsSelector(&r.AggregationRule.ClusterRoleSelectors[i])
			if err != nil {
				errs[r.Name] = fmt.Errorf("rbac: clusterrole %q: aggregationRule.clusterRoleSelectors[%d]: %w", r.Name, i, err)
				sels = nil
				break
			}
			sels = append(sels, s)
		}
		if sels != nil {
			selectors[r.Name] = sels
		}
	}
	for pass := 0; pass <= len(sorted); pass++ {
		changed := false
		for _, r := range sorted {
			sels, ok := selectors[r.Name]
			if !ok {
				continue
			}
			var rules []rbacv1.PolicyRule
			for _, other := range sorted {
				if other.Name == r.Name || !matchesAny(sels, other.Labels) {
					continue
				}
				for _, rule := range current[other.Name] {
					if !containsRule(rules, rule) {
						rules = append(rules, rule)
					}
				}
			}
			if !equalRules(rules, current[r.Name]) {
				current[r.Name] = rules
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	out := map[string][]rbacv1.PolicyRule{}
	for _, r := range sorted {
		if _, ok := selectors[r.Name]; ok && !equalRules(current[r.Name], r.Rules) {
			out[r.Name] = current[r.Name]
		}
	}
	return out, errs
}

func matchesAny(sels []labels.Selector, l map[string]string) bool {
	for _, s := range sels {
		if s.Matches(labels.Set(l)) {
			return true
		}
	}
	return false
}

func containsRule(rules []rbacv1.PolicyRule, r rbacv1.PolicyRule) bool {
	for i := range rules {
		if equality.Semantic.DeepEqual(rules[i], r) {
			return true
		}
	}
	return false
}

// equalRules compares rule lists, nil and empty alike.
func equalRules(a, b []rbacv1.PolicyRule) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return equality.Semantic.DeepEqual(a, b)
}
