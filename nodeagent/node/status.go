package node

import (
	"net/netip"
	"runtime"
	"slices"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The Node object and its status as kubelet registers and reports them:
// pure functions of the Config, the host's facts, the observed pressure
// signals and the clock.

// condition is a node condition the agent reports.
type condition struct {
	Type            corev1.NodeConditionType
	Status          corev1.ConditionStatus
	Reason, Message string
}

// pressureConditions decides MemoryPressure, DiskPressure and PIDPressure
// from o: True when a known signal is under its threshold (a negative
// threshold is never crossed), False otherwise, kubelet's reasons and
// messages.
//
// Example: MemAvailable 80Mi with the threshold 100Mi gives
// MemoryPressure=True (KubeletHasInsufficientMemory); a data dir
// filesystem with 5% available (threshold 10%) gives DiskPressure=True.
func pressureConditions(o observation, th Thresholds) []condition {
	mem := o.MemKnown && th.MemoryAvailable >= 0 && o.MemAvailable < th.MemoryAvailable
	under := func(avail, total uint64, pct int) bool {
		// avail/total < pct%, in integers (big filesystems: divide first).
		return pct >= 0 && total > 0 && avail < total/100*uint64(pct)+total%100*uint64(pct)/100
	}
	disk := o.DiskKnown && (under(o.Disk.Available, o.Disk.Total, th.DiskAvailablePercent) ||
		under(o.Disk.Free, o.Disk.Inodes, th.InodesFreePercent))
	pid := o.PIDKnown && o.PIDMax > 0 &&
		under(uint64(max(o.PIDMax-o.Threads, 0)), uint64(o.PIDMax), th.PIDAvailablePercent)
	out := make([]condition, 0, 3)
	if mem {
		out = append(out, condition{corev1.NodeMemoryPressure, corev1.ConditionTrue, "KubeletHasInsufficientMemory", "kubelet has insufficient memory available"})
	} else {
		out = append(out, condition{corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"})
	}
	if disk {
		out = append(out, condition{corev1.NodeDiskPressure, corev1.ConditionTrue, "KubeletHasDiskPressure", "kubelet has disk pressure"})
	} else {
		out = append(out, condition{corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"})
	}
	if pid {
		out = append(out, condition{corev1.NodePIDPressure, corev1.ConditionTrue, "KubeletHasInsufficientPID", "kubelet has insufficient PID available"})
	} else {
		out = append(out, condition{corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"})
	}
	return out
}

// readyCondition is Ready: True unless the health check failed.
func readyCondition(unhealthy error) condition {
	if unhealthy != nil {
		return condition{corev1.NodeReady, corev1.ConditionFalse, "KubeletNotReady", unhealthy.Error()}
	}
	return condition{corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"}
}

// capacityOf is the node's capacity.
func capacityOf(f hostFacts, maxPods int) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewMilliQuantity(f.MilliCPU, resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(f.Memory, resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(f.Ephemeral, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(int64(maxPods), resource.DecimalSI),
		"hugepages-2Mi":                 *resource.NewQuantity(0, resource.BinarySI),
	}
}

// allocatableOf is capacity less what is reserved, less the memory and
// disk eviction thresholds (as kubelet holds back its hard eviction
// thresholds), never below zero.
func allocatableOf(capacity, reserved corev1.ResourceList, th Thresholds) corev1.ResourceList {
	out := capacity.DeepCopy()
	for name, q := range out {
		if r, ok := reserved[name]; ok {
			q.Sub(r)
		}
		switch name {
		case corev1.ResourceMemory:
			if th.MemoryAvailable > 0 {
				q.Sub(*resource.NewQuantity(th.MemoryAvailable, resource.BinarySI))
			}
		case corev1.ResourceEphemeralStorage:
			if th.DiskAvailablePercent > 0 {
				c := capacity[name]
				q.Sub(*resource.NewQuantity(c.Value()/100*int64(th.DiskAvailablePercent), resource.BinarySI))
			}
		}
		if q.Sign() < 0 {
			q = *resource.NewQuantity(0, q.Format)
		}
		out[name] = q
	}
	return out
}

// wantStatus is what the agent reports, before merging into the Node's
// status.
type wantStatus struct {
	Capacity, Allocatable corev1.ResourceList
	Addresses             []corev1.NodeAddress
	DaemonPort            int32
	Info                  corev1.NodeSystemInfo
	Conditions            []condition
}

// wantStatusOf is the status c reports for the host facts f and the
// conditions.
func (c *Config) wantStatusOf(f hostFacts, conds []condition) wantStatus {
	capacity := capacityOf(f, c.MaxPods)
	w := wantStatus{
		Capacity:    capacity,
		Allocatable: allocatableOf(capacity, c.Reserved, c.Thresholds),
		DaemonPort:  c.DaemonPort,
		Conditions:  conds,
		Info: corev1.NodeSystemInfo{
			MachineID:               f.MachineID,
			SystemUUID:              f.SystemUUID,
			BootID:                  f.BootID,
			KernelVersion:           f.KernelVersion,
			OSImage:                 f.OSImage,
			ContainerRuntimeVersion: c.RuntimeVersion,
			KubeletVersion:          c.KubeletVersion,
			KubeProxyVersion:        c.KubeletVersion,
			OperatingSystem:         runtime.GOOS,
			Architecture:            runtime.GOARCH,
		},
	}
	if f.Swap > 0 {
		swap := f.Swap
		w.Info.Swap = &corev1.NodeSwapStatus{Capacity: &swap}
	}
	w.Addresses = nodeAddresses(c.NodeIPs, c.Hostname)
	return w
}

// nodeAddresses are the InternalIPs then the Hostname.
func nodeAddresses(ips []netip.Addr, hostname string) []corev1.NodeAddress {
	out := make([]corev1.NodeAddress, 0, len(ips)+1)
	for _, ip := range ips {
		out = append(out, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip.String()})
	}
	if hostname != "" {
		out = append(out, corev1.NodeAddress{Type: corev1.NodeHostName, Address: hostname})
	}
	return out
}

// mergeStatus is w merged over cur (nil for a new node): capacity,
// allocatable, addresses, daemon endpoints and nodeInfo replaced, the
// agent's conditions set (a status change moves lastTransitionTime to
// now), everything else kept (other conditions, images, volumes). changed
// reports a difference other than heartbeat times; the agent's
// conditions' lastHeartbeatTime moves to now when changed or heartbeat.
func mergeStatus(cur *corev1.NodeStatus, w wantStatus, now time.Time, heartbeat bool) (st corev1.NodeStatus, changed bool) {
	if cur != nil {
		st = *cur.DeepCopy()
	}
	changed = cur == nil
	set := func(differs bool) {
		if differs {
			changed = true
		}
	}
	set(!equality.Semantic.DeepEqual(st.Capacity, w.Capacity))
	set(!equality.Semantic.DeepEqual(st.Allocatable, w.Allocatable))
	st.Capacity, st.Allocatable = w.Capacity.DeepCopy(), w.Allocatable.DeepCopy()
	set(!equality.Semantic.DeepEqual(st.Addresses, w.Addresses))
	st.Addresses = slices.Clone(w.Addresses)
	ep := corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: w.DaemonPort}}
	set(st.DaemonEndpoints != ep)
	st.DaemonEndpoints = ep
	set(!equality.Semantic.DeepEqual(st.NodeInfo, w.Info))
	st.NodeInfo = *w.Info.DeepCopy()
	set(st.Phase != "")
	st.Phase = ""
	mine := map[corev1.NodeConditionType]bool{}
	for _, want := range w.Conditions {
		mine[want.Type] = true
		j := slices.IndexFunc(st.Conditions, func(c corev1.NodeCondition) bool { return c.Type == want.Type })
		if j < 0 {
			st.Conditions = append(st.Conditions, corev1.NodeCondition{Type: want.Type})
			j = len(st.Conditions) - 1
		}
		c := &st.Conditions[j]
		if c.Status != want.Status {
			c.LastTransitionTime, changed = metav1.NewTime(now), true
		}
		set(c.Reason != want.Reason || c.Message != want.Message)
		c.Status, c.Reason, c.Message = want.Status, want.Reason, want.Message
	}
	if changed || heartbeat {
		for j := range st.Conditions {
			if mine[st.Conditions[j].Type] {
				st.Conditions[j].LastHeartbeatTime = metav1.NewTime(now)
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

// readyStatus is the Ready condition's status ("" if none).
func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

// nodeLabels are the standard labels and c.Labels (which win).
func (c *Config) nodeLabels() map[string]string {
	l := map[string]string{
		corev1.LabelHostname:   c.NodeName,
		corev1.LabelOSStable:   runtime.GOOS,
		corev1.LabelArchStable: runtime.GOARCH,
	}
	for k, v := range c.Labels {
		l[k] = v
	}
	return l
}

// nodeAnnotations are the annotations kubelet sets at registration.
func nodeAnnotations() map[string]string {
	return map[string]string{
		"volumes.kubernetes.io/controller-managed-attach-detach": "true",
	}
}

// newNode is the Node to create: labels, annotations, taints, status w.
func (c *Config) newNode(w wantStatus, now time.Time) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: c.NodeName, Labels: c.nodeLabels(), Annotations: nodeAnnotations()},
		Spec:       corev1.NodeSpec{Taints: slices.Clone(c.Taints)},
	}
	n.Status, _ = mergeStatus(nil, w, now, true)
	return n
}

// adoptNode makes an existing Node ours: our labels and annotations set
// (others kept), our taints added or their values set (others kept, such
// as the lifecycle controller's), spec.podCIDR(s) and everything else
// kept. It returns nil when nothing changes.
func (c *Config) adoptNode(cur *corev1.Node) *corev1.Node {
	n := cur.DeepCopy()
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	for k, v := range c.nodeLabels() {
		n.Labels[k] = v
	}
	if n.Annotations == nil {
		n.Annotations = map[string]string{}
	}
	for k, v := range nodeAnnotations() {
		n.Annotations[k] = v
	}
	for _, t := range c.Taints {
		j := slices.IndexFunc(n.Spec.Taints, func(x corev1.Taint) bool { return x.Key == t.Key && x.Effect == t.Effect })
		if j < 0 {
			n.Spec.Taints = append(n.Spec.Taints, t)
		} else {
			n.Spec.Taints[j].Value = t.Value
		}
	}
	if equality.Semantic.DeepEqual(n.ObjectMeta, cur.ObjectMeta) && equality.Semantic.DeepEqual(n.Spec, cur.Spec) {
		return nil
	}
	return n
}

// nodeOwner is the owner reference to node, as kubelet sets it on the
// node's Lease (so the garbage collector deletes the Lease with the Node).
func nodeOwner(node *corev1.Node) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
}

// renewLease sets l's holder, duration, renew time and owner (the Node).
func renewLease(l *coordinationv1.Lease, node *corev1.Node, d time.Duration, now time.Time) {
	holder, secs, t := node.Name, int32(d/time.Second), metav1.NewMicroTime(now)
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &holder, &secs, &t
	if node.UID != "" {
		l.OwnerReferences = nodeOwner(node)
	}
}

// newLease is node's Lease.
func newLease(node *corev1.Node, d time.Duration, now time.Time) *coordinationv1.Lease {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: node.Name, Namespace: NodeLeaseNamespace}}
	renewLease(l, node, d, now)
	return l
}
