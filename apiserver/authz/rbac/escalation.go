package rbac

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kelson-dev/kelson/apiserver/authn"
	rbacv1 "k8s.io/api/rbac/v1"
)

// Escalation prevention: a user may write a role, or a binding to one,
// only if it already holds every permission the role grants — unless it
// is allowed the "escalate" verb on the role (for roles) or "bind" on the
// referenced role (for bindings). The API server asks for those verbs
// through the authorizer; the pure part, here, is whether a set of rules
// covers another.

// FullAuthority is every permission: what a user must hold to write a
// ClusterRole with an aggregationRule (its rules come from other roles,
// so the writer could not otherwise be checked).
var FullAuthority = []rbacv1.PolicyRule{
	{Verbs: []string{rbacv1.VerbAll}, APIGroups: []string{rbacv1.APIGroupAll}, Resources: []string{rbacv1.ResourceAll}},
	{Verbs: []string{rbacv1.VerbAll}, NonResourceURLs: []string{rbacv1.NonResourceAll}},
}

// Covers reports whether owner grants everything requested grants. It
// returns what is not covered, one rule per (group, resource, name) or
// non-resource URL, verbs merged, in the order requested names them.
func Covers(owner, requested []rbacv1.PolicyRule) (bool, []rbacv1.PolicyRule) {
	var missing []rbacv1.PolicyRule
	for _, r := range requested {
		for _, atom := range breakdown(r) {
			if covered(owner, atom) {
				continue
			}
			missing = mergeVerb(missing, atom)
		}
	}
	return len(missing) == 0, missing
}

// breakdown splits r into rules of one verb and one group, resource,
// resource name (if any) or non-resource URL each.
func breakdown(r rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, u := range r.NonResourceURLs {
		for _, v := range r.Verbs {
			out = append(out, rbacv1.PolicyRule{Verbs: []string{v}, NonResourceURLs: []string{u}})
		}
	}
	for _, g := range r.APIGroups {
		for _, res := range r.Resources {
			if len(r.ResourceNames) == 0 {
				for _, v := range r.Verbs {
					out = append(out, rbacv1.PolicyRule{Verbs: []string{v}, APIGroups: []string{g}, Resources: []string{res}})
				}
				continue
			}
			for _, n := range r.ResourceNames {
				for _, v := range r.Verbs {
					out = append(out, rbacv1.PolicyRule{Verbs: []string{v}, APIGroups: []string{g}, Resources: []string{res}, ResourceNames: []string{n}})
				}
			}
		}
	}
	return out
}

// covered: some owner rule grants the atomic rule a (one verb, one group,
// resource, name or URL). A wildcard in a is covered only by the same
// wildcard.
func covered(owner []rbacv1.PolicyRule, a rbacv1.PolicyRule) bool {
	verb := a.Verbs[0]
	for i := range owner {
		o := &owner[i]
		if !VerbMatches(o, verb) {
			continue
		}
		if len(a.NonResourceURLs) > 0 {
			if urlCovers(o.NonResourceURLs, a.NonResourceURLs[0]) {
				return true
			}
			continue
		}
		if !APIGroupMatches(o, a.APIGroups[0]) || !resourceCovers(o.Resources, a.Resources[0]) {
			continue
		}
		if len(o.ResourceNames) == 0 || (len(a.ResourceNames) == 1 && slices.Contains(o.ResourceNames, a.ResourceNames[0])) {
			return true
		}
	}
	return false
}

func resourceCovers(have []string, want string) bool {
	if slices.Contains(have, rbacv1.ResourceAll) || slices.Contains(have, want) {
		return true
	}
	if _, sub, ok := strings.Cut(want, "/"); ok {
		return slices.Contains(have, "*/"+sub)
	}
	return false
}

func urlCovers(have []string, want string) bool {
	for _, h := range have {
		switch {
		case h == rbacv1.NonResourceAll, h == want:
			return true
		case strings.HasSuffix(h, "*") && strings.HasPrefix(want, strings.TrimSuffix(h, "*")):
			return true
		}
	}
	return false
}

// mergeVerb adds the atomic rule a to rules, into the rule of the same
// target when there is one.
func mergeVerb(rules []rbacv1.PolicyRule, a rbacv1.PolicyRule) []rbacv1.PolicyRule {
	for i := range rules {
		r := &rules[i]
		if slices.Equal(r.APIGroups, a.APIGroups) && slices.Equal(r.Resources, a.Resources) &&
			slices.Equal(r.ResourceNames, a.ResourceNames) && slices.Equal(r.NonResourceURLs, a.NonResourceURLs) {
			if !slices.Contains(r.Verbs, a.Verbs[0]) {
				r.Verbs = append(r.Verbs, a.Verbs[0])
			}
			return rules
		}
	}
	return append(rules, a)
}

// CompactString writes a rule as kube-apiserver's messages do:
// {APIGroups:["apps"], Resources:["deployments"], Verbs:["get" "list"]},
// naming only the fields set.
func CompactString(r rbacv1.PolicyRule) string {
	var parts []string
	add := func(name string, v []string) {
		if len(v) > 0 {
			parts = append(parts, fmt.Sprintf("%s:%q", name, v))
		}
	}
	add("APIGroups", r.APIGroups)
	add("Resources", r.Resources)
	add("ResourceNames", r.ResourceNames)
	add("NonResourceURLs", r.NonResourceURLs)
	add("Verbs", r.Verbs)
	return "{" + strings.Join(parts, ", ") + "}"
}

// EscalationMessage is the reason of the 403 refusing u a role or binding
// that grants missing: `user "bob" (groups=["g"]) is attempting to grant
// RBAC permissions not currently held:` then one rule a line. Errors met
// resolving u's own rules are appended, since they may be why.
func EscalationMessage(u *authn.User, missing []rbacv1.PolicyRule, ruleErrs []error) string {
	var b strings.Builder
	name, groups := "", []string{}
	if u != nil {
		name = u.Name
		if u.Groups != nil {
			groups = u.Groups
		}
	}
	fmt.Fprintf(&b, "user %q (groups=%q) is attempting to grant RBAC permissions not currently held:", name, groups)
	for _, r := range missing {
		b.WriteString("\n")
		b.WriteString(CompactString(r))
	}
	if len(ruleErrs) > 0 {
		b.WriteString("; resolution errors: ")
		b.WriteString(joinErrors(ruleErrs))
	}
	return b.String()
}
