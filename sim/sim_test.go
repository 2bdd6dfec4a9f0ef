package sim_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testcluster"
	"github.com/kelson-dev/kelson/sim"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

const timeout = 60 * time.Second

// startSim runs a Sim until the test ends and waits for its nodes.
func startSim(t *testing.T, cfg sim.Config) (*sim.Sim, context.CancelFunc) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testcluster.Logger()
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-s.Registered():
	case err := <-done:
		t.Fatalf("Run returned before registering: %v", err)
	case <-time.After(timeout):
		t.Fatal("nodes not registered")
	}
	return s, stop
}

// setPodCIDR plays the node IPAM controller.
func setPodCIDR(t *testing.T, c kubernetes.Interface, node, cidr string) {
	t.Helper()
	testcluster.Eventually(t, timeout, func() error {
		n, err := c.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
		_, err = c.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{})
		return err
	})
}

// newPod is a pod bound to node with one container.
func newPod(name, node string, policy corev1.RestartPolicy, ann map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: ann},
		Spec: corev1.PodSpec{
			NodeName:      node,
			RestartPolicy: policy,
			Containers:    []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
		},
	}
}

func createPod(t *testing.T, c kubernetes.Interface, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	got, err := c.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// waitPod waits until cond holds for the pod and returns it.
func waitPod(t *testing.T, c kubernetes.Interface, name string, cond func(*corev1.Pod) error) *corev1.Pod {
	t.Helper()
	var p *corev1.Pod
	testcluster.Eventually(t, timeout, func() error {
		var err error
		if p, err = c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{}); err != nil {
			return err
		}
		if err := cond(p); err != nil {
			return fmt.Errorf("pod %s: %w (phase %s)", name, err, p.Status.Phase)
		}
		return nil
	})
	return p
}

func condition(p *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func runningReady(p *corev1.Pod) error {
	if p.Status.Phase != corev1.PodRunning || condition(p, corev1.PodReady) != corev1.ConditionTrue {
		return fmt.Errorf("not Running and Ready")
	}
	return nil
}

func TestNodesRegisterAndHeartbeat(t *testing.T) {
	c := testcluster.Start(t)
	s, _ := startSim(t, sim.Config{
		Client: c.Client, Nodes: 3, NamePrefix: "hb",
		CPU: resource.MustParse("4"), Memory: resource.MustParse("8Gi"), Pods: 50,
		ExtraResources: corev1.ResourceList{"example.com/gpu": resource.MustParse("2")},
		Labels:         map[string]string{"zone": "a"},
		Taints:         []corev1.Taint{{Key: "dedicated", Value: "infra", Effect: corev1.TaintEffectNoSchedule}},
		LeaseDuration:  4 * time.Second, LeaseRenewInterval: time.Second,
	})
	if got := strings.Join(s.NodeNames(), ","); got != "hb-0,hb-1,hb-2" {
		t.Fatalf("names %s", got)
	}
	ctx := context.Background()
	for i, name := range s.NodeNames() {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "zone": "a",
			"node.kubernetes.io/instance-type": "sim", sim.LabelSimulated: "true"} {
			if n.Labels[k] != v {
				t.Errorf("%s label %s=%q, want %q", name, k, n.Labels[k], v)
			}
		}
		if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != "dedicated" || n.Spec.Taints[0].Effect != corev1.TaintEffectNoSchedule {
			t.Errorf("%s taints %v", name, n.Spec.Taints)
		}
		alloc := n.Status.Allocatable
		if alloc.Cpu().String() != "4" || alloc.Memory().String() != "8Gi" || alloc.Pods().Value() != 50 ||
			alloc.Name("example.com/gpu", resource.DecimalSI).Value() != 2 || n.Status.Capacity.Cpu().String() != "4" {
			t.Errorf("%s allocatable %v capacity %v", name, alloc, n.Status.Capacity)
		}
		want := map[corev1.NodeConditionType]corev1.ConditionStatus{corev1.NodeReady: "True", corev1.NodeMemoryPressure: "False",
			corev1.NodeDiskPressure: "False", corev1.NodePIDPressure: "False"}
		for _, cond := range n.Status.Conditions {
			if want[cond.Type] == cond.Status {
				delete(want, cond.Type)
			}
			if cond.Type == corev1.NodeReady && cond.Reason != "KubeletReady" {
				t.Errorf("%s Ready reason %q", name, cond.Reason)
			}
		}
		if len(want) > 0 {
			t.Errorf("%s conditions %v lack %v", name, n.Status.Conditions, want)
		}
		if len(n.Status.Addresses) != 2 || n.Status.Addresses[0].Type != corev1.NodeInternalIP ||
			!netip.MustParseAddr(n.Status.Addresses[0].Address).IsLoopback() || n.Status.NodeInfo.KubeletVersion == "" {
			t.Errorf("%s addresses %v info %+v", name, n.Status.Addresses, n.Status.NodeInfo)
		}
		if i == 0 {
			t.Logf("node: %+v", n.Status.NodeInfo)
		}
	}
	// The Leases renew.
	first := map[string]time.Time{}
	testcluster.Eventually(t, timeout, func() error {
		for _, name := range s.NodeNames() {
			l, err := c.Client.CoordinationV1().Leases("kube-node-lease").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != name || l.Spec.LeaseDurationSeconds == nil ||
				*l.Spec.LeaseDurationSeconds != 4 || l.Spec.RenewTime == nil || len(l.OwnerReferences) != 1 {
				return fmt.Errorf("lease %s: %+v", name, l.Spec)
			}
			if f, ok := first[name]; !ok {
				first[name] = l.Spec.RenewTime.Time
				return fmt.Errorf("lease %s: first renew time seen", name)
			} else if !l.Spec.RenewTime.After(f) {
				return fmt.Errorf("lease %s not renewed since %v", name, f)
			}
		}
		return nil
	})
}

func TestPodRunsWithIPFromNodeCIDR(t *testing.T) {
	c := testcluster.Start(t)
	startSim(t, sim.Config{Client: c.Client, Nodes: 1, NamePrefix: "ip"})
	// No pod CIDR yet: the pod stays Pending.
	createPod(t, c.Client, newPod("web", "ip-0", corev1.RestartPolicyAlways, nil))
	time.Sleep(500 * time.Millisecond)
	if p := waitPod(t, c.Client, "web", func(*corev1.Pod) error { return nil }); p.Status.Phase != corev1.PodPending || p.Status.PodIP != "" {
		t.Fatalf("without a pod CIDR: phase %s IP %q", p.Status.Phase, p.Status.PodIP)
	}
	setPodCIDR(t, c.Client, "ip-0", "10.244.7.0/24")
	p := waitPod(t, c.Client, "web", runningReady)
	ip := netip.MustParseAddr(p.Status.PodIP)
	if !netip.MustParsePrefix("10.244.7.0/24").Contains(ip) || len(p.Status.PodIPs) != 1 || p.Status.HostIP == "" || p.Status.StartTime == nil {
		t.Fatalf("status %+v", p.Status)
	}
	cs := p.Status.ContainerStatuses
	if len(cs) != 1 || !cs[0].Ready || cs[0].State.Running == nil || !strings.HasPrefix(cs[0].ContainerID, "sim://") ||
		cs[0].ImageID == "" || cs[0].Started == nil || !*cs[0].Started {
		t.Fatalf("container statuses %+v", cs)
	}
	for _, ct := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		if condition(p, ct) != corev1.ConditionTrue {
			t.Errorf("condition %s is %q", ct, condition(p, ct))
		}
	}

	// A pod bound as a scheduler binds: through pods/binding.
	createPod(t, c.Client, newPod("bound", "", corev1.RestartPolicyAlways, nil))
	err := c.Client.CoreV1().Pods("default").Bind(context.Background(), &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: "bound", Namespace: "default"},
		Target:     corev1.ObjectReference{Kind: "Node", Name: "ip-0"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := waitPod(t, c.Client, "bound", runningReady)
	if b.Status.PodIP == p.Status.PodIP || !netip.MustParsePrefix("10.244.7.0/24").Contains(netip.MustParseAddr(b.Status.PodIP)) {
		t.Fatalf("bound pod IP %s (first pod %s)", b.Status.PodIP, p.Status.PodIP)
	}
}

func TestAnnotationsAndRestartPolicies(t *testing.T) {
	c := testcluster.Start(t)
	startSim(t, sim.Config{Client: c.Client, NamePrefix: "rp", AssignPodCIDRs: true,
		RestartBackoff: time.Second, MaxRestartBackoff: 2 * time.Second})
	type check func(*corev1.Pod) error
	phase := func(ph corev1.PodPhase, minRestarts int32) check {
		return func(p *corev1.Pod) error {
			if p.Status.Phase != ph {
				return fmt.Errorf("phase %s, want %s", p.Status.Phase, ph)
			}
			if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].RestartCount < minRestarts {
				return fmt.Errorf("container statuses %+v, want %d restarts", p.Status.ContainerStatuses, minRestarts)
			}
			return nil
		}
	}
	run := func(code string) map[string]string {
		return map[string]string{sim.AnnotationRunSeconds: "1", sim.AnnotationExitCode: code}
	}
	cases := []struct {
		name   string
		policy corev1.RestartPolicy
		ann    map[string]string
		want   check
	}{
		{"never-ok", corev1.RestartPolicyNever, run("0"), phase(corev1.PodSucceeded, 0)},
		{"never-fail", corev1.RestartPolicyNever, run("3"), phase(corev1.PodFailed, 0)},
		{"onfailure-ok", corev1.RestartPolicyOnFailure, run("0"), phase(corev1.PodSucceeded, 0)},
		{"onfailure-fail", corev1.RestartPolicyOnFailure, run("1"), phase(corev1.PodRunning, 2)},
		{"always-ok", corev1.RestartPolicyAlways, run("0"), phase(corev1.PodRunning, 2)},
		{"never-ready", corev1.RestartPolicyAlways, map[string]string{sim.AnnotationNeverReady: "true"}, func(p *corev1.Pod) error {
			if p.Status.Phase != corev1.PodRunning || condition(p, corev1.PodReady) != corev1.ConditionFalse ||
				len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Running == nil {
				return fmt.Errorf("want running, not ready")
			}
			return nil
		}},
		{"ready-after", corev1.RestartPolicyAlways, map[string]string{sim.AnnotationReadyAfterSeconds: "2"}, runningReady},
		{"start-after", corev1.RestartPolicyAlways, map[string]string{sim.AnnotationStartAfterSeconds: "1"}, runningReady},
		{"bad-annotation", corev1.RestartPolicyAlways, map[string]string{sim.AnnotationRunSeconds: "soon"}, runningReady},
	}
	for _, tc := range cases {
		createPod(t, c.Client, newPod(tc.name, "rp-0", tc.policy, tc.ann))
	}
	for _, tc := range cases {
		p := waitPod(t, c.Client, tc.name, tc.want)
		if tc.name == "never-fail" {
			term := p.Status.ContainerStatuses[0].State.Terminated
			if term == nil || term.ExitCode != 3 || term.Reason != "Error" || condition(p, corev1.PodReady) != corev1.ConditionFalse {
				t.Errorf("never-fail: %+v", p.Status.ContainerStatuses[0])
			}
		}
		if tc.name == "onfailure-fail" {
			last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
			if last == nil || last.ExitCode != 1 {
				t.Errorf("onfailure-fail: last state %+v", p.Status.ContainerStatuses[0].LastTerminationState)
			}
		}
	}
	// A crash-looping container shows CrashLoopBackOff while it waits.
	waitPod(t, c.Client, "onfailure-fail", func(p *corev1.Pod) error {
		if w := p.Status.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != "CrashLoopBackOff" {
			return fmt.Errorf("state %+v", p.Status.ContainerStatuses[0].State)
		}
		return nil
	})
}

func TestActiveDeadline(t *testing.T) {
	c := testcluster.Start(t)
	startSim(t, sim.Config{Client: c.Client, NamePrefix: "dl", AssignPodCIDRs: true})
	p := newPod("job", "dl-0", corev1.RestartPolicyNever, nil)
	p.Spec.ActiveDeadlineSeconds = ptr(int64(1))
	createPod(t, c.Client, p)
	waitPod(t, c.Client, "job", func(p *corev1.Pod) error {
		if p.Status.Phase != corev1.PodFailed || p.Status.Reason != "DeadlineExceeded" {
			return fmt.Errorf("reason %q", p.Status.Reason)
		}
		return nil
	})
}

func TestDeletionRemovesPod(t *testing.T) {
	c := testcluster.Start(t)
	s, _ := startSim(t, sim.Config{Client: c.Client, NamePrefix: "del", AssignPodCIDRs: true})
	ctx := context.Background()
	createPod(t, c.Client, newPod("a", "del-0", corev1.RestartPolicyAlways, nil))
	createPod(t, c.Client, newPod("b", "del-0", corev1.RestartPolicyAlways, map[string]string{sim.AnnotationTerminationSeconds: "1"}))
	waitPod(t, c.Client, "a", runningReady)
	waitPod(t, c.Client, "b", runningReady)
	for _, name := range []string{"a", "b"} {
		if err := c.Client.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(30))}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a", "b"} {
		testcluster.Eventually(t, timeout, func() error {
			_, err := c.Client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("pod %s still there (%v)", name, err)
		})
	}
	testcluster.Eventually(t, timeout, func() error {
		if n := s.Stats().PodIPsInUse; n != 0 {
			return fmt.Errorf("%d IPs still held", n)
		}
		return nil
	})

	// A pod with a finalizer (a Job's tracking finalizer, say) ends Failed
	// and waits for its finalizer; the simulator leaves it be.
	p := newPod("fin", "del-0", corev1.RestartPolicyAlways, nil)
	p.Finalizers = []string{"example.com/hold"}
	createPod(t, c.Client, p)
	waitPod(t, c.Client, "fin", runningReady)
	before := s.Stats().PodDeletions
	if err := c.Client.CoreV1().Pods("default").Delete(ctx, "fin", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p = waitPod(t, c.Client, "fin", func(p *corev1.Pod) error {
		if p.Status.Phase != corev1.PodFailed {
			return fmt.Errorf("not Failed")
		}
		return nil
	})
	testcluster.Eventually(t, timeout, func() error {
		if s.Stats().PodDeletions <= before {
			return fmt.Errorf("%d deletions", s.Stats().PodDeletions)
		}
		return nil
	})
	if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 137 {
		t.Fatalf("container state %+v", p.Status.ContainerStatuses[0].State)
	}
	deletions := s.Stats().PodDeletions
	time.Sleep(300 * time.Millisecond)
	if d := s.Stats().PodDeletions; d != deletions {
		t.Fatalf("the simulator keeps deleting a pod that waits for its finalizer: %d deletions, then %d", deletions, d)
	}
	p, err := c.Client.CoreV1().Pods("default").Get(ctx, "fin", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Finalizers = nil
	if _, err := c.Client.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, timeout, func() error {
		if _, err := c.Client.CoreV1().Pods("default").Get(ctx, "fin", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("pod fin still there (%v)", err)
		}
		return nil
	})
}

// TestIPsUniqueAcrossRestart: pods get distinct IPs, also from a restarted
// simulator that must learn the IPs in use from the pods.
func TestIPsUniqueAcrossRestart(t *testing.T) {
	c := testcluster.Start(t)
	cfg := sim.Config{Client: c.Client, Nodes: 2, NamePrefix: "re", AssignPodCIDRs: true}
	_, stop := startSim(t, cfg)
	ctx := context.Background()
	const per = 6
	for i := range per {
		createPod(t, c.Client, newPod(fmt.Sprintf("first-%d", i), fmt.Sprintf("re-%d", i%2), corev1.RestartPolicyAlways, nil))
	}
	for i := range per {
		waitPod(t, c.Client, fmt.Sprintf("first-%d", i), runningReady)
	}
	stop()
	// A pod that finished while the simulator was away and one created then.
	createPod(t, c.Client, newPod("second-0", "re-0", corev1.RestartPolicyAlways, nil))
	startSim(t, cfg)
	for i := 1; i < per; i++ {
		createPod(t, c.Client, newPod(fmt.Sprintf("second-%d", i), fmt.Sprintf("re-%d", i%2), corev1.RestartPolicyAlways, nil))
	}
	for i := range per {
		waitPod(t, c.Client, fmt.Sprintf("second-%d", i), runningReady)
	}
	pods, err := c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	uids := map[types.UID]bool{}
	for _, p := range pods.Items {
		uids[p.UID] = true
		if p.Status.PodIP == "" {
			t.Errorf("%s has no IP", p.Name)
		}
		if other, dup := seen[p.Status.PodIP]; dup {
			t.Errorf("%s and %s share IP %s", p.Name, other, p.Status.PodIP)
		}
		seen[p.Status.PodIP] = p.Name
	}
	if len(uids) != 2*per {
		t.Fatalf("%d pods", len(uids))
	}
}

// TestAdoptsExistingNodes: a node that exists (NotReady, say) becomes
// Ready again and keeps labels others set.
func TestAdoptsExistingNodes(t *testing.T) {
	c := testcluster.Start(t)
	ctx := context.Background()
	_, err := c.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "ad-0", Labels: map[string]string{"keep": "me"}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "node.kubernetes.io/unreachable", Effect: corev1.TaintEffectNoExecute}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	startSim(t, sim.Config{Client: c.Client, NamePrefix: "ad", DeleteNodesOnExit: true})
	n, err := c.Client.CoreV1().Nodes().Get(ctx, "ad-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Labels["keep"] != "me" || n.Labels[sim.LabelSimulated] != "true" || len(n.Spec.Taints) != 1 {
		t.Fatalf("adopted node %+v", n.ObjectMeta)
	}
	ready := false
	for _, cond := range n.Status.Conditions {
		ready = ready || cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue
	}
	if !ready {
		t.Fatalf("conditions %+v", n.Status.Conditions)
	}
}

func TestDeleteNodesOnExit(t *testing.T) {
	c := testcluster.Start(t)
	_, stop := startSim(t, sim.Config{Client: c.Client, Nodes: 2, NamePrefix: "gone", DeleteNodesOnExit: true})
	stop()
	nodes, err := c.Client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leases, err := c.Client.CoordinationV1().Leases("kube-node-lease").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 0 || len(leases.Items) != 0 {
		t.Fatalf("%d nodes and %d leases left", len(nodes.Items), len(leases.Items))
	}
}

func ptr[T any](v T) *T { return &v }
