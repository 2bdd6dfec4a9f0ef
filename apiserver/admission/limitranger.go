package admission

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// LimitRanger applies a namespace's LimitRanges, as kube-apiserver's
// plugin of that name: Admit gives a new pod's containers the default
// limits and requests of the Container items they leave unset (and
// records what it set in the annotation kubernetes.io/limit-ranger);
// Validate enforces min, max and maxLimitRequestRatio of the Container,
// Pod and PersistentVolumeClaim items on pod creates and on claim
// creates and updates.
type LimitRanger struct {
	LimitRanges LimitRangeLister
}

// limitRangerAnnotation records the defaults LimitRanger set.
const limitRangerAnnotation = "kubernetes.io/limit-ranger"

// Handles creates and updates.
func (p *LimitRanger) Handles(op Operation) bool { return op == Create || op == Update }

// Admit sets the Container defaults on a new pod.
func (p *LimitRanger) Admit(ctx context.Context, a *Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || a.Operation != Create || a.Subresource != "" {
		return nil
	}
	ranges, err := p.LimitRanges.ListLimitRanges(ctx, a.Namespace)
	if err != nil || len(ranges) == 0 {
		return err
	}
	DefaultPodResources(pod, ranges)
	return nil
}

// Validate enforces the limits.
func (p *LimitRanger) Validate(ctx context.Context, a *Attributes) error {
	if a.Subresource != "" {
		return nil
	}
	var check func([]*corev1.LimitRange) []string
	switch o := a.Object.(type) {
	case *corev1.Pod:
		if a.Operation != Create {
			return nil
		}
		check = func(rs []*corev1.LimitRange) []string { return PodLimitViolations(o, rs) }
	case *corev1.PersistentVolumeClaim:
		check = func(rs []*corev1.LimitRange) []string { return ClaimLimitViolations(o, rs) }
	default:
		return nil
	}
	ranges, err := p.LimitRanges.ListLimitRanges(ctx, a.Namespace)
	if err != nil || len(ranges) == 0 {
		return err
	}
	if msgs := check(ranges); len(msgs) > 0 {
		return forbidden(a, errors.New(aggregate(msgs)))
	}
	return nil
}

// DefaultPodResources gives pod's containers (init containers too) the
// default limits and requests of the ranges' Container items, where they
// set none, and records what it set in the limit-ranger annotation.
func DefaultPodResources(pod *corev1.Pod, ranges []*corev1.LimitRange) {
	limits, requests := corev1.ResourceList{}, corev1.ResourceList{}
	for _, lr := range ranges {
		for _, it := range lr.Spec.Limits {
			if it.Type != corev1.LimitTypeContainer {
				continue
			}
			for n, q := range it.Default {
				if _, ok := limits[n]; !ok {
					limits[n] = q
				}
			}
			for n, q := range it.DefaultRequest {
				if _, ok := requests[n]; !ok {
					requests[n] = q
				}
			}
		}
	}
	if len(limits) == 0 && len(requests) == 0 {
		return
	}
	var notes []string
	apply := func(c *corev1.Container) {
		setL := fill(&c.Resources.Limits, limits)
		setR := fill(&c.Resources.Requests, requests)
		if len(setR) > 0 {
			notes = append(notes, fmt.Sprintf("%s request for %s %s", strings.Join(setR, ", "), "container", c.Name))
		}
		if len(setL) > 0 {
			notes = append(notes, fmt.Sprintf("%s limit for %s %s", strings.Join(setL, ", "), "container", c.Name))
		}
	}
	for i := range pod.Spec.InitContainers {
		apply(&pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		apply(&pod.Spec.Containers[i])
	}
	if len(notes) > 0 {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[limitRangerAnnotation] = "LimitRanger plugin set: " + strings.Join(notes, "; ")
	}
}

// fill sets into *dst each of defaults it lacks; it returns the names
// set, sorted.
func fill(dst *corev1.ResourceList, defaults corev1.ResourceList) []string {
	var set []string
	for _, n := range sortedKeys(defaults) {
		if _, ok := (*dst)[n]; ok {
			continue
		}
		if *dst == nil {
			*dst = corev1.ResourceList{}
		}
		(*dst)[n] = defaults[n].DeepCopy()
		set = append(set, string(n))
	}
	return set
}

// PodLimitViolations checks pod against the ranges' Container and Pod
// items: Kubernetes' messages, in order.
func PodLimitViolations(pod *corev1.Pod, ranges []*corev1.LimitRange) []string {
	var msgs []string
	for _, lr := range ranges {
		for _, it := range lr.Spec.Limits {
			switch it.Type {
			case corev1.LimitTypeContainer:
				for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
					for _, c := range cs {
						msgs = append(msgs, itemViolations(it, c.Resources.Requests, c.Resources.Limits)...)
					}
				}
			case corev1.LimitTypePod:
				msgs = append(msgs, itemViolations(it, podTotal(pod, false), podTotal(pod, true))...)
			}
		}
	}
	return msgs
}

// ClaimLimitViolations checks a claim's storage request against the
// ranges' PersistentVolumeClaim items.
func ClaimLimitViolations(pvc *corev1.PersistentVolumeClaim, ranges []*corev1.LimitRange) []string {
	var msgs []string
	req := pvc.Spec.Resources.Requests
	for _, lr := range ranges {
		for _, it := range lr.Spec.Limits {
			if it.Type != corev1.LimitTypePersistentVolumeClaim {
				continue
			}
			kind := string(it.Type)
			for _, n := range sortedKeys(it.Min) {
				msgs = append(msgs, minViolation(kind, n, it.Min[n], req, nil)...)
			}
			for _, n := range sortedKeys(it.Max) {
				min := it.Max[n]
				r, ok := req[n]
				switch {
				case !ok:
					msgs = append(msgs, fmt.Sprintf("maximum %s usage per %s is %s.  No request is specified", n, kind, min.String()))
				case r.Cmp(min) > 0:
					msgs = append(msgs, fmt.Sprintf("maximum %s usage per %s is %s, but request is %s", n, kind, min.String(), r.String()))
				}
			}
		}
	}
	return msgs
}

// itemViolations checks requests and limits against one item's min, max
// and maxLimitRequestRatio.
func itemViolations(it corev1.LimitRangeItem, requests, limits corev1.ResourceList) []string {
	kind := string(it.Type)
	var msgs []string
	for _, n := range sortedKeys(it.Min) {
		msgs = append(msgs, minViolation(kind, n, it.Min[n], requests, limits)...)
	}
	for _, n := range sortedKeys(it.Max) {
		max := it.Max[n]
		l, hasL := limits[n]
		r, hasR := requests[n]
		switch {
		case !hasL:
			msgs = append(msgs, fmt.Sprintf("maximum %s usage per %s is %s.  No limit is specified", n, kind, max.String()))
		case l.Cmp(max) > 0:
			msgs = append(msgs, fmt.Sprintf("maximum %s usage per %s is %s, but limit is %s", n, kind, max.String(), l.String()))
		case hasR && r.Cmp(max) > 0:
			msgs = append(msgs, fmt.Sprintf("maximum %s usage per %s is %s, but request is %s", n, kind, max.String(), r.String()))
		}
	}
	for _, n := range sortedKeys(it.MaxLimitRequestRatio) {
		ratio := it.MaxLimitRequestRatio[n]
		l, hasL := limits[n]
		r, hasR := requests[n]
		switch {
		case !hasR || r.IsZero():
			msgs = append(msgs, fmt.Sprintf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", n, kind, ratio.String()))
		case !hasL || l.IsZero():
			msgs = append(msgs, fmt.Sprintf("%s max limit to request ratio per %s is %s, but no limit is specified or limit is 0", n, kind, ratio.String()))
		default:
			observed := float64(l.MilliValue()) / float64(r.MilliValue())
			if observed > ratio.AsApproximateFloat64() {
				msgs = append(msgs, fmt.Sprintf("%s max limit to request ratio per %s is %s, but provided ratio is %f", n, kind, ratio.String(), observed))
			}
		}
	}
	return msgs
}

func minViolation(kind string, n corev1.ResourceName, min resource.Quantity, requests, limits corev1.ResourceList) []string {
	r, hasR := requests[n]
	l, hasL := limits[n]
	switch {
	case !hasR:
		return []string{fmt.Sprintf("minimum %s usage per %s is %s.  No request is specified", n, kind, min.String())}
	case r.Cmp(min) < 0:
		return []string{fmt.Sprintf("minimum %s usage per %s is %s, but request is %s", n, kind, min.String(), r.String())}
	case hasL && l.Cmp(min) < 0:
		return []string{fmt.Sprintf("minimum %s usage per %s is %s, but limit is %s", n, kind, min.String(), l.String())}
	}
	return nil
}

// podTotal is a pod's requests (or limits) as LimitRanger sees them: the
// containers' sum, raised to any init container's own value.
func podTotal(pod *corev1.Pod, limits bool) corev1.ResourceList {
	of := func(c corev1.Container) corev1.ResourceList {
		if limits {
			return c.Resources.Limits
		}
		return c.Resources.Requests
	}
	sum := corev1.ResourceList{}
	for _, c := range pod.Spec.Containers {
		for n, q := range of(c) {
			cur := sum[n]
			cur.Add(q)
			sum[n] = cur
		}
	}
	for _, c := range pod.Spec.InitContainers {
		for n, q := range of(c) {
			if cur, ok := sum[n]; !ok || q.Cmp(cur) > 0 {
				sum[n] = q.DeepCopy()
			}
		}
	}
	return sum
}
