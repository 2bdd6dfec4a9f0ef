package node

import (
	"net/netip"
	"reflect"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var defaultThresholds = Thresholds{MemoryAvailable: 100 << 20, DiskAvailablePercent: 10, InodesFreePercent: 5, PIDAvailablePercent: 10}

func statuses(cs []condition) map[corev1.NodeConditionType]corev1.ConditionStatus {
	out := map[corev1.NodeConditionType]corev1.ConditionStatus{}
	for _, c := range cs {
		out[c.Type] = c.Status
	}
	return out
}

func TestPressureConditions(t *testing.T) {
	healthy := observation{
		MemAvailable: 1 << 30, MemKnown: true,
		Disk: fsStats{Total: 1000, Available: 500, Inodes: 1000, Free: 900}, DiskKnown: true,
		Threads: 300, PIDMax: 32768, PIDKnown: true,
	}
	T, F := corev1.ConditionTrue, corev1.ConditionFalse
	type want struct{ mem, disk, pid corev1.ConditionStatus }
	for _, tc := range []struct {
		name string
		edit func(*observation, *Thresholds)
		want want
	}{
		{"healthy", func(*observation, *Thresholds) {}, want{F, F, F}},
		{"memory under 100Mi", func(o *observation, _ *Thresholds) { o.MemAvailable = 99 << 20 }, want{T, F, F}},
		{"memory at 100Mi", func(o *observation, _ *Thresholds) { o.MemAvailable = 100 << 20 }, want{F, F, F}},
		{"memory unknown", func(o *observation, _ *Thresholds) { o.MemAvailable, o.MemKnown = 0, false }, want{F, F, F}},
		{"memory check off", func(o *observation, th *Thresholds) { o.MemAvailable, th.MemoryAvailable = 0, -1 }, want{F, F, F}},
		{"disk 9.9% available", func(o *observation, _ *Thresholds) { o.Disk.Available = 99 }, want{F, T, F}},
		{"disk 10% available", func(o *observation, _ *Thresholds) { o.Disk.Available = 100 }, want{F, F, F}},
		{"inodes 4% free", func(o *observation, _ *Thresholds) { o.Disk.Free = 40 }, want{F, T, F}},
		{"huge disk, no overflow", func(o *observation, _ *Thresholds) {
			o.Disk = fsStats{Total: 1 << 63, Available: 1 << 62, Inodes: 1 << 62, Free: 1 << 61}
		}, want{F, F, F}},
		{"disk unknown", func(o *observation, _ *Thresholds) { o.Disk, o.DiskKnown = fsStats{}, false }, want{F, F, F}},
		{"disk size zero", func(o *observation, _ *Thresholds) { o.Disk = fsStats{} }, want{F, F, F}},
		{"pids: 9% left", func(o *observation, _ *Thresholds) { o.Threads = 32768 - 2949 }, want{F, F, T}},
		{"pids: more threads than pid_max", func(o *observation, _ *Thresholds) { o.Threads = 40000 }, want{F, F, T}},
		{"pids unknown", func(o *observation, _ *Thresholds) { o.Threads, o.PIDKnown = 40000, false }, want{F, F, F}},
		{"all", func(o *observation, _ *Thresholds) { o.MemAvailable, o.Disk.Available, o.Threads = 0, 0, 32768 }, want{T, T, T}},
	} {
		o, th := healthy, defaultThresholds
		tc.edit(&o, &th)
		got := statuses(pressureConditions(o, th))
		w := map[corev1.NodeConditionType]corev1.ConditionStatus{corev1.NodeMemoryPressure: tc.want.mem, corev1.NodeDiskPressure: tc.want.disk, corev1.NodePIDPressure: tc.want.pid}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s: conditions %v, want %v", tc.name, got, w)
		}
	}
	c := pressureConditions(observation{MemAvailable: 0, MemKnown: true}, defaultThresholds)[0]
	if c.Reason != "KubeletHasInsufficientMemory" || c.Message != "kubelet has insufficient memory available" {
		t.Errorf("memory pressure condition %+v", c)
	}
}

func qty(s string) resource.Quantity { return resource.MustParse(s) }

func TestAllocatable(t *testing.T) {
	capacity := capacityOf(hostFacts{MilliCPU: 2000, Memory: 4 << 30, Ephemeral: 100 << 30}, 110)
	got := allocatableOf(capacity, corev1.ResourceList{corev1.ResourceCPU: qty("500m"), corev1.ResourceMemory: qty("1Gi")}, defaultThresholds)
	for name, want := range map[corev1.ResourceName]resource.Quantity{
		corev1.ResourceCPU:              qty("1500m"),
		corev1.ResourceMemory:           qty("2972Mi"), // 4Gi - 1Gi - 100Mi
		corev1.ResourceEphemeralStorage: qty("90Gi"),
		corev1.ResourcePods:             qty("110"),
		"hugepages-2Mi":                 qty("0"),
	} {
		if g := got[name]; g.Cmp(want) != 0 {
			t.Errorf("allocatable %s = %s, want %s", name, g.String(), want.String())
		}
	}
	got = allocatableOf(capacity, corev1.ResourceList{corev1.ResourceCPU: qty("3")}, Thresholds{MemoryAvailable: -1, DiskAvailablePercent: -1})
	if c, m := got[corev1.ResourceCPU], got[corev1.ResourceMemory]; c.Sign() != 0 || m.Cmp(qty("4Gi")) != 0 {
		t.Errorf("allocatable with more reserved than capacity: cpu %s memory %s; want 0 and 4Gi", c.String(), m.String())
	}
}

func testConfig() Config {
	return Config{
		NodeName: "n1", Hostname: "n1.example", NodeIPs: []netip.Addr{netip.MustParseAddr("10.0.0.5")},
		Labels: map[string]string{"disktype": "ssd"}, Taints: []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}},
		DaemonPort: 10250, RuntimeVersion: "containerd://1.6.20", KubeletVersion: "v1.37.2", MaxPods: 110, Thresholds: defaultThresholds,
	}
}

var testFacts = hostFacts{MilliCPU: 2000, Memory: 4 << 30, Ephemeral: 100 << 30, MachineID: "m", BootID: "b", KernelVersion: "6.1", OSImage: "Debian"}

func healthyConds() []condition {
	return append(pressureConditions(observation{}, defaultThresholds), readyCondition(nil))
}

func cond(st corev1.NodeStatus, ty corev1.NodeConditionType) corev1.NodeCondition {
	for _, c := range st.Conditions {
		if c.Type == ty {
			return c
		}
	}
	return corev1.NodeCondition{}
}

func TestNewNodeStatus(t *testing.T) {
	c := testConfig()
	t0 := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	n := c.newNode(c.wantStatusOf(testFacts, healthyConds()), t0)
	wantLabels := map[string]string{"kubernetes.io/hostname": "n1", "kubernetes.io/os": runtime.GOOS, "kubernetes.io/arch": runtime.GOARCH, "disktype": "ssd"}
	if n.Name != "n1" || !reflect.DeepEqual(n.Labels, wantLabels) || !reflect.DeepEqual(n.Spec.Taints, c.Taints) {
		t.Errorf("new node meta %v %v %v", n.Name, n.Labels, n.Spec.Taints)
	}
	st := n.Status
	wantAddrs := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.5"}, {Type: corev1.NodeHostName, Address: "n1.example"}}
	if !reflect.DeepEqual(st.Addresses, wantAddrs) || st.DaemonEndpoints.KubeletEndpoint.Port != 10250 {
		t.Errorf("addresses %v endpoint %v", st.Addresses, st.DaemonEndpoints)
	}
	info := st.NodeInfo
	if info.ContainerRuntimeVersion != "containerd://1.6.20" || info.KubeletVersion != "v1.37.2" || info.KubeProxyVersion != "v1.37.2" ||
		info.MachineID != "m" || info.BootID != "b" || info.OSImage != "Debian" || info.OperatingSystem != runtime.GOOS || info.Swap != nil {
		t.Errorf("nodeInfo %+v", info)
	}
	if q := st.Capacity[corev1.ResourceCPU]; q.String() != "2" {
		t.Errorf("capacity cpu %s, want 2", q.String())
	}
	ready := cond(st, corev1.NodeReady)
	if ready.Status != corev1.ConditionTrue || ready.Reason != "KubeletReady" || ready.Message != "kubelet is posting ready status" ||
		!ready.LastHeartbeatTime.Time.Equal(t0) || !ready.LastTransitionTime.Time.Equal(t0) || len(st.Conditions) != 4 {
		t.Errorf("conditions %+v", st.Conditions)
	}
}

func TestMergeStatus(t *testing.T) {
	c := testConfig()
	t0 := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	w := c.wantStatusOf(testFacts, healthyConds())
	st, changed := mergeStatus(nil, w, t0, false)
	if !changed {
		t.Fatal("a new status is a change")
	}
	// Someone else's condition is kept and never heartbeaten by us.
	other := corev1.NodeCondition{Type: "NetworkUnavailable", Status: corev1.ConditionFalse, Reason: "RouteCreated", LastHeartbeatTime: metav1.NewTime(t0)}
	st.Conditions = append(st.Conditions, other)

	t1 := t0.Add(10 * time.Second)
	same, changed := mergeStatus(&st, w, t1, false)
	if changed || !reflect.DeepEqual(same, st) {
		t.Errorf("nothing changed: changed=%v, status moved", changed)
	}
	hb, changed := mergeStatus(&st, w, t1, true)
	if changed || !cond(hb, corev1.NodeReady).LastHeartbeatTime.Time.Equal(t1) || !cond(hb, corev1.NodeReady).LastTransitionTime.Time.Equal(t0) ||
		!cond(hb, "NetworkUnavailable").LastHeartbeatTime.Time.Equal(t0) {
		t.Errorf("heartbeat: changed=%v conditions %+v", changed, hb.Conditions)
	}

	// The nodelifecycle controller marks the node Unknown: Ready=True again, a transition.
	unknown := st.DeepCopy()
	for i := range unknown.Conditions {
		if unknown.Conditions[i].Type == corev1.NodeReady {
			unknown.Conditions[i].Status, unknown.Conditions[i].Reason, unknown.Conditions[i].Message = corev1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status."
		}
	}
	t2 := t1.Add(10 * time.Second)
	back, changed := mergeStatus(unknown, w, t2, false)
	r := cond(back, corev1.NodeReady)
	if !changed || r.Status != corev1.ConditionTrue || r.Reason != "KubeletReady" || !r.LastTransitionTime.Time.Equal(t2) || !r.LastHeartbeatTime.Time.Equal(t2) {
		t.Errorf("after Unknown: changed=%v Ready %+v", changed, r)
	}
	if m := cond(back, corev1.NodeMemoryPressure); !m.LastTransitionTime.Time.Equal(t0) || !m.LastHeartbeatTime.Time.Equal(t2) {
		t.Errorf("MemoryPressure did not change status: transition %v heartbeat %v", m.LastTransitionTime, m.LastHeartbeatTime)
	}

	// Capacity, addresses, nodeInfo changes are changes.
	for name, edit := range map[string]func(*wantStatus){
		"capacity":  func(w *wantStatus) { w.Capacity = capacityOf(hostFacts{MilliCPU: 1000}, 110) },
		"addresses": func(w *wantStatus) { w.Addresses = nodeAddresses([]netip.Addr{netip.MustParseAddr("10.0.0.6")}, "h") },
		"boot id":   func(w *wantStatus) { w.Info.BootID = "rebooted" },
		"port":      func(w *wantStatus) { w.DaemonPort = 10251 },
		"unhealthy": func(w *wantStatus) { w.Conditions = append(healthyConds()[:3], readyCondition(errTest)) },
	} {
		w2 := c.wantStatusOf(testFacts, healthyConds())
		edit(&w2)
		if _, changed := mergeStatus(&st, w2, t1, false); !changed {
			t.Errorf("%s: not seen as a change", name)
		}
	}
}

type testError string

func (e testError) Error() string { return string(e) }

const errTest = testError("container runtime network not ready")

func TestAdoptNode(t *testing.T) {
	c := testConfig()
	cur := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "u1", ResourceVersion: "7", Labels: map[string]string{"team": "a", "disktype": "hdd"}},
		Spec: corev1.NodeSpec{PodCIDR: "10.42.3.0/24", PodCIDRs: []string{"10.42.3.0/24"}, Unschedulable: true,
			Taints: []corev1.Taint{{Key: "node.kubernetes.io/unreachable", Effect: corev1.TaintEffectNoExecute}, {Key: "dedicated", Value: "old", Effect: corev1.TaintEffectNoSchedule}}},
	}
	upd := c.adoptNode(cur)
	if upd == nil {
		t.Fatal("adoptNode: no change")
	}
	if upd.Labels["team"] != "a" || upd.Labels["disktype"] != "ssd" || upd.Labels["kubernetes.io/hostname"] != "n1" {
		t.Errorf("labels %v", upd.Labels)
	}
	if upd.Spec.PodCIDR != "10.42.3.0/24" || !upd.Spec.Unschedulable || upd.UID != "u1" || upd.ResourceVersion != "7" {
		t.Errorf("spec or identity not kept: %+v %s %s", upd.Spec, upd.UID, upd.ResourceVersion)
	}
	wantTaints := []corev1.Taint{{Key: "node.kubernetes.io/unreachable", Effect: corev1.TaintEffectNoExecute}, {Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
	if !reflect.DeepEqual(upd.Spec.Taints, wantTaints) {
		t.Errorf("taints %v, want %v", upd.Spec.Taints, wantTaints)
	}
	if again := c.adoptNode(upd); again != nil {
		t.Errorf("adopting an adopted node changes it: %+v", again)
	}
	if cur.Labels["disktype"] != "hdd" {
		t.Error("adoptNode modified its argument")
	}
}

func TestLease(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "u1"}}
	l := newLease(node, 40*time.Second, t0)
	if l.Namespace != "kube-node-lease" || l.Name != "n1" || *l.Spec.HolderIdentity != "n1" || *l.Spec.LeaseDurationSeconds != 40 ||
		!l.Spec.RenewTime.Time.Equal(t0) || len(l.OwnerReferences) != 1 || l.OwnerReferences[0].UID != "u1" || l.OwnerReferences[0].Kind != "Node" {
		t.Errorf("lease %+v", l)
	}
	node.UID = "u2" // registered again
	renewLease(l, node, 40*time.Second, t0.Add(10*time.Second))
	if l.OwnerReferences[0].UID != "u2" || !l.Spec.RenewTime.Time.Equal(t0.Add(10*time.Second)) {
		t.Errorf("renewed lease %+v", l)
	}
}
