package rbac

import (
	"slices"
	"strings"

	"github.com/kelson-dev/kelson/apiserver/authz"
	rbacv1 "k8s.io/api/rbac/v1"
)

// Allows reports whether rule grants the request a. A resource request
// needs a resource rule (apiGroups, resources, optional resourceNames); a
// non-resource request a rule with nonResourceURLs.
func Allows(rule *rbacv1.PolicyRule, a authz.Attributes) bool {
	if !VerbMatches(rule, a.Verb) {
		return false
	}
	if !a.ResourceRequest {
		return NonResourceURLMatches(rule, a.Path)
	}
	return APIGroupMatches(rule, a.Group) &&
		ResourceMatches(rule, a.Resource, a.Subresource) &&
		ResourceNameMatches(rule, a.Name)
}

// VerbMatches: the rule names the verb, or "*".
func VerbMatches(rule *rbacv1.PolicyRule, verb string) bool {
	return slices.Contains(rule.Verbs, rbacv1.VerbAll) || slices.Contains(rule.Verbs, verb)
}

// APIGroupMatches: the rule names the group ("" is the core group), or "*".
func APIGroupMatches(rule *rbacv1.PolicyRule, group string) bool {
	return slices.Contains(rule.APIGroups, rbacv1.APIGroupAll) || slices.Contains(rule.APIGroups, group)
}

// ResourceMatches: the rule names "*", the resource itself (no
// subresource), "resource/subresource", or "*/subresource" (that
// subresource of any resource). "pods" does not grant "pods/log", and
// "pods/*" is not a pattern (Kubernetes has none such).
func ResourceMatches(rule *rbacv1.PolicyRule, resource, subresource string) bool {
	want := resource
	if subresource != "" {
		want = resource + "/" + subresource
	}
	for _, r := range rule.Resources {
		switch {
		case r == rbacv1.ResourceAll, r == want:
			return true
		case subresource != "" && r == "*/"+subresource:
			return true
		}
	}
	return false
}

// ResourceNameMatches: the rule names no resources (then it is about all
// of them), or names this one. A request without a name (list, watch,
// create, deletecollection) matches only rules without resourceNames.
func ResourceNameMatches(rule *rbacv1.PolicyRule, name string) bool {
	if len(rule.ResourceNames) == 0 {
		return true
	}
	return name != "" && slices.Contains(rule.ResourceNames, name)
}

// NonResourceURLMatches: the rule names "*", the path, or a prefix of it
// ending in "*" ("/healthz/*" matches "/healthz/etcd"; "/api*" matches
// "/apis").
func NonResourceURLMatches(rule *rbacv1.PolicyRule, path string) bool {
	for _, u := range rule.NonResourceURLs {
		switch {
		case u == rbacv1.NonResourceAll, u == path:
			return true
		case strings.HasSuffix(u, "*") && strings.HasPrefix(path, strings.TrimSuffix(u, "*")):
			return true
		}
	}
	return false
}

// AllowsAny reports whether one of rules grants a.
func AllowsAny(rules []rbacv1.PolicyRule, a authz.Attributes) bool {
	for i := range rules {
		if Allows(&rules[i], a) {
			return true
		}
	}
	return false
}
