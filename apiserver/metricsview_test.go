package apiserver

import (
	"testing"
	"time"

	usagev1alpha1 "github.com/kelson-dev/kelson/api/metrics/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

var viewNow = time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)

func usageList(cpu, mem string) corev1.ResourceList {
	l := corev1.ResourceList{}
	if cpu != "" {
		l[corev1.ResourceCPU] = apiresource.MustParse(cpu)
	}
	if mem != "" {
		l[corev1.ResourceMemory] = apiresource.MustParse(mem)
	}
	return l
}

func report(node string, age time.Duration, pods ...usagev1alpha1.PodUsage) *usagev1alpha1.NodeUsage {
	return &usagev1alpha1.NodeUsage{
		ObjectMeta: metav1.ObjectMeta{Name: node},
		Timestamp:  metav1.NewTime(viewNow.Add(-age)),
		Window:     metav1.Duration{Duration: 15 * time.Second},
		Usage:      usageList("1", "2Gi"),
		Pods:       pods,
	}
}

func podUsage(ns, name, cpu string) usagev1alpha1.PodUsage {
	return usagev1alpha1.PodUsage{Namespace: ns, Name: name,
		Containers: []usagev1alpha1.ContainerUsage{{Name: "c", Usage: usageList(cpu, "64Mi")}}}
}

func TestFreshReport(t *testing.T) {
	for _, tc := range []struct {
		name string
		u    *usagev1alpha1.NodeUsage
		want bool
	}{
		{"none", nil, false},
		{"no timestamp", &usagev1alpha1.NodeUsage{}, false},
		{"now", report("n", 0), true},
		{"a minute old", report("n", time.Minute), true},
		{"exactly stale-after old", report("n", metricsStaleAfter), true},
		{"a second past", report("n", metricsStaleAfter+time.Second), false},
		{"from the future (clock skew)", report("n", -time.Minute), true},
	} {
		if got := freshReport(tc.u, viewNow); got != tc.want {
			t.Errorf("%s: fresh %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestUsageIndexPods(t *testing.T) {
	reports := map[string]*usagev1alpha1.NodeUsage{
		"n1": report("n1", 10*time.Second, podUsage("shop", "web-1", "250m"), podUsage("shop", "moved", "900m")),
		"n2": report("n2", 10*time.Second, podUsage("shop", "web-2", "100m"), podUsage("shop", "moved", "50m")),
		"n3": report("n3", 3*time.Minute, podUsage("shop", "old", "1")),
	}
	x := newUsageIndex(func(node string) *usagev1alpha1.NodeUsage { return reports[node] }, viewNow)
	pod := func(ns, name, node string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.PodSpec{NodeName: node}}
	}
	for _, tc := range []struct {
		name     string
		pod      *corev1.Pod
		wantNode string // "" none
		wantCPU  string
	}{
		{"on its node", pod("shop", "web-1", "n1"), "n1", "250m"},
		{"other node", pod("shop", "web-2", "n2"), "n2", "100m"},
		{"same name in two reports: its node's", pod("shop", "moved", "n2"), "n2", "50m"},
		{"not bound", pod("shop", "web-1", ""), "", ""},
		{"bound elsewhere than the report", pod("shop", "web-1", "n2"), "", ""},
		{"other namespace", pod("default", "web-1", "n1"), "", ""},
		{"stale report", pod("shop", "old", "n3"), "", ""},
		{"node without report", pod("shop", "web-1", "n9"), "", ""},
	} {
		u, p := x.pod(tc.pod)
		if tc.wantNode == "" {
			if u != nil || p != nil {
				t.Errorf("%s: got %v %v, want none", tc.name, u, p)
			}
			continue
		}
		if u == nil || p == nil || u.Name != tc.wantNode {
			t.Errorf("%s: got %v %v, want node %s", tc.name, u, p, tc.wantNode)
			continue
		}
		if cpu := p.Containers[0].Usage[corev1.ResourceCPU]; cpu.String() != tc.wantCPU {
			t.Errorf("%s: cpu %s, want %s", tc.name, cpu.String(), tc.wantCPU)
		}
	}
	if x.node("n3") != nil {
		t.Errorf("stale node served")
	}
	if x.node("") != nil {
		t.Errorf("empty node name served")
	}
}

func TestNodeAndPodMetricsOf(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"role": "web"}, UID: "u"}}
	u := report("n1", 30*time.Second, podUsage("shop", "web-1", "250m"))
	m, ok := nodeMetricsOf(node, u, viewNow)
	if !ok {
		t.Fatal("no node metrics")
	}
	if m.Name != "n1" || m.Labels["role"] != "web" || m.UID != "" || !m.Timestamp.Equal(&u.Timestamp) ||
		m.Window.Duration != 15*time.Second || !m.CreationTimestamp.Time.Equal(viewNow) {
		t.Errorf("node metrics %+v", m)
	}
	if m.Kind != "NodeMetrics" || m.APIVersion != "metrics.k8s.io/v1beta1" {
		t.Errorf("type meta %+v", m.TypeMeta)
	}
	if cpu := m.Usage[corev1.ResourceCPU]; cpu.String() != "1" {
		t.Errorf("cpu %s", cpu.String())
	}
	m.Labels["role"] = "changed"
	if node.Labels["role"] != "web" {
		t.Errorf("metrics share the node's labels")
	}
	if _, ok := nodeMetricsOf(node, nil, viewNow); ok {
		t.Errorf("metrics without a report")
	}
	empty := report("n1", 0)
	empty.Usage = nil
	if _, ok := nodeMetricsOf(node, empty, viewNow); ok {
		t.Errorf("metrics from a report without node usage")
	}

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1", Labels: map[string]string{"app": "web"}}}
	pm, ok := podMetricsOf(pod, u, &u.Pods[0], viewNow)
	if !ok {
		t.Fatal("no pod metrics")
	}
	if pm.Namespace != "shop" || pm.Name != "web-1" || pm.Labels["app"] != "web" || len(pm.Containers) != 1 || pm.Containers[0].Name != "c" {
		t.Errorf("pod metrics %+v", pm)
	}
	pm.Containers[0].Usage[corev1.ResourceCPU] = apiresource.MustParse("9")
	if cpu := u.Pods[0].Containers[0].Usage[corev1.ResourceCPU]; cpu.String() != "250m" {
		t.Errorf("pod metrics share the report's usage")
	}
	if _, ok := podMetricsOf(pod, u, nil, viewNow); ok {
		t.Errorf("metrics for a pod the report does not list")
	}
}

func TestMetricsCells(t *testing.T) {
	pm := &metricsv1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{Name: "web-1"}, Window: metav1.Duration{Duration: 15 * time.Second},
		Containers: []metricsv1beta1.ContainerMetrics{
			{Name: "a", Usage: usageList("250m", "64Mi")},
			{Name: "b", Usage: usageList("1", "1Gi")},
		}}
	got := podMetricsKind().Cells(pm)
	want := []interface{}{"web-1", "1250m", "1088Mi", "15s"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("pod cells %v, want %v", got, want)
			break
		}
	}
	nm := &metricsv1beta1.NodeMetrics{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Usage: usageList("2", "")}
	got = nodeMetricsKind().Cells(nm)
	want = []interface{}{"n1", "2", "<none>", "0s"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("node cells %v, want %v", got, want)
			break
		}
	}
}
