package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Node objects and their status, as kubelet registers and reports them;
// pure functions of the Config and a node's index.

// NodeName is the name of node i of a fleet named prefix.
func NodeName(prefix string, i int) string { return prefix + "-" + strconv.Itoa(i) }

// nodeIP is node i's InternalIP: 127.240.0.0 + i + 1. The nodes'
// addresses are loopback addresses, so anything that does dial a node (the
// API proxying kubectl logs to port 10250) stays on the machine and finds
// nothing there.
func nodeIP(i int) string {
	return addOffset(netip.AddrFrom4([4]byte{127, 240, 0, 0}), uint64(i)+1).String()
}

// nodeCIDR is node i's pod CIDR under AssignPodCIDRs.
func (c *Config) nodeCIDR(i int) string {
	base := c.ClusterCIDR.Masked().Addr()
	hostBits := base.BitLen() - c.NodeCIDRMaskSize
	var a netip.Addr
	if hostBits >= 64 {
		// Subnet i lies in the high 64 bits: shift i there.
		b := base.As16()
		hi := uint64(i) << (hostBits - 64)
		for k := 7; k >= 0 && hi > 0; k-- {
			sum := uint64(b[k]) + hi&0xff
			b[k] = byte(sum)
			hi = hi>>8 + sum>>8
		}
		a = netip.AddrFrom16(b)
	} else {
		a = addOffset(base, uint64(i)<<hostBits)
	}
	return netip.PrefixFrom(a, c.NodeCIDRMaskSize).String()
}

// nodeLabels are node i's labels: the standard ones and c.Labels.
func (c *Config) nodeLabels(name string) map[string]string {
	l := map[string]string{
		corev1.LabelHostname:           name,
		corev1.LabelOSStable:           "linux",
		corev1.LabelArchStable:         c.Arch,
		corev1.LabelInstanceTypeStable: "sim",
		LabelSimulated:                 "true",
	}
	for k, v := range c.Labels {
		l[k] = v
	}
	return l
}

// capacity is each node's capacity (and allocatable).
func (c *Config) capacity() corev1.ResourceList {
	r := corev1.ResourceList{
		corev1.ResourceCPU:              c.CPU.DeepCopy(),
		corev1.ResourceMemory:           c.Memory.DeepCopy(),
		corev1.ResourceEphemeralStorage: c.EphemeralStorage.DeepCopy(),
		corev1.ResourcePods:             *resource.NewQuantity(int64(c.Pods), resource.DecimalSI),
		"hugepages-1Gi":                 resource.MustParse("0"),
		"hugepages-2Mi":                 resource.MustParse("0"),
	}
	for k, v := range c.ExtraResources {
		r[k] = v.DeepCopy()
	}
	return r
}

// newNode is node i as registered: metadata, spec and a Ready status.
func (c *Config) newNode(i int, now time.Time) *corev1.Node {
	name := NodeName(c.NamePrefix, i)
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: c.nodeLabels(name),
			Annotations: map[string]string{
				"node.alpha.kubernetes.io/ttl":                           "0",
				"volumes.kubernetes.io/controller-managed-attach-detach": "true",
			},
		},
		Spec: corev1.NodeSpec{Taints: append([]corev1.Taint(nil), c.Taints...)},
	}
	if c.AssignPodCIDRs {
		cidr := c.nodeCIDR(i)
		n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
	}
	n.Status, _ = c.nodeStatus(i, nil, now, true)
	return n
}

// adoptNode makes an existing node i one of ours: our labels,
// annotations and taints added (others kept), a pod CIDR if we assign
// them and it has none. It returns nil when nothing changes.
func (c *Config) adoptNode(i int, cur *corev1.Node) *corev1.Node {
	want := c.newNode(i, time.Time{})
	n := cur.DeepCopy()
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	for k, v := range want.Labels {
		n.Labels[k] = v
	}
	if n.Annotations == nil {
		n.Annotations = map[string]string{}
	}
	for k, v := range want.Annotations {
		n.Annotations[k] = v
	}
	for _, t := range c.Taints {
		found := false
		for j := range n.Spec.Taints {
			if n.Spec.Taints[j].Key == t.Key && n.Spec.Taints[j].Effect == t.Effect {
				n.Spec.Taints[j].Value, found = t.Value, true
			}
		}
		if !found {
			n.Spec.Taints = append(n.Spec.Taints, t)
		}
	}
	if c.AssignPodCIDRs && n.Spec.PodCIDR == "" && len(n.Spec.PodCIDRs) == 0 {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = want.Spec.PodCIDR, want.Spec.PodCIDRs
	}
	if equality.Semantic.DeepEqual(n.ObjectMeta, cur.ObjectMeta) && equality.Semantic.DeepEqual(n.Spec, cur.Spec) {
		return nil
	}
	return n
}

// nodeCondition is a condition kubelet reports.
type nodeCondition struct {
	t               corev1.NodeConditionType
	s               corev1.ConditionStatus
	reason, message string
}

// healthyConditions are the node conditions kubelet reports when all is
// well.
func healthyConditions() []nodeCondition {
	return []nodeCondition{
		{corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"},
		{corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
		{corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"},
		{corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"},
	}
}

// nodeStatus is node i's status as its kubelet would report it at now,
// built over cur (nil for a new node; other conditions kept). It reports
// whether that differs from cur other than in heartbeat times; the
// heartbeat times move to now when it does or when heartbeat is set.
func (c *Config) nodeStatus(i int, cur *corev1.NodeStatus, now time.Time, heartbeat bool) (corev1.NodeStatus, bool) {
	var st corev1.NodeStatus
	if cur != nil {
		st = *cur.DeepCopy()
	}
	name := NodeName(c.NamePrefix, i)
	capacity := c.capacity()
	changed := cur == nil || !equality.Semantic.DeepEqual(st.Capacity, capacity) || !equality.Semantic.DeepEqual(st.Allocatable, capacity)
	st.Capacity, st.Allocatable = capacity, capacity.DeepCopy()
	addrs := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: nodeIP(i)}, {Type: corev1.NodeHostName, Address: name}}
	if !equality.Semantic.DeepEqual(st.Addresses, addrs) {
		st.Addresses, changed = addrs, true
	}
	ep := corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}}
	if st.DaemonEndpoints != ep {
		st.DaemonEndpoints, changed = ep, true
	}
	id := sha256.Sum256([]byte(name))
	hexID := hex.EncodeToString(id[:16])
	info := corev1.NodeSystemInfo{
		MachineID:               hexID,
		SystemUUID:              fmt.Sprintf("%s-%s-%s-%s-%s", hexID[:8], hexID[8:12], hexID[12:16], hexID[16:20], hexID[20:]),
		BootID:                  hexID,
		KernelVersion:           "6.1.0-kelson-sim",
		OSImage:                 "Kelson simulated node",
		ContainerRuntimeVersion: "sim://" + c.KubeletVersion,
		KubeletVersion:          c.KubeletVersion,
		OperatingSystem:         "linux",
		Architecture:            c.Arch,
	}
	if st.NodeInfo != info {
		st.NodeInfo, changed = info, true
	}
	st.Phase = ""
	healthy := healthyConditions()
	for _, h := range healthy {
		j := -1
		for k := range st.Conditions {
			if st.Conditions[k].Type == h.t {
				j = k
			}
		}
		if j < 0 {
			st.Conditions = append(st.Conditions, corev1.NodeCondition{Type: h.t})
			j = len(st.Conditions) - 1
		}
		cond := &st.Conditions[j]
		if cond.Status != h.s {
			cond.LastTransitionTime, changed = metav1.NewTime(now), true
		}
		if cond.Reason != h.reason || cond.Message != h.message {
			changed = true
		}
		cond.Status, cond.Reason, cond.Message = h.s, h.reason, h.message
	}
	if changed || heartbeat {
		for j := range st.Conditions {
			for _, h := range healthy {
				if st.Conditions[j].Type == h.t {
					st.Conditions[j].LastHeartbeatTime = metav1.NewTime(now)
				}
			}
		}
	}
	return st, changed
}

// lastHeartbeat is the Ready condition's lastHeartbeatTime (zero if none).
func lastHeartbeat(st *corev1.NodeStatus) time.Time {
	for _, c := range st.Conditions {
		if c.Type == corev1.NodeReady {
			return c.LastHeartbeatTime.Time
		}
	}
	return time.Time{}
}

// newLease is node's Lease, held by the node and owned by it (so the
// garbage collector removes it with the node).
func (c *Config) newLease(node *corev1.Node, now time.Time) *coordinationv1.Lease {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: node.Name, Namespace: NodeLeaseNamespace}}
	if node.UID != "" {
		l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
	}
	c.renewLease(l, node.Name, now)
	return l
}

// renewLease sets l's holder, duration and renew time.
func (c *Config) renewLease(l *coordinationv1.Lease, holder string, now time.Time) {
	d := int32(c.LeaseDuration / time.Second)
	t := metav1.NewMicroTime(now)
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &holder, &d, &t
}
