package node

import (
	"fmt"
	"testing"
	"time"

	usagev1alpha1 "github.com/kelson-dev/kelson/api/metrics/v1alpha1"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func stats(at time.Time, cpuNanos, ws uint64) runtime.Stats {
	return runtime.Stats{Timestamp: at, CPUUsageNanos: cpuNanos, MemoryWorkingSet: ws}
}

func TestUsageReport(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "u1"}}
	t0 := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	t1 := t0.Add(15 * time.Second)
	cpu0 := cpuTimes{Busy: 100, Total: 1000, CPUs: 2}
	cpu1 := cpuTimes{Busy: 400, Total: 2500, CPUs: 2}
	mem := int64(2 << 30)
	web := func(at time.Time, nanos uint64, id string) PodUsage {
		return PodUsage{Namespace: "default", Name: "web", UID: "w1", Containers: []ContainerUsage{{Name: "httpd", ID: id, Stats: stats(at, nanos, 20<<20)}}}
	}
	before := []PodUsage{
		web(t0, 1e9, "c1"),
		{Namespace: "kube-system", Name: "dns", UID: "d1", Containers: []ContainerUsage{{Name: "dns", ID: "d", Stats: stats(t0, 5e9, 10<<20)}}},
		{Namespace: "default", Name: "crash", UID: "x1", Containers: []ContainerUsage{{Name: "app", ID: "a1", Stats: stats(t0, 9e9, 1)}}},
	}
	after := []PodUsage{
		{Namespace: "kube-system", Name: "dns", UID: "d1", Containers: []ContainerUsage{{Name: "dns", ID: "d", Stats: stats(t1, 5e9+15e8, 12<<20)}}},
		web(t1, 1.75e9, "c1"),
		{Namespace: "default", Name: "crash", UID: "x1", Containers: []ContainerUsage{{Name: "app", ID: "a2", Stats: stats(t1, 1e8, 1)}}}, // restarted: no rate yet
		{Namespace: "default", Name: "new", UID: "n1", Containers: []ContainerUsage{{Name: "app", ID: "z", Stats: stats(t1, 1e8, 1)}}},    // appeared
	}
	prev := newUsageSample(t0, &cpu0, &mem, before)
	cur := newUsageSample(t1, &cpu1, &mem, after)
	u := usageReport(node, prev, cur, after)
	if u == nil {
		t.Fatal("no report")
	}
	got := fmt.Sprintf("%s %s %v", u.Name, u.Timestamp.UTC().Format(time.RFC3339), u.Window.Duration)
	if want := "n1 2025-06-01T10:00:15Z 15s"; got != want {
		t.Errorf("report %q, want %q", got, want)
	}
	if len(u.OwnerReferences) != 1 || u.OwnerReferences[0].UID != "u1" || u.APIVersion != "metrics.kelson.dev/v1alpha1" || u.Kind != "NodeUsage" {
		t.Errorf("report meta %+v %+v", u.TypeMeta, u.OwnerReferences)
	}
	if c, m := u.Usage[corev1.ResourceCPU], u.Usage[corev1.ResourceMemory]; c.String() != "400m" || m.String() != "2Gi" {
		t.Errorf("node usage cpu %s memory %s; want 400m 2Gi", c.String(), m.String())
	}
	got = describe(u.Pods)
	if want := "default/web[httpd cpu=50m mem=20Mi] kube-system/dns[dns cpu=100m mem=12Mi]"; got != want {
		t.Errorf("pods\n got %s\nwant %s", got, want)
	}

	// No earlier sample, or no time between: nothing to report.
	if usageReport(node, nil, cur, after) != nil || usageReport(node, cur, cur, after) != nil {
		t.Error("a report without two samples")
	}
	// No /proc/stat: memory only.
	u = usageReport(node, newUsageSample(t0, nil, &mem, before), newUsageSample(t1, nil, &mem, after), after)
	if _, ok := u.Usage[corev1.ResourceCPU]; ok || len(u.Pods) != 2 {
		t.Errorf("report without /proc/stat: %+v", u.Usage)
	}
	// Nothing known of the node: no report.
	if u := usageReport(node, newUsageSample(t0, nil, nil, nil), newUsageSample(t1, nil, nil, nil), nil); u != nil {
		t.Errorf("a report of nothing: %+v", u)
	}
}

func TestUsageReportDuplicatesAndCap(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "u1"}}
	t0 := time.Unix(1000, 0)
	t1 := t0.Add(10 * time.Second)
	cpu := cpuTimes{Busy: 1, Total: 2, CPUs: 1}
	cpu1 := cpuTimes{Busy: 2, Total: 4, CPUs: 1}
	var before, after []PodUsage
	// A pod name twice (an old instance, UID o, without a rate; a new one
	// with), a container name twice in one pod.
	before = append(before, PodUsage{Namespace: "a", Name: "p", UID: "new", Containers: []ContainerUsage{{Name: "c", ID: "1", Stats: stats(t0, 0, 1)}, {Name: "c", ID: "2", Stats: stats(t0, 0, 2)}}})
	after = append(after, PodUsage{Namespace: "a", Name: "p", UID: "old", Containers: []ContainerUsage{{Name: "c", ID: "9", Stats: stats(t1, 1e9, 1)}}},
		PodUsage{Namespace: "a", Name: "p", UID: "new", Containers: []ContainerUsage{{Name: "c", ID: "1", Stats: stats(t1, 1e9, 1)}, {Name: "c", ID: "2", Stats: stats(t1, 2e9, 2)}}})
	for i := range usagev1alpha1.MaxPods + 5 {
		p := PodUsage{Namespace: "b", Name: fmt.Sprintf("p%04d", i), UID: "x", Containers: []ContainerUsage{{Name: "c", ID: "i", Stats: stats(t0, 0, 1)}}}
		before = append(before, p)
		p.Containers = []ContainerUsage{{Name: "c", ID: "i", Stats: stats(t1, 1e9, 1)}}
		after = append(after, p)
	}
	u := usageReport(node, newUsageSample(t0, &cpu, nil, before), newUsageSample(t1, &cpu1, nil, after), after)
	if len(u.Pods) != usagev1alpha1.MaxPods {
		t.Fatalf("%d pods reported, want %d", len(u.Pods), usagev1alpha1.MaxPods)
	}
	if got := describe(u.Pods[:1]); got != "a/p[c cpu=100m mem=1]" {
		t.Errorf("duplicates: %s", got)
	}
}

func describe(pods []usagev1alpha1.PodUsage) string {
	s := ""
	for i, p := range pods {
		if i > 0 {
			s += " "
		}
		s += p.Namespace + "/" + p.Name + "["
		for j, c := range p.Containers {
			if j > 0 {
				s += " "
			}
			cpu, mem := c.Usage[corev1.ResourceCPU], c.Usage[corev1.ResourceMemory]
			s += fmt.Sprintf("%s cpu=%s mem=%s", c.Name, cpu.String(), mem.String())
		}
		s += "]"
	}
	return s
}
