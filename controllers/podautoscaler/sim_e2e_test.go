package podautoscaler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	usagev1alpha1 "github.com/kelson-dev/kelson/api/metrics/v1alpha1"
	"github.com/kelson-dev/kelson/controllers"
	deploymentctrl "github.com/kelson-dev/kelson/controllers/deployment"
	"github.com/kelson-dev/kelson/controllers/podautoscaler"
	"github.com/kelson-dev/kelson/controllers/replicaset"
	"github.com/kelson-dev/kelson/internal/testcluster"
	"github.com/kelson-dev/kelson/sim"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// simTimeout bounds each convergence of the end-to-end test.
const simTimeout = 120 * time.Second

// The whole loop on simulated nodes, with nothing faked: the simulator
// runs a Deployment's pods and reports their usage from the
// sim.kelson.dev/cpu-usage annotation, the API serves it as
// metrics.k8s.io, and the autoscaler (through the default APIMetrics)
// scales the Deployment, whose controllers make and remove the pods. At
// 200% of the request against a 50% target it scales 1 → 4 (the max);
// with the annotation edited to 10% (a rollout) and no scale-down window,
// back to 1.
func TestAutoscaleSimulatedUsage(t *testing.T) {
	start := time.Now()
	c := testcluster.Start(t)
	cs := c.Client
	ctx, cancel := context.WithCancel(context.Background())
	var stops []func()
	t.Cleanup(func() {
		cancel()
		for _, stop := range stops {
			stop()
		}
	})

	uc, err := usagev1alpha1.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sim.Config{Client: cs, Nodes: 1, AssignPodCIDRs: true, ReportUsage: true, UsageClient: uc,
		UsageInterval: time.Second, Logger: testcluster.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	simDone := make(chan struct{})
	go func() { s.Run(ctx); close(simDone) }()
	stops = append(stops, func() { <-simDone })

	cctx := controllers.NewContext(cs, "test", testcluster.Logger())
	hpa := podautoscaler.New(cctx)
	hpa.SyncPeriod = time.Second // Kubernetes': 15 s
	runners := []interface{ Run(context.Context) error }{deploymentctrl.New(cctx), replicaset.New(cctx), hpa}
	cctx.Start(ctx)
	for _, r := range runners {
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		stops = append(stops, func() { <-done })
	}
	stops = append(stops, cctx.Close)
	select {
	case <-s.Registered():
	case <-time.After(simTimeout):
		t.Fatal("the simulated node did not register")
	}
	node := s.NodeNames()[0]

	lbls := map[string]string{"app": "shop"}
	_, err = cs.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls, Annotations: map[string]string{sim.AnnotationCPUUsage: "200m"}},
				Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "registry.example/shop:1",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.AutoscalingV2().HorizontalPodAutoscalers("default").Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "shop"},
			MinReplicas:    ptr.To(int32(1)), MaxReplicas: 4,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(50))}}}},
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To(int32(0))}},
		}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// converged waits for the Deployment to have want replicas, all of
	// them Running and Ready with the same template, and the autoscaler
	// to report them at utilization.
	converged := func(want, utilization int32) {
		t.Helper()
		testcluster.Eventually(t, simTimeout, func() error {
			d, err := cs.AppsV1().Deployments("default").Get(ctx, "shop", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if *d.Spec.Replicas != want || d.Status.UpdatedReplicas != want || d.Status.ReadyReplicas != want || d.Status.Replicas != want {
				return fmt.Errorf("deployment replicas %d, status %+v; want %d", *d.Spec.Replicas, d.Status, want)
			}
			pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: labels.FormatLabels(lbls)})
			if err != nil {
				return err
			}
			if len(pods.Items) != int(want) {
				return fmt.Errorf("%d pods, want %d", len(pods.Items), want)
			}
			h, err := cs.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "shop", metav1.GetOptions{})
			if err != nil {
				return err
			}
			st := h.Status
			if st.CurrentReplicas != want || st.DesiredReplicas != want || len(st.CurrentMetrics) != 1 ||
				st.CurrentMetrics[0].Resource == nil || st.CurrentMetrics[0].Resource.Current.AverageUtilization == nil ||
				*st.CurrentMetrics[0].Resource.Current.AverageUtilization != utilization {
				b, _ := json.Marshal(st)
				return fmt.Errorf("autoscaler status %s; want %d replicas at %d%%", b, want, utilization)
			}
			return nil
		})
	}
	// rescaled waits for the autoscaler's Event saying so.
	rescaled := func(message string) {
		t.Helper()
		testcluster.Eventually(t, simTimeout, func() error {
			evs, err := cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: fields.Set{
				"involvedObject.kind": "HorizontalPodAutoscaler", "involvedObject.name": "shop", "reason": "SuccessfulRescale"}.String()})
			if err != nil {
				return err
			}
			var got []string
			for _, e := range evs.Items {
				if e.Message == message && e.Source.Component == "horizontal-pod-autoscaler" {
					return nil
				}
				got = append(got, e.Message)
			}
			return fmt.Errorf("no SuccessfulRescale %q among %q", message, got)
		})
	}

	// 200m of 100m is 200%: 4 times the target, capped at the max.
	converged(4, 200)
	rescaled("New size: 4; reason: cpu resource utilization (percentage of request) above target")
	up := time.Since(start)

	// The pods' usage drops to 10%: a rollout (the template changed) and,
	// with no scale-down window, back to the minimum.
	patch := func(patch string, do func(types.PatchType, []byte) error) {
		t.Helper()
		if err := do(types.StrategicMergePatchType, []byte(patch)); err != nil {
			t.Fatal(err)
		}
	}
	patch(`{"spec":{"behavior":{"scaleDown":{"stabilizationWindowSeconds":0}}}}`, func(pt types.PatchType, b []byte) error {
		_, err := cs.AutoscalingV2().HorizontalPodAutoscalers("default").Patch(ctx, "shop", pt, b, metav1.PatchOptions{})
		return err
	})
	patch(fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:"10m"}}}}}`, sim.AnnotationCPUUsage), func(pt types.PatchType, b []byte) error {
		_, err := cs.AppsV1().Deployments("default").Patch(ctx, "shop", pt, b, metav1.PatchOptions{})
		return err
	})
	converged(1, 10)
	rescaled("New size: 1; reason: All metrics below target")
	t.Logf("scaled up to 4 in %v (cluster start included), back down to 1 in %v more", up.Round(time.Millisecond), (time.Since(start) - up).Round(time.Millisecond))
}
