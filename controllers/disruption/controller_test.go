package disruption_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/disruption"
	"github.com/kelson-dev/kelson/internal/testcluster"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

const timeout = 60 * time.Second

func start(t *testing.T) *testcluster.Cluster {
	t.Helper()
	c := testcluster.Start(t)
	cctx := controllers.NewContext(c.Client, "test", testcluster.Logger())
	ctrl := disruption.New(cctx)
	ctx, cancel := context.WithCancel(context.Background())
	cctx.Start(ctx)
	done := make(chan struct{})
	go func() { ctrl.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; cctx.Close() })
	return c
}

// runningPod creates a pod owned by owner (if set), Running and Ready as a
// node agent would report it.
func runningPod(t *testing.T, cs kubernetes.Interface, name string, lbls map[string]string, owner *appsv1.ReplicaSet) {
	t.Helper()
	ctx := context.Background()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}
	}
	p, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	if _, err := cs.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitStatus(t *testing.T, cs kubernetes.Interface, name string, cond func(st policyv1.PodDisruptionBudgetStatus) error) {
	t.Helper()
	testcluster.Eventually(t, timeout, func() error {
		pdb, err := cs.PolicyV1().PodDisruptionBudgets("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pdb.Status.ObservedGeneration != pdb.Generation {
			return fmt.Errorf("observedGeneration %d, generation %d", pdb.Status.ObservedGeneration, pdb.Generation)
		}
		return cond(pdb.Status)
	})
}

func counts(expected, desired, healthy, allowed int32) func(st policyv1.PodDisruptionBudgetStatus) error {
	return func(st policyv1.PodDisruptionBudgetStatus) error {
		if st.ExpectedPods != expected || st.DesiredHealthy != desired || st.CurrentHealthy != healthy || st.DisruptionsAllowed != allowed {
			return fmt.Errorf("status expected/desired/healthy/allowed = %d/%d/%d/%d, want %d/%d/%d/%d",
				st.ExpectedPods, st.DesiredHealthy, st.CurrentHealthy, st.DisruptionsAllowed, expected, desired, healthy, allowed)
		}
		return nil
	}
}

func waitEvent(t *testing.T, cs kubernetes.Interface, name, reason string) {
	t.Helper()
	testcluster.Eventually(t, timeout, func() error {
		evs, err := cs.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String()})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == reason {
				return nil
			}
		}
		return fmt.Errorf("no %s event on %s among %d", reason, name, len(evs.Items))
	})
}

// A budget over a ReplicaSet's pods: its status follows the pods, the
// eviction subresource spends it, and the controller recounts.
func TestBudgetFollowsPodsAndEvictions(t *testing.T) {
	c := start(t)
	cs := c.Client
	ctx := context.Background()
	lbls := map[string]string{"app": "web"}
	rs, err := cs.AppsV1().ReplicaSets("default").Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(3)), Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		runningPod(t, cs, fmt.Sprintf("web-%d", i), lbls, rs)
	}
	if _, err := cs.PolicyV1().PodDisruptionBudgets("default").Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: lbls}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, cs, "web", counts(3, 2, 3, 1))
	waitStatus(t, cs, "web", func(st policyv1.PodDisruptionBudgetStatus) error {
		if len(st.Conditions) != 1 || st.Conditions[0].Reason != policyv1.SufficientPodsReason || st.Conditions[0].Status != metav1.ConditionTrue {
			return fmt.Errorf("conditions %+v", st.Conditions)
		}
		return nil
	})

	evict := func(name string) error {
		return cs.CoreV1().Pods("default").EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}})
	}
	if err := evict("web-0"); err != nil {
		t.Fatalf("first eviction: %v", err)
	}
	waitStatus(t, cs, "web", counts(3, 2, 2, 0))
	if err := evict("web-1"); !apierrors.IsTooManyRequests(err) {
		t.Fatalf("second eviction: want 429, got %v", err)
	}
	waitStatus(t, cs, "web", func(st policyv1.PodDisruptionBudgetStatus) error {
		if len(st.DisruptedPods) != 0 {
			return fmt.Errorf("disruptedPods %v: the evicted pod is gone", st.DisruptedPods)
		}
		if st.Conditions[0].Reason != policyv1.InsufficientPodsReason {
			return fmt.Errorf("conditions %+v", st.Conditions)
		}
		return nil
	})

	// The replacement becomes Ready: one disruption allowed again.
	runningPod(t, cs, "web-3", lbls, rs)
	waitStatus(t, cs, "web", counts(3, 2, 3, 1))

	// Scaling the ReplicaSet changes what the budget expects.
	rs, _ = cs.AppsV1().ReplicaSets("default").Get(ctx, "web", metav1.GetOptions{})
	rs.Spec.Replicas = ptr.To(int32(5))
	if _, err := cs.AppsV1().ReplicaSets("default").Update(ctx, rs, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, cs, "web", counts(5, 4, 3, 0))
}

// A percentage budget over pods whose controller is missing fails safe;
// one over no pods says so; one over pods without a controller too.
func TestBudgetEvents(t *testing.T) {
	c := start(t)
	cs := c.Client
	ctx := context.Background()
	orphan := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "gone", UID: "00000000-0000-0000-0000-000000000001"}}
	runningPod(t, cs, "lost-0", map[string]string{"app": "lost"}, orphan)
	runningPod(t, cs, "bare-0", map[string]string{"app": "bare"}, nil)
	for name, spec := range map[string]policyv1.PodDisruptionBudgetSpec{
		"lost":    {MinAvailable: ptr.To(intstr.FromString("50%")), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "lost"}}},
		"nothing": {MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "none"}}},
		"bare":    {MaxUnavailable: ptr.To(intstr.FromInt32(0)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "bare"}}},
	} {
		if _, err := cs.PolicyV1().PodDisruptionBudgets("default").Create(ctx, &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitEvent(t, cs, "lost", "CalculateExpectedPodCountFailed")
	testcluster.Eventually(t, timeout, func() error {
		pdb, err := cs.PolicyV1().PodDisruptionBudgets("default").Get(ctx, "lost", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if c := pdb.Status.Conditions; len(c) != 1 || c[0].Reason != policyv1.SyncFailedReason || pdb.Status.DisruptionsAllowed != 0 {
			return fmt.Errorf("status %+v", pdb.Status)
		}
		return nil
	})
	waitEvent(t, cs, "nothing", "NoPods")
	waitStatus(t, cs, "nothing", counts(0, 1, 0, 0))
	waitEvent(t, cs, "bare", "UnmanagedPods")
	waitStatus(t, cs, "bare", counts(0, 0, 1, 0))
}

const poolCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: pools.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: pools, singular: pool, kind: Pool}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`

// A percentage budget over pods of a custom controller reads its size
// through the scale subresource.
func TestBudgetOfCustomController(t *testing.T) {
	c := start(t)
	cs := c.Client
	ctx := context.Background()
	ext, err := apiextclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict([]byte(poolCRD), &crd); err != nil {
		t.Fatal(err)
	}
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, &crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "pools"}
	var pool *unstructured.Unstructured
	testcluster.Eventually(t, timeout, func() error {
		pool, err = dyn.Resource(gvr).Namespace("default").Create(ctx, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "example.com/v1", "kind": "Pool", "metadata": map[string]any{"name": "p"},
			"spec": map[string]any{"replicas": int64(4)}}}, metav1.CreateOptions{})
		return err
	})
	lbls := map[string]string{"app": "pool"}
	for i := range 2 {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pool-%d", i), Labels: lbls,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: "Pool", Name: "p", UID: pool.GetUID(), Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.PolicyV1().PodDisruptionBudgets("default").Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "pool"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromString("50%")),
			Selector: &metav1.LabelSelector{MatchLabels: lbls}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, cs, "pool", counts(4, 2, 0, 0))
}
