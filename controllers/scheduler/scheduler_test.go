package scheduler

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/internal/testcluster"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
)

// startScheduler runs a scheduler against c until the test ends, with
// short back-offs.
func startScheduler(t *testing.T, c *testcluster.Cluster) *Scheduler {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cctx := controllers.NewContext(c.Client, "test", testcluster.Logger())
	s := NewWithConfig(cctx, Config{InitialBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
		BindWorkers: envInt("KELSON_SCHED_BINDERS", 0)})
	cctx.Start(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx); err != nil {
			t.Errorf("scheduler: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cctx.Close() })
	return s
}

func mustCreateNode(t *testing.T, client kubernetes.Interface, name, cpu string, labels map[string]string, taints ...corev1.Taint) {
	t.Helper()
	if err := CreateNode(context.Background(), client, NodeSpec{Name: name, CPU: cpu, Memory: "8Gi", Pods: 110, Labels: labels, Taints: taints}); err != nil {
		t.Fatal(err)
	}
}

func newPod(name, cpu string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}},
	}
}

func mustCreatePod(t *testing.T, client kubernetes.Interface, p *corev1.Pod) {
	t.Helper()
	if _, err := client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func getPod(client kubernetes.Interface, name string) (*corev1.Pod, error) {
	return client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
}

func boundTo(client kubernetes.Interface, name string) (string, error) {
	p, err := getPod(client, name)
	if err != nil {
		return "", err
	}
	if p.Spec.NodeName == "" {
		return "", fmt.Errorf("pod %s not bound", name)
	}
	return p.Spec.NodeName, nil
}

func podEvents(client kubernetes.Interface, name, reason string) ([]corev1.Event, error) {
	sel := fields.Set{"involvedObject.name": name, "reason": reason}.AsSelector().String()
	l, err := client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		// Not every server selects events by reason: filter here.
		l, err = client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String()})
		if err != nil {
			return nil, err
		}
	}
	var out []corev1.Event
	for _, e := range l.Items {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out, nil
}

func TestSchedulerBindsReportsAndRetries(t *testing.T) {
	c := testcluster.Start(t)
	cl := c.Client
	for i := range 3 {
		mustCreateNode(t, cl, fmt.Sprintf("n%d", i), "2", map[string]string{"zone": "a"})
	}
	startScheduler(t, c)

	for i := range 10 {
		mustCreatePod(t, cl, newPod(fmt.Sprintf("p%d", i), "100m"))
	}
	other := newPod("other", "100m")
	other.Spec.SchedulerName = "someone-else"
	mustCreatePod(t, cl, other)
	testcluster.Eventually(t, 60*time.Second, func() error {
		for i := range 10 {
			if _, err := boundTo(cl, fmt.Sprintf("p%d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	testcluster.Eventually(t, 30*time.Second, func() error {
		evs, err := podEvents(cl, "p0", "Scheduled")
		if err != nil || len(evs) == 0 {
			return fmt.Errorf("no Scheduled event for p0 (%v)", err)
		}
		node, _ := boundTo(cl, "p0")
		want := "Successfully assigned default/p0 to " + node
		if evs[0].Message != want || evs[0].Source.Component != DefaultSchedulerName {
			return fmt.Errorf("event %q from %q, want %q from %s", evs[0].Message, evs[0].Source.Component, want, DefaultSchedulerName)
		}
		return nil
	})

	// Fits nowhere: FailedScheduling with Kubernetes' words, and
	// PodScheduled=False.
	mustCreatePod(t, cl, newPod("big", "4"))
	want := "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
	testcluster.Eventually(t, 60*time.Second, func() error {
		evs, err := podEvents(cl, "big", "FailedScheduling")
		if err != nil || len(evs) == 0 {
			return fmt.Errorf("no FailedScheduling event (%v)", err)
		}
		if evs[0].Message != want || evs[0].Type != corev1.EventTypeWarning {
			return fmt.Errorf("event %s %q, want Warning %q", evs[0].Type, evs[0].Message, want)
		}
		p, err := getPod(cl, "big")
		if err != nil {
			return err
		}
		cond := podCondition(p, corev1.PodScheduled)
		if cond == nil || cond.Status != corev1.ConditionFalse || cond.Reason != corev1.PodReasonUnschedulable || cond.Message != want {
			return fmt.Errorf("PodScheduled condition %+v", cond)
		}
		return nil
	})

	// explain names every node's verdict.
	var out bytes.Buffer
	if err := Explain(context.Background(), cl, "default", "big", &out, ExplainOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Decision:   fits no node: " + want, "n0    fails   NodeResourcesFit  Insufficient cpu",
		"n2    fails   NodeResourcesFit  Insufficient cpu", "Warning  FailedScheduling  default-scheduler  " + want} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("explain output lacks %q:\n%s", s, out.String())
		}
	}

	// A node that fits arrives: the pod is retried and bound there.
	mustCreateNode(t, cl, "large", "8", nil)
	testcluster.Eventually(t, 60*time.Second, func() error {
		n, err := boundTo(cl, "big")
		if err == nil && n != "large" {
			return fmt.Errorf("big bound to %s, want large", n)
		}
		return err
	})
	// (Events are written asynchronously: wait for the Scheduled one.)
	testcluster.Eventually(t, 30*time.Second, func() error {
		out.Reset()
		if err := Explain(context.Background(), cl, "default", "big", &out, ExplainOptions{}); err != nil {
			return err
		}
		for _, s := range []string{"bound to large", "large  selected", "NODE   TOTAL  fit×1", "Normal   Scheduled         default-scheduler  Successfully assigned default/big to large"} {
			if !strings.Contains(out.String(), s) {
				return fmt.Errorf("explain output lacks %q:\n%s", s, out.String())
			}
		}
		return nil
	})
	t.Logf("explain:\n%s", out.String())

	// Another scheduler's pod is left alone.
	if p, err := getPod(cl, "other"); err != nil || p.Spec.NodeName != "" {
		t.Errorf("pod for another scheduler: %v, node %q", err, p.Spec.NodeName)
	}
}

func TestSchedulerPreempts(t *testing.T) {
	c := testcluster.Start(t)
	cl := c.Client
	ctx := context.Background()
	mustCreateNode(t, cl, "n1", "1", nil)
	_, err := cl.SchedulingV1().PriorityClasses().Create(ctx, &schedulingv1.PriorityClass{
		ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	startScheduler(t, c)

	mustCreatePod(t, cl, newPod("low", "800m"))
	testcluster.Eventually(t, 60*time.Second, func() error { _, err := boundTo(cl, "low"); return err })

	high := newPod("high", "800m")
	high.Spec.PriorityClassName = "high"
	mustCreatePod(t, cl, high)
	// The victim is deleted (gracefully: it is bound, so it waits for its
	// node agent) with the DisruptionTarget condition; the preemptor is
	// nominated to the node.
	testcluster.Eventually(t, 60*time.Second, func() error {
		low, err := getPod(cl, "low")
		if err != nil {
			return err
		}
		if low.DeletionTimestamp == nil {
			return fmt.Errorf("victim not deleted")
		}
		if cond := podCondition(low, corev1.DisruptionTarget); cond == nil || cond.Reason != corev1.PodReasonPreemptionByScheduler {
			return fmt.Errorf("victim condition %+v", cond)
		}
		p, err := getPod(cl, "high")
		if err != nil {
			return err
		}
		if p.Status.NominatedNodeName != "n1" {
			return fmt.Errorf("preemptor nominated to %q", p.Status.NominatedNodeName)
		}
		evs, err := podEvents(cl, "low", "Preempted")
		if err != nil || len(evs) == 0 {
			return fmt.Errorf("no Preempted event (%v)", err)
		}
		if want := fmt.Sprintf("Preempted by pod %s on node n1", p.UID); evs[0].Message != want {
			return fmt.Errorf("Preempted event %q, want %q", evs[0].Message, want)
		}
		return nil
	})
	// Act as the node agent: the victim's containers stopped.
	zero := int64(0)
	if err := cl.CoreV1().Pods("default").Delete(ctx, "low", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 60*time.Second, func() error {
		n, err := boundTo(cl, "high")
		if err == nil && n != "n1" {
			return fmt.Errorf("high bound to %s", n)
		}
		return err
	})
}
