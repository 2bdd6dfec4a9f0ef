package core

import (
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// nodeRequirement is one compiled node selector requirement: a label
// (or, with field, the node's metadata.name) against values.
type nodeRequirement struct {
	key    string
	op     corev1.NodeSelectorOperator
	values []string
	num    int64 // Gt, Lt
	field  bool  // matchFields: metadata.name
	bad    bool  // never matches (an unparsable Gt/Lt value, an unknown operator)
}

// nodeTerm is a conjunction of requirements. An empty term matches no node.
type nodeTerm []nodeRequirement

// NodeSelector is a pod's placement constraint on node labels: the
// nodeSelector map and the required node affinity terms, compiled once
// per pod. The zero value matches every node.
type NodeSelector struct {
	labels map[string]string
	terms  []nodeTerm
	// hasTerms: required node affinity was given (then one term must
	// match; no terms matches nothing).
	hasTerms bool
}

// Empty reports whether s matches every node.
func (s *NodeSelector) Empty() bool { return len(s.labels) == 0 && !s.hasTerms }

func compileRequirement(r corev1.NodeSelectorRequirement, field bool) nodeRequirement {
	c := nodeRequirement{key: r.Key, op: r.Operator, values: r.Values, field: field}
	switch r.Operator {
	case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
	case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
		c.bad = field
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if len(r.Values) != 1 || field {
			c.bad = true
			break
		}
		n, err := strconv.ParseInt(r.Values[0], 10, 64)
		c.num, c.bad = n, err != nil
	default:
		c.bad = true
	}
	if field && r.Key != "metadata.name" {
		c.bad = true
	}
	return c
}

func compileTerm(t corev1.NodeSelectorTerm) nodeTerm {
	if len(t.MatchExpressions)+len(t.MatchFields) == 0 {
		return nil
	}
	out := make(nodeTerm, 0, len(t.MatchExpressions)+len(t.MatchFields))
	for _, r := range t.MatchExpressions {
		out = append(out, compileRequirement(r, false))
	}
	for _, r := range t.MatchFields {
		out = append(out, compileRequirement(r, true))
	}
	return out
}

// compileNodeSelector compiles the pod's nodeSelector and required node
// affinity.
func compileNodeSelector(spec *corev1.PodSpec) NodeSelector {
	s := NodeSelector{labels: spec.NodeSelector}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		s.hasTerms = true
		for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			s.terms = append(s.terms, compileTerm(t))
		}
	}
	return s
}

func (r *nodeRequirement) matches(name string, labels map[string]string) bool {
	if r.bad {
		return false
	}
	var v string
	var ok bool
	if r.field {
		v, ok = name, true
	} else {
		v, ok = labels[r.key]
	}
	switch r.op {
	case corev1.NodeSelectorOpIn:
		return ok && slices.Contains(r.values, v)
	case corev1.NodeSelectorOpNotIn:
		return !ok || !slices.Contains(r.values, v)
	case corev1.NodeSelectorOpExists:
		return ok
	case corev1.NodeSelectorOpDoesNotExist:
		return !ok
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !ok {
			return false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return false
		}
		if r.op == corev1.NodeSelectorOpGt {
			return n > r.num
		}
		return n < r.num
	}
	return false
}

func (t nodeTerm) matches(name string, labels map[string]string) bool {
	if len(t) == 0 {
		return false
	}
	for i := range t {
		if !t[i].matches(name, labels) {
			return false
		}
	}
	return true
}

// Matches reports whether a node with this name and labels satisfies s.
func (s *NodeSelector) Matches(name string, labels map[string]string) bool {
	for k, v := range s.labels {
		if lv, ok := labels[k]; !ok || lv != v {
			return false
		}
	}
	if !s.hasTerms {
		return true
	}
	for _, t := range s.terms {
		if t.matches(name, labels) {
			return true
		}
	}
	return false
}

// preferredNodeTerm is one weighted preferred node affinity term.
type preferredNodeTerm struct {
	weight int64
	term   nodeTerm
}

func compilePreferredNode(spec *corev1.PodSpec) []preferredNodeTerm {
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil {
		return nil
	}
	var out []preferredNodeTerm
	for _, p := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		if p.Weight == 0 {
			continue
		}
		out = append(out, preferredNodeTerm{weight: int64(p.Weight), term: compileTerm(p.Preference)})
	}
	return out
}

// Tolerates reports whether toleration t tolerates taint: the effect
// matches (an empty effect matches all), the key matches (an empty key
// with Exists matches every taint), and the value matches by the
// operator (Equal, the default; Exists; Gt and Lt compare integers:
// Gt tolerates taints whose value is greater than the toleration's).
func Tolerates(t *corev1.Toleration, taint *corev1.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case "", corev1.TolerationOpEqual:
		return t.Key != "" && t.Value == taint.Value
	case corev1.TolerationOpExists:
		return true
	case corev1.TolerationOpGt, corev1.TolerationOpLt:
		tv, err1 := strconv.ParseInt(t.Value, 10, 64)
		nv, err2 := strconv.ParseInt(taint.Value, 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if t.Operator == corev1.TolerationOpGt {
			return nv > tv
		}
		return nv < tv
	}
	return false
}

// toleratesTaint reports whether any of tols tolerates taint.
func toleratesTaint(tols []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tols {
		if Tolerates(&tols[i], taint) {
			return true
		}
	}
	return false
}

// taintString is how FailedScheduling names an untolerated taint.
func taintString(t *corev1.Taint) string {
	return fmt.Sprintf("{%s: %s}", t.Key, t.Value)
}
