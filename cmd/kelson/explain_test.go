package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/kelson-dev/kelson/controllers/scheduler"
	"github.com/kelson-dev/kelson/internal/testcluster"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestExplainPod runs `kelson explain pod` against a real API server: two
// nodes (one tainted, one too small), a pending pod that fits neither.
func TestExplainPod(t *testing.T) {
	c := testcluster.Start(t)
	ctx := context.Background()
	for _, n := range []scheduler.NodeSpec{
		{Name: "small", CPU: "1", Memory: "4Gi", Pods: 110},
		{Name: "tainted", CPU: "8", Memory: "4Gi", Pods: 110, Taints: []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}},
	} {
		if err := scheduler.CreateNode(ctx, c.Client, n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "front", Namespace: "web"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}}}},
	}
	if _, err := c.Client.CoreV1().Pods("web").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	code := execute(ctx, []string{"explain", "pod", "front", "-n", "web", "--kubeconfig", c.Kubeconfig}, &out, &errOut, defaultRunners())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	want := []string{
		"Pod:        web/front",
		"Status:     Pending, not bound",
		"Decision:   fits no node: 0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: db}. " +
			"preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.",
		"NODE     RESULT  FILTER            REASON",
		"small    fails   NodeResourcesFit  Insufficient cpu",
		"tainted  fails   TaintToleration   node(s) had untolerated taint {dedicated: db}",
		"Scheduling events: none",
	}
	for _, w := range want {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}

	// A missing pod is an error; so is a missing kubeconfig.
	out.Reset()
	errOut.Reset()
	if code := execute(ctx, []string{"explain", "pod", "nope", "-n", "web", "--kubeconfig", c.Kubeconfig}, &out, &errOut, defaultRunners()); code != 1 ||
		!strings.Contains(errOut.String(), "pod not found: web/nope") {
		t.Errorf("missing pod: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := execute(ctx, []string{"explain", "pod"}, &out, &errOut, defaultRunners()); code != 2 {
		t.Errorf("no name: exit %d, %q", code, errOut.String())
	}
}
