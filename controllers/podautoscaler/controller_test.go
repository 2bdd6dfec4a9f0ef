package podautoscaler_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/podautoscaler"
	"github.com/kelson-dev/kelson/internal/testcluster"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

const timeout = 60 * time.Second

// fakeMetrics stands in for metrics-server (and for the metrics.k8s.io
// API Kelson does not serve yet): every pod of the web deployment uses
// cpu millicores; other selectors go to the real API.
type fakeMetrics struct {
	mu   sync.Mutex
	cpu  int64
	real podautoscaler.Metrics
}

func (f *fakeMetrics) PodUsage(ctx context.Context, ns string, sel labels.Selector, res corev1.ResourceName) (map[string]int64, error) {
	if !sel.Matches(labels.Set{"app": "web"}) {
		return f.real.PodUsage(ctx, ns, sel, res)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return map[string]int64{"web-0": f.cpu, "web-1": f.cpu}, nil
}

func deployment(t *testing.T, cs kubernetes.Interface, name string, replicas int32) {
	t.Helper()
	ctx := context.Background()
	lbls := map[string]string{"app": name}
	d, err := cs.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Status.Replicas = replicas // as the deployment controller would report
	if _, err := cs.AppsV1().Deployments("default").UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range replicas {
		p, err := cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", name, i), Labels: lbls},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		if _, err := cs.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func autoscaler(t *testing.T, cs kubernetes.Interface, target string) {
	t.Helper()
	if _, err := cs.AutoscalingV2().HorizontalPodAutoscalers("default").Create(context.Background(), &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: target},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
			MinReplicas:    ptr.To(int32(1)), MaxReplicas: 10,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(50))}}}},
		}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func eventMessage(t *testing.T, cs kubernetes.Interface, name, reason string) string {
	t.Helper()
	var msg string
	testcluster.Eventually(t, timeout, func() error {
		evs, err := cs.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String()})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == reason {
				msg = e.Message
				return nil
			}
		}
		return fmt.Errorf("no %s event on %s among %d", reason, name, len(evs.Items))
	})
	return msg
}

func condition(h *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) autoscalingv2.HorizontalPodAutoscalerCondition {
	for _, c := range h.Status.Conditions {
		if c.Type == t {
			return c
		}
	}
	return autoscalingv2.HorizontalPodAutoscalerCondition{}
}

// An autoscaler over a Deployment whose pods use four times their target
// scales it up as fast as the default policy allows (2 → 6) and says why;
// one whose metrics cannot be read says that.
func TestAutoscale(t *testing.T) {
	c := testcluster.Start(t)
	cs := c.Client
	ctx := context.Background()
	cctx := controllers.NewContext(cs, "test", testcluster.Logger())
	ctrl := podautoscaler.New(cctx)
	ctrl.SyncPeriod = 200 * time.Millisecond
	metrics := &fakeMetrics{cpu: 200, real: podautoscaler.APIMetrics{Client: cs}}
	ctrl.Metrics = metrics
	runCtx, cancel := context.WithCancel(ctx)
	cctx.Start(runCtx)
	done := make(chan struct{})
	go func() { ctrl.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; cctx.Close() })

	deployment(t, cs, "web", 2)
	deployment(t, cs, "api", 2)
	autoscaler(t, cs, "web")
	autoscaler(t, cs, "api")

	testcluster.Eventually(t, timeout, func() error {
		d, err := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if *d.Spec.Replicas != 6 {
			return fmt.Errorf("web replicas %d, want 6", *d.Spec.Replicas)
		}
		return nil
	})
	if msg := eventMessage(t, cs, "web", "SuccessfulRescale"); msg != "New size: 6; reason: cpu resource utilization (percentage of request) above target" {
		t.Fatalf("SuccessfulRescale message %q", msg)
	}
	testcluster.Eventually(t, timeout, func() error {
		h, err := cs.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		st := h.Status
		if st.DesiredReplicas != 6 || st.LastScaleTime == nil || len(st.CurrentMetrics) != 1 ||
			st.CurrentMetrics[0].Resource.Current.AverageUtilization == nil || *st.CurrentMetrics[0].Resource.Current.AverageUtilization != 200 {
			return fmt.Errorf("status %+v", st)
		}
		if l := condition(h, autoscalingv2.ScalingLimited); l.Status != corev1.ConditionTrue || l.Reason != "ScaleUpLimit" {
			return fmt.Errorf("ScalingLimited %+v", l)
		}
		if a := condition(h, autoscalingv2.ScalingActive); a.Status != corev1.ConditionTrue || a.Reason != "ValidMetricFound" {
			return fmt.Errorf("ScalingActive %+v", a)
		}
		return nil
	})

	// Without usage reports for its pods: no scaling, and why.
	msg := eventMessage(t, cs, "api", "FailedGetResourceMetric")
	if !strings.Contains(msg, "failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API") {
		t.Fatalf("FailedGetResourceMetric message %q", msg)
	}
	testcluster.Eventually(t, timeout, func() error {
		h, err := cs.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "api", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if a := condition(h, autoscalingv2.ScalingActive); a.Status != corev1.ConditionFalse || a.Reason != "FailedGetResourceMetric" {
			return fmt.Errorf("ScalingActive %+v", a)
		}
		return nil
	})
	if d, _ := cs.AppsV1().Deployments("default").Get(ctx, "api", metav1.GetOptions{}); *d.Spec.Replicas != 2 {
		t.Fatalf("api scaled to %d without metrics", *d.Spec.Replicas)
	}
}
