package core

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// NodeInfo is a node and the pods placed on it (bound, or assumed by the
// scheduler and not yet seen bound), with their sums precomputed.
//
// A NodeInfo in a Snapshot is read-only: the cache that owns the
// scheduler's snapshot changes a node by replacing its NodeInfo with an
// updated clone (copy on write).
type NodeInfo struct {
	// Node is the API object; nil for a node whose pods are known but
	// whose Node is not (yet, or no longer).
	Node *corev1.Node
	Name string
	// Allocatable is status.allocatable; AllowedPods its "pods".
	Allocatable Resources
	AllowedPods int64
	// Requested is the sum of the pods' requests; NonZeroCPU/NonZeroMem
	// the sums the scorers use.
	Requested              Resources
	NonZeroCPU, NonZeroMem int64
	Pods                   []*PodInfo
	UsedPorts              []HostPort
	// Copied from Node for the filters' hot path (one less indirection).
	Unschedulable bool
	Taints        []corev1.Taint
	NodeLabels    map[string]string

	podsWithAffinity     int
	podsWithRequiredAnti int
}

// NewNodeInfo is an empty NodeInfo for node (which may be nil; then name
// names it).
func NewNodeInfo(name string, node *corev1.Node) *NodeInfo {
	n := &NodeInfo{Name: name}
	n.SetNode(node)
	return n
}

// SetNode replaces the Node object.
func (n *NodeInfo) SetNode(node *corev1.Node) {
	n.Node = node
	if node == nil {
		n.Allocatable, n.AllowedPods = Resources{}, 0
		n.Unschedulable, n.Taints, n.NodeLabels = false, nil, nil
		return
	}
	n.Name = node.Name
	n.Unschedulable, n.Taints, n.NodeLabels = node.Spec.Unschedulable, node.Spec.Taints, node.Labels
	n.Allocatable = ResourcesFromList(node.Status.Allocatable)
	n.AllowedPods = node.Status.Allocatable.Pods().Value()
}

// Labels are the node's labels (nil without a Node).
func (n *NodeInfo) Labels() map[string]string { return n.NodeLabels }

// AddPod places p on the node.
func (n *NodeInfo) AddPod(p *PodInfo) {
	n.Pods = append(n.Pods, p)
	n.Requested.Add(&p.Requests, 1)
	n.NonZeroCPU += p.NonZeroCPU
	n.NonZeroMem += p.NonZeroMem
	n.UsedPorts = append(n.UsedPorts, p.Ports...)
	if p.HasAffinity() {
		n.podsWithAffinity++
	}
	if len(p.RequiredAntiAffinity) > 0 {
		n.podsWithRequiredAnti++
	}
}

// RemovePod removes the pod with key from the node; false if it is not
// there.
func (n *NodeInfo) RemovePod(key string) bool {
	i := slices.IndexFunc(n.Pods, func(p *PodInfo) bool { return p.Key == key })
	if i < 0 {
		return false
	}
	p := n.Pods[i]
	// Copy rather than shift in place: a clone may share the array.
	pods := make([]*PodInfo, 0, len(n.Pods)-1)
	pods = append(pods, n.Pods[:i]...)
	n.Pods = append(pods, n.Pods[i+1:]...)
	n.Requested.Add(&p.Requests, -1)
	n.NonZeroCPU -= p.NonZeroCPU
	n.NonZeroMem -= p.NonZeroMem
	if p.HasAffinity() {
		n.podsWithAffinity--
	}
	if len(p.RequiredAntiAffinity) > 0 {
		n.podsWithRequiredAnti--
	}
	if len(p.Ports) > 0 {
		n.UsedPorts = nil
		for _, q := range n.Pods {
			n.UsedPorts = append(n.UsedPorts, q.Ports...)
		}
	}
	return true
}

// Clone is a copy whose changes do not show in n. Pods are shared (they
// are immutable).
func (n *NodeInfo) Clone() *NodeInfo {
	c := *n
	c.Requested = n.Requested.Clone()
	c.Allocatable = n.Allocatable.Clone()
	c.Pods = slices.Clip(slices.Clone(n.Pods))
	c.UsedPorts = slices.Clip(slices.Clone(n.UsedPorts))
	return &c
}

// HasAffinityPods reports whether a pod on the node has inter-pod terms.
func (n *NodeInfo) HasAffinityPods() bool { return n.podsWithAffinity > 0 }

// HasRequiredAntiAffinityPods reports whether a pod on the node has
// required anti-affinity.
func (n *NodeInfo) HasRequiredAntiAffinityPods() bool { return n.podsWithRequiredAnti > 0 }

// Snapshot is the cluster as one decision sees it: the nodes (sorted by
// name) with their pods, the namespaces' labels (for namespaceSelector)
// and the persistent volumes and claims (for volume node affinity).
//
// A Snapshot is not safe for concurrent use: its owner updates it with
// Apply between decisions, never during one.
type Snapshot struct {
	nodes            []*NodeInfo
	index            map[string]int
	withAffinity     []*NodeInfo
	withRequiredAnti []*NodeInfo

	// Namespaces maps a namespace's name to its labels.
	Namespaces map[string]labels.Set
	// Volumes finds persistent volume claims and volumes; nil: none.
	Volumes VolumeLister
}

// VolumeLister finds persistent volume claims and volumes (nil: none). The
// scheduler's reads the informers' caches; Volumes is a map-backed one.
type VolumeLister interface {
	PVC(namespace, name string) *corev1.PersistentVolumeClaim
	PV(name string) *corev1.PersistentVolume
}

// Volumes is a VolumeLister over maps: PVCs by "namespace/name", PVs by
// name.
type Volumes struct {
	PVCs map[string]*corev1.PersistentVolumeClaim
	PVs  map[string]*corev1.PersistentVolume
}

// PVC is the named claim, or nil.
func (v Volumes) PVC(namespace, name string) *corev1.PersistentVolumeClaim {
	return v.PVCs[namespace+"/"+name]
}

// PV is the named volume, or nil.
func (v Volumes) PV(name string) *corev1.PersistentVolume { return v.PVs[name] }

// NewSnapshot builds a snapshot from nodes and the pods placed on them
// (spec.nodeName; pods on unknown nodes are ignored).
func NewSnapshot(nodes []*corev1.Node, pods []*PodInfo) *Snapshot {
	infos := make(map[string]*NodeInfo, len(nodes))
	for _, n := range nodes {
		infos[n.Name] = NewNodeInfo(n.Name, n)
	}
	for _, p := range pods {
		if ni := infos[p.Pod.Spec.NodeName]; ni != nil {
			ni.AddPod(p)
		}
	}
	s := &Snapshot{}
	s.Apply(infos)
	return s
}

// Nodes are the snapshot's nodes, sorted by name. Read-only.
func (s *Snapshot) Nodes() []*NodeInfo { return s.nodes }

// Node is the named node, or nil.
func (s *Snapshot) Node(name string) *NodeInfo {
	if i, ok := s.index[name]; ok {
		return s.nodes[i]
	}
	return nil
}

// NumPods counts the pods on the snapshot's nodes.
func (s *Snapshot) NumPods() int {
	n := 0
	for _, ni := range s.nodes {
		n += len(ni.Pods)
	}
	return n
}

// Apply replaces the named nodes' infos: a nil info, or one without a
// Node, removes the node. Infos given to Apply belong to the snapshot.
func (s *Snapshot) Apply(changes map[string]*NodeInfo) {
	if s.index == nil {
		s.index = map[string]int{}
	}
	structural, affinity := false, false
	for name, ni := range changes {
		i, present := s.index[name]
		switch {
		case ni == nil || ni.Node == nil:
			if present {
				s.nodes[i] = nil
				structural = true
			}
		case present:
			old := s.nodes[i]
			if old.HasAffinityPods() != ni.HasAffinityPods() || old.HasRequiredAntiAffinityPods() != ni.HasRequiredAntiAffinityPods() {
				affinity = true
			}
			s.nodes[i] = ni
		default:
			s.nodes = append(s.nodes, ni)
			structural = true
		}
	}
	if structural {
		s.nodes = slices.DeleteFunc(s.nodes, func(n *NodeInfo) bool { return n == nil })
		slices.SortFunc(s.nodes, func(a, b *NodeInfo) int { return strings.Compare(a.Name, b.Name) })
		clear(s.index)
		for i, n := range s.nodes {
			s.index[n.Name] = i
		}
	}
	if structural || affinity || len(changes) > 0 && s.affinityListsStale(changes) {
		s.withAffinity, s.withRequiredAnti = s.withAffinity[:0], s.withRequiredAnti[:0]
		for _, n := range s.nodes {
			if n.HasAffinityPods() {
				s.withAffinity = append(s.withAffinity, n)
			}
			if n.HasRequiredAntiAffinityPods() {
				s.withRequiredAnti = append(s.withRequiredAnti, n)
			}
		}
	}
}

// affinityListsStale: a replaced node that is in an affinity list must be
// replaced there too (the lists hold pointers).
func (s *Snapshot) affinityListsStale(changes map[string]*NodeInfo) bool {
	for _, ni := range changes {
		if ni != nil && (ni.HasAffinityPods() || ni.HasRequiredAntiAffinityPods()) {
			return true
		}
	}
	return false
}
