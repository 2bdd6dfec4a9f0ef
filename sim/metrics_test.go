package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	usagev1alpha1 "github.com/kelson-dev/kelson/api/metrics/v1alpha1"
	"github.com/kelson-dev/kelson/internal/testcluster"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// usagePod is a pod on node n1 whose containers (name[:cpu request[:memory
// request]]) run, with annotations ann (key=value; cpu, mem as shorthand
// for the usage annotations).
func usagePod(name string, phase corev1.PodPhase, containers []string, ann ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name), Annotations: map[string]string{}},
		Spec:       corev1.PodSpec{NodeName: "n1"},
		Status:     corev1.PodStatus{Phase: phase},
	}
	for _, a := range ann {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "cpu":
			k = AnnotationCPUUsage
		case "mem":
			k = AnnotationMemoryUsage
		}
		p.Annotations[k] = v
	}
	for _, c := range containers {
		f := strings.Split(c, ":")
		ctr := corev1.Container{Name: f[0], Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{}}}
		if len(f) > 1 && f[1] != "" {
			ctr.Resources.Requests[corev1.ResourceCPU] = resource.MustParse(f[1])
		}
		if len(f) > 2 {
			ctr.Resources.Requests[corev1.ResourceMemory] = resource.MustParse(f[2])
		}
		st := corev1.ContainerStatus{Name: f[0], State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
		if strings.HasPrefix(f[0], "init") {
			ctr.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
			if f[0] == "init-once" {
				ctr.RestartPolicy = nil
				st.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{}}
			}
			p.Spec.InitContainers = append(p.Spec.InitContainers, ctr)
			p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, st)
			continue
		}
		if strings.HasPrefix(f[0], "waiting") {
			st.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
		}
		p.Spec.Containers = append(p.Spec.Containers, ctr)
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, st)
	}
	return p
}

// show prints a report compactly: node usage, then pod/container=cpu,mem.
func show(u *usagev1alpha1.NodeUsage) string {
	q := func(l corev1.ResourceList) string {
		cpu, mem := l[corev1.ResourceCPU], l[corev1.ResourceMemory]
		return cpu.String() + "," + mem.String()
	}
	parts := []string{q(u.Usage)}
	for _, p := range u.Pods {
		for _, c := range p.Containers {
			parts = append(parts, p.Name+"/"+c.Name+"="+q(c.Usage))
		}
	}
	return strings.Join(parts, " ")
}

func TestUsageReport(t *testing.T) {
	running, pending := corev1.PodRunning, corev1.PodPending
	for _, c := range []struct {
		name string
		pods []*corev1.Pod
		want string
		bad  []string // pods whose annotations are reported bad
	}{
		{name: "no pods: the overhead", want: "100m,256Mi"},
		{name: "half the requests",
			pods: []*corev1.Pod{usagePod("web", running, []string{"app:100m:64Mi"})},
			want: "150m,288Mi web/app=50m,32Mi"},
		{name: "whole cores and decimal memory halve too",
			pods: []*corev1.Pod{usagePod("web", running, []string{"app:1:1G"})},
			want: "600m,768435456 web/app=500m,500M"},
		{name: "no requests: 10m and 32Mi",
			pods: []*corev1.Pod{usagePod("web", running, []string{"app"})},
			want: "110m,288Mi web/app=10m,32Mi"},
		{name: "one quantity for every container",
			pods: []*corev1.Pod{usagePod("web", running, []string{"app:100m", "log"}, "cpu=200m", "mem=1Gi")},
			want: "500m,2304Mi web/app=200m,1Gi web/log=200m,1Gi"},
		{name: "by container, the others by a bare quantity or default",
			pods: []*corev1.Pod{
				usagePod("a", running, []string{"app:100m", "log:40m"}, "cpu=app=300m"),
				usagePod("b", running, []string{"app", "log"}, "cpu= app = 1 , 5m"),
			},
			want: "1425m,384Mi a/app=300m,32Mi a/log=20m,32Mi b/app=1,32Mi b/log=5m,32Mi"},
		{name: "only Running pods, in name order",
			pods: []*corev1.Pod{
				usagePod("z", running, []string{"app"}),
				usagePod("pending", pending, []string{"app"}),
				usagePod("done", corev1.PodSucceeded, []string{"app"}),
				usagePod("a", running, []string{"app"}),
			},
			want: "120m,320Mi a/app=10m,32Mi z/app=10m,32Mi"},
		{name: "only running containers; a pod with none is left out",
			pods: []*corev1.Pod{
				usagePod("web", running, []string{"app", "waiting-sidecar"}),
				usagePod("crash", running, []string{"waiting"}),
			},
			want: "110m,288Mi web/app=10m,32Mi"},
		{name: "running sidecars count, finished init containers do not",
			pods: []*corev1.Pod{usagePod("web", running, []string{"init-once", "init-proxy:20m", "app"}, "cpu=init-proxy=30m")},
			want: "140m,320Mi web/app=10m,32Mi web/init-proxy=30m,32Mi"},
		{name: "another node's pod is not ours",
			pods: []*corev1.Pod{func() *corev1.Pod { p := usagePod("web", running, []string{"app"}); p.Spec.NodeName = "n2"; return p }()},
			want: "100m,256Mi"},
		{name: "bad annotations fall back to the defaults, good items stay",
			pods: []*corev1.Pod{
				usagePod("a", running, []string{"app:100m"}, "cpu=lots"),
				usagePod("b", running, []string{"app"}, "cpu=-1"),
				usagePod("c", running, []string{"app"}, "mem=nope=1Mi,app=2Mi"),
				usagePod("d", running, []string{"app", "log"}, "cpu=1m,2m"),
			},
			want: "172m,386Mi a/app=50m,32Mi b/app=10m,32Mi c/app=10m,2Mi d/app=1m,32Mi d/log=1m,32Mi",
			bad:  []string{"a", "b", "c", "d"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{UsageInterval: 15 * time.Second}
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node-uid"}}
			now := time.Date(2025, 6, 1, 10, 0, 0, 700e6, time.UTC)
			in := slices.Clone(c.pods)
			u, errs := cfg.usageReport(node, c.pods, now)
			if got := show(u); got != c.want {
				t.Errorf("report\n got %s\nwant %s", got, c.want)
			}
			var bad []string
			for uid, err := range errs {
				bad = append(bad, strings.TrimPrefix(string(uid), "uid-"))
				if !strings.Contains(err.Error(), "annotation sim.kelson.dev/") {
					t.Errorf("error %q does not name the annotation", err)
				}
			}
			slices.Sort(bad)
			if !slices.Equal(bad, c.bad) {
				t.Errorf("bad annotations on %v, want %v (%v)", bad, c.bad, errs)
			}
			if u.Name != "n1" || u.Kind != "NodeUsage" || u.APIVersion != "metrics.kelson.dev/v1alpha1" ||
				u.Window.Duration != 15*time.Second || !u.Timestamp.Equal(&metav1.Time{Time: now.Truncate(time.Second)}) {
				t.Errorf("report meta %+v %v %v", u.ObjectMeta, u.Window, u.Timestamp)
			}
			if len(u.OwnerReferences) != 1 || u.OwnerReferences[0] != (metav1.OwnerReference{APIVersion: "v1", Kind: "Node", Name: "n1", UID: "node-uid"}) {
				t.Errorf("owner %+v", u.OwnerReferences)
			}
			if !slices.Equal(in, c.pods) {
				t.Error("the pods were reordered in place")
			}
			// Pure: the same input, the same report.
			if again, _ := cfg.usageReport(node, c.pods, now); show(again) != show(u) {
				t.Errorf("not deterministic: %s then %s", show(u), show(again))
			}
		})
	}
}

// A node with more pods than a report may list counts them all.
func TestUsageReportMaxPods(t *testing.T) {
	var pods []*corev1.Pod
	n := usagev1alpha1.MaxPods + 10
	for i := range n {
		pods = append(pods, usagePod(fmt.Sprintf("p%04d", i), corev1.PodRunning, []string{"app"}, "cpu=1m", "mem=1Mi"))
	}
	cfg := Config{UsageInterval: time.Second}
	u, _ := cfg.usageReport(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, pods, time.Now())
	if len(u.Pods) != usagev1alpha1.MaxPods || u.Pods[0].Name != "p0000" {
		t.Fatalf("%d pods listed, first %s", len(u.Pods), u.Pods[0].Name)
	}
	cpu, mem := u.Usage[corev1.ResourceCPU], u.Usage[corev1.ResourceMemory]
	if cpu.MilliValue() != int64(100+n) || mem.Value() != int64(256+n)<<20 {
		t.Fatalf("node usage %s %s", cpu.String(), mem.String())
	}
}

func TestUsageConfig(t *testing.T) {
	c := validConfig()
	if c.UsageInterval != 15*time.Second || c.ReportUsage {
		t.Fatalf("defaults: %v %v", c.UsageInterval, c.ReportUsage)
	}
	for _, d := range []time.Duration{-time.Second, 2 * time.Minute} {
		c := validConfig()
		c.UsageInterval = d
		if err := c.validate(); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "UsageInterval") {
			t.Errorf("UsageInterval %v: %v", d, err)
		}
	}
	if _, err := New(Config{Client: fake.NewClientset(), ReportUsage: true}); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "UsageClient") {
		t.Errorf("ReportUsage without a UsageClient: %v", err)
	}
}

// recorder is a UsageReporter that keeps the last report of each node.
type recorder struct {
	mu    sync.Mutex
	last  map[string]*usagev1alpha1.NodeUsage
	count int
}

func (r *recorder) Report(_ context.Context, u *usagev1alpha1.NodeUsage) (*usagev1alpha1.NodeUsage, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last[u.Name] = u.DeepCopy()
	r.count++
	return u, nil
}

func (r *recorder) get(node string) *usagev1alpha1.NodeUsage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last[node]
}

// The loop reports every node every interval, owned by the node, and a
// pod's edited annotation shows in the next report.
func TestUsageReporterLoop(t *testing.T) {
	client := fake.NewClientset()
	// The fake API sets no UIDs; a report needs its node's.
	client.PrependReactor("create", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if n, ok := a.(k8stesting.CreateAction).GetObject().(*corev1.Node); ok {
			n.UID = types.UID("uid-" + n.Name)
		}
		return false, nil, nil
	})
	rec := &recorder{last: map[string]*usagev1alpha1.NodeUsage{}}
	s, err := New(Config{Client: client, Nodes: 3, AssignPodCIDRs: true, ReportUsage: true, UsageClient: rec,
		UsageInterval: 100 * time.Millisecond, Logger: testcluster.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-s.Registered()

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", Annotations: map[string]string{AnnotationCPUUsage: "200m"}},
		Spec: corev1.PodSpec{NodeName: "sim-node-1", Containers: []corev1.Container{{Name: "app", Image: "x"}}}}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				p, _ := client.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
				t.Fatalf("timed out waiting for %s; pod %+v; report %+v; stats %+v", what, p.Status, rec.get("sim-node-1"), s.Stats())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	podCPU := func(want string) func() bool {
		return func() bool {
			u := rec.get("sim-node-1")
			if u == nil || len(u.Pods) != 1 {
				return false
			}
			q := u.Pods[0].Containers[0].Usage[corev1.ResourceCPU]
			return q.String() == want
		}
	}
	waitFor("web at 200m", podCPU("200m"))
	for _, name := range s.NodeNames() {
		n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitFor("a report of "+name, func() bool { return rec.get(name) != nil })
		if u := rec.get(name); len(u.OwnerReferences) != 1 || u.OwnerReferences[0].UID != n.UID {
			t.Fatalf("%s report owners %+v, node UID %s", name, u.OwnerReferences, n.UID)
		}
	}
	p, err := client.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Annotations[AnnotationCPUUsage] = "750m"
	if _, err := client.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("web at 750m", podCPU("750m"))
	if st := s.Stats(); st.UsageReports < 3 || st.UsageFailures != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Against the real API: the reports become metrics.k8s.io NodeMetrics and
// PodMetrics, which kubectl top shows; an edited annotation shows next.
func TestUsageServedAsMetrics(t *testing.T) {
	c := testcluster.Start(t)
	uc, err := usagev1alpha1.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Client: c.Client, Nodes: 2, CPU: resource.MustParse("1"), Memory: resource.MustParse("1Gi"),
		AssignPodCIDRs: true, ReportUsage: true, UsageClient: uc, UsageInterval: 200 * time.Millisecond, Logger: testcluster.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-s.Registered():
	case <-time.After(60 * time.Second):
		t.Fatal("nodes not registered")
	}
	pods := c.Client.CoreV1().Pods("default")
	_, err = pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{AnnotationCPUUsage: "200m"}},
		Spec: corev1.PodSpec{NodeName: "sim-node-0", Containers: []corev1.Container{{Name: "app", Image: "x",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// metrics reads the resource metrics API: usage of a node, or of a
	// pod's containers by name, as "cpu,memory".
	metrics := func(path string) (map[string]string, error) {
		raw, err := c.Client.Discovery().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/" + path).DoRaw(ctx)
		if err != nil {
			return nil, err
		}
		var m struct {
			Usage      corev1.ResourceList `json:"usage"`
			Containers []struct {
				Name  string              `json:"name"`
				Usage corev1.ResourceList `json:"usage"`
			} `json:"containers"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		q := func(l corev1.ResourceList) string { return l.Cpu().String() + "," + l.Memory().String() }
		out := map[string]string{}
		if m.Usage != nil {
			out[""] = q(m.Usage)
		}
		for _, c := range m.Containers {
			out[c.Name] = q(c.Usage)
		}
		return out, nil
	}
	expect := func(path string, want map[string]string) {
		t.Helper()
		testcluster.Eventually(t, 60*time.Second, func() error {
			got, err := metrics(path)
			if err != nil {
				return err
			}
			if !maps.Equal(got, want) {
				return fmt.Errorf("%s: %v, want %v", path, got, want)
			}
			return nil
		})
	}
	expect("namespaces/default/pods/web", map[string]string{"app": "200m,32Mi"})
	expect("nodes/sim-node-0", map[string]string{"": "300m,288Mi"})
	expect("nodes/sim-node-1", map[string]string{"": "100m,256Mi"})

	for _, name := range s.NodeNames() {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		u, err := uc.Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if len(u.OwnerReferences) != 1 || u.OwnerReferences[0].Kind != "Node" || u.OwnerReferences[0].UID != n.UID || u.Window.Duration != 200*time.Millisecond {
			t.Fatalf("report of %s: owners %+v window %v", name, u.OwnerReferences, u.Window)
		}
	}

	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Log("kubectl is not on the PATH: not running kubectl top")
	} else {
		dir := t.TempDir()
		kubectl := func(args ...string) string {
			t.Helper()
			ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
			cmd.Env = append(os.Environ(), "HOME="+dir, "KUBECACHEDIR="+filepath.Join(dir, "cache"))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			var ls []string
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				ls = append(ls, strings.Join(strings.Fields(l), " "))
			}
			return strings.Join(ls, "\n")
		}
		// Percentages of allocatable (1 cpu, 1Gi).
		if got, want := kubectl("top", "node"), "NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)\n"+
			"sim-node-0 300m 30% 288Mi 28%\nsim-node-1 100m 10% 256Mi 25%"; got != want {
			t.Errorf("kubectl top node:\n%s\nwant:\n%s", got, want)
		}
		if got, want := kubectl("top", "pod", "--containers"), "POD NAME CPU(cores) MEMORY(bytes)\nweb app 200m 32Mi"; got != want {
			t.Errorf("kubectl top pod:\n%s\nwant:\n%s", got, want)
		}
	}

	p, err := pods.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Annotations[AnnotationCPUUsage] = "50m"
	p.Annotations[AnnotationMemoryUsage] = "100Mi"
	if _, err := pods.Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("namespaces/default/pods/web", map[string]string{"app": "50m,100Mi"})
	expect("nodes/sim-node-0", map[string]string{"": "150m,356Mi"})
}
