package core

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// PodInfo is a pod compiled for scheduling: its requests, host ports,
// selectors and affinity terms parsed once (when the pod enters the queue
// or the cache), so the per-node checks do no parsing and no allocation.
// A PodInfo is immutable once built; a changed pod gets a new one.
type PodInfo struct {
	Pod *corev1.Pod
	// Key is "namespace/name".
	Key string
	// Priority is the pod's resolved priority (spec.priority, or its
	// PriorityClass's value).
	Priority int32
	// Requests is what the pod occupies on a node (see PodRequests).
	Requests Resources
	// NonZeroCPU and NonZeroMem are the requests the scorers count.
	NonZeroCPU, NonZeroMem int64
	// Ports are the host ports the pod's containers bind.
	Ports []HostPort

	NodeSelector       NodeSelector
	preferredNodeTerms []preferredNodeTerm

	RequiredAffinity      []AffinityTerm
	RequiredAntiAffinity  []AffinityTerm
	PreferredAffinity     []AffinityTerm
	PreferredAntiAffinity []AffinityTerm

	Spread []SpreadConstraint

	// Err is set when the pod's selectors cannot be compiled; such a pod is
	// unschedulable with Err as the reason (as an existing pod, its
	// unparsable terms are ignored).
	Err error
}

// HasAffinity reports whether the pod has any inter-pod (anti-)affinity
// term.
func (p *PodInfo) HasAffinity() bool {
	return len(p.RequiredAffinity)+len(p.RequiredAntiAffinity)+len(p.PreferredAffinity)+len(p.PreferredAntiAffinity) > 0
}

// Terminating reports whether the pod is being deleted.
func (p *PodInfo) Terminating() bool { return p.Pod.DeletionTimestamp != nil }

// HostPort is one host port a pod binds: protocol, host IP ("" or
// "0.0.0.0" for every address) and port.
type HostPort struct {
	Protocol corev1.Protocol
	IP       string
	Port     int32
}

func (a HostPort) conflicts(b HostPort) bool {
	if a.Port != b.Port || a.Protocol != b.Protocol {
		return false
	}
	return a.IP == b.IP || wildcard(a.IP) || wildcard(b.IP)
}

func wildcard(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }

// AffinityTerm is a compiled pod (anti-)affinity term: which pods it
// selects (label selector in namespaces) and the node label that defines
// "co-located". Weight is set for preferred terms.
type AffinityTerm struct {
	Selector labels.Selector
	// Namespaces the term applies to; with NamespaceSelector, the union.
	Namespaces []string
	// NamespaceSelector selects namespaces by label; nil selects none.
	NamespaceSelector labels.Selector
	TopologyKey       string
	Weight            int64
	// equal, when the selector is only "key = value" requirements (the
	// common matchLabels case), matches with one lookup per label.
	equal []labelKV
	fast  bool
}

type labelKV struct{ key, value string }

// Matches reports whether pod q is selected by the term. nsLabels holds
// the namespaces' labels (for namespaceSelector).
func (t *AffinityTerm) Matches(q *corev1.Pod, nsLabels map[string]labels.Set) bool {
	if !slices.Contains(t.Namespaces, q.Namespace) {
		if t.NamespaceSelector == nil || !t.NamespaceSelector.Matches(nsLabels[q.Namespace]) {
			return false
		}
	}
	if t.fast {
		for _, kv := range t.equal {
			if v, ok := q.Labels[kv.key]; !ok || v != kv.value {
				return false
			}
		}
		return true
	}
	return t.Selector.Matches(labels.Set(q.Labels))
}

// equalities returns s's requirements as key=value pairs when all are
// single-value equalities.
func equalities(s labels.Selector) ([]labelKV, bool) {
	reqs, selectable := s.Requirements()
	if !selectable || len(reqs) == 0 {
		return nil, false
	}
	out := make([]labelKV, 0, len(reqs))
	for _, r := range reqs {
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
		default:
			return nil, false
		}
		vals := r.ValuesUnsorted()
		if len(vals) != 1 {
			return nil, false
		}
		out = append(out, labelKV{r.Key(), vals[0]})
	}
	return out, true
}

// compileAffinityTerm compiles a term of pod (in namespace ns, with
// labels own for matchLabelKeys and mismatchLabelKeys).
func compileAffinityTerm(t *corev1.PodAffinityTerm, ns string, own map[string]string, weight int64) (AffinityTerm, error) {
	out := AffinityTerm{TopologyKey: t.TopologyKey, Namespaces: t.Namespaces, Weight: weight}
	if t.LabelSelector == nil {
		out.Selector = labels.Nothing()
	} else {
		s, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
		if err != nil {
			return out, fmt.Errorf("pod affinity term: %w", err)
		}
		s, err = withLabelKeys(s, own, t.MatchLabelKeys, selection.In)
		if err != nil {
			return out, err
		}
		if s, err = withLabelKeys(s, own, t.MismatchLabelKeys, selection.NotIn); err != nil {
			return out, err
		}
		out.Selector = s
		out.equal, out.fast = equalities(s)
	}
	if t.NamespaceSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(t.NamespaceSelector)
		if err != nil {
			return out, fmt.Errorf("pod affinity term namespaceSelector: %w", err)
		}
		out.NamespaceSelector = s
	} else if len(t.Namespaces) == 0 {
		out.Namespaces = []string{ns}
	}
	return out, nil
}

// withLabelKeys adds "key op (own[key])" to s for each key the pod has.
func withLabelKeys(s labels.Selector, own map[string]string, keys []string, op selection.Operator) (labels.Selector, error) {
	for _, k := range keys {
		v, ok := own[k]
		if !ok {
			continue
		}
		r, err := labels.NewRequirement(k, op, []string{v})
		if err != nil {
			return nil, fmt.Errorf("matchLabelKeys %q: %w", k, err)
		}
		s = s.Add(*r)
	}
	return s, nil
}

// SpreadConstraint is a compiled topology spread constraint.
type SpreadConstraint struct {
	MaxSkew     int32
	TopologyKey string
	// Hard: whenUnsatisfiable DoNotSchedule (a filter); otherwise a score.
	Hard       bool
	Selector   labels.Selector
	MinDomains int32
	// HonorAffinity: nodes that fail the pod's node selector/affinity are
	// not counted (nodeAffinityPolicy Honor, the default).
	HonorAffinity bool
	// HonorTaints: nodes with taints the pod does not tolerate are not
	// counted (nodeTaintsPolicy Honor; default Ignore).
	HonorTaints bool
}

func compileSpread(pod *corev1.Pod) ([]SpreadConstraint, error) {
	var out []SpreadConstraint
	for _, c := range pod.Spec.TopologySpreadConstraints {
		sc := SpreadConstraint{
			MaxSkew: c.MaxSkew, TopologyKey: c.TopologyKey,
			Hard:          c.WhenUnsatisfiable != corev1.ScheduleAnyway,
			HonorAffinity: c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor,
			HonorTaints:   c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor,
		}
		if c.MinDomains != nil {
			sc.MinDomains = *c.MinDomains
		}
		if c.LabelSelector == nil {
			sc.Selector = labels.Nothing()
		} else {
			s, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
			if err != nil {
				return nil, fmt.Errorf("topology spread constraint: %w", err)
			}
			if s, err = withLabelKeys(s, pod.Labels, c.MatchLabelKeys, selection.In); err != nil {
				return nil, err
			}
			sc.Selector = s
		}
		out = append(out, sc)
	}
	return out, nil
}

// NewPodInfo compiles pod with its resolved priority.
func NewPodInfo(pod *corev1.Pod, priority int32) *PodInfo {
	p := &PodInfo{Pod: pod, Key: pod.Namespace + "/" + pod.Name, Priority: priority}
	p.Requests, p.NonZeroCPU, p.NonZeroMem = PodRequests(&pod.Spec)
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			p.Ports = appendHostPorts(p.Ports, c.Ports)
		}
	}
	for i := range pod.Spec.Containers {
		p.Ports = appendHostPorts(p.Ports, pod.Spec.Containers[i].Ports)
	}
	p.NodeSelector = compileNodeSelector(&pod.Spec)
	p.preferredNodeTerms = compilePreferredNode(&pod.Spec)
	var err error
	if p.Spread, err = compileSpread(pod); err != nil {
		p.Err = err
	}
	if a := pod.Spec.Affinity; a != nil {
		add := func(dst *[]AffinityTerm, t *corev1.PodAffinityTerm, w int64) {
			ct, err := compileAffinityTerm(t, pod.Namespace, pod.Labels, w)
			if err != nil {
				p.Err = err
				return
			}
			*dst = append(*dst, ct)
		}
		if pa := a.PodAffinity; pa != nil {
			for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
				add(&p.RequiredAffinity, &pa.RequiredDuringSchedulingIgnoredDuringExecution[i], 0)
			}
			for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
				w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
				add(&p.PreferredAffinity, &w.PodAffinityTerm, int64(w.Weight))
			}
		}
		if pa := a.PodAntiAffinity; pa != nil {
			for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
				add(&p.RequiredAntiAffinity, &pa.RequiredDuringSchedulingIgnoredDuringExecution[i], 0)
			}
			for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
				w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
				add(&p.PreferredAntiAffinity, &w.PodAffinityTerm, int64(w.Weight))
			}
		}
	}
	return p
}

func appendHostPorts(dst []HostPort, ports []corev1.ContainerPort) []HostPort {
	for _, cp := range ports {
		if cp.HostPort <= 0 {
			continue
		}
		proto := cp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		dst = append(dst, HostPort{Protocol: proto, IP: cp.HostIP, Port: cp.HostPort})
	}
	return dst
}
