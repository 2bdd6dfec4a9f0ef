package apiserver

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

func testPod(name string, phase corev1.PodPhase, ready bool, lbls map[string]string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: lbls},
		Status: corev1.PodStatus{Phase: phase}}
	if ready {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	return p
}

type pdbStatus struct{ allowed, healthy, desired int32 }

func testPDB(name string, sel *metav1.LabelSelector, st pdbStatus) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Generation: 1},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: sel},
		Status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptionsAllowed: st.allowed,
			CurrentHealthy: st.healthy, DesiredHealthy: st.desired},
	}
}

func TestEvictionAllowed(t *testing.T) {
	app := map[string]string{"app": "a"}
	selA := &metav1.LabelSelector{MatchLabels: app}
	now := time.Unix(1700000000, 0)
	stale := testPDB("stale", selA, pdbStatus{allowed: 1})
	stale.Generation = 2
	always := testPDB("always", selA, pdbStatus{allowed: 0, healthy: 0, desired: 2})
	always.Spec.UnhealthyPodEvictionPolicy = ptr.To(policyv1.AlwaysAllow)
	deleting := testPod("p", corev1.PodRunning, true, app)
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	for _, tc := range []struct {
		name      string
		pod       *corev1.Pod
		pdbs      []*policyv1.PodDisruptionBudget
		code      int32 // 0: allowed
		cause     string
		charged   string // the budget written, "" for none
		unchecked bool   // allowed without consulting a budget
	}{
		{name: "no budget", pod: testPod("p", corev1.PodRunning, true, app), unchecked: true},
		{name: "budget of other pods", pod: testPod("p", corev1.PodRunning, true, app),
			pdbs: []*policyv1.PodDisruptionBudget{testPDB("b", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "b"}}, pdbStatus{})}, unchecked: true},
		{name: "null selector selects nothing", pod: testPod("p", corev1.PodRunning, true, app),
			pdbs: []*policyv1.PodDisruptionBudget{testPDB("b", nil, pdbStatus{})}, unchecked: true},
		{name: "empty selector selects all", pod: testPod("p", corev1.PodRunning, true, app),
			pdbs: []*policyv1.PodDisruptionBudget{testPDB("all", &metav1.LabelSelector{}, pdbStatus{healthy: 1, desired: 1})},
			code: http.StatusTooManyRequests, cause: "The disruption budget all needs 1 healthy pods and has 1 currently"},
		{name: "no disruption allowed", pod: testPod("p", corev1.PodRunning, true, app),
			pdbs: []*policyv1.PodDisruptionBudget{testPDB("a", selA, pdbStatus{allowed: 0, healthy: 2, desired: 2})},
			code: http.StatusTooManyRequests, cause: "The disruption budget a needs 2 healthy pods and has 2 currently"},
		{name: "one disruption allowed", pod: testPod("p", corev1.PodRunning, true, app),
			pdbs: []*policyv1.PodDisruptionBudget{testPDB("a", selA, pdbStatus{allowed: 1, healthy: 3, desired: 2})}, charged: "a"},
		{name: "two budgets", pod: testPod("p", corev1.PodRunning, true, app),
			pdbs: []*policyv1.PodDisruptionBudget{testPDB("a", selA, pdbStatus{allowed: 1}), testPDB("a2", selA, pdbStatus{allowed: 1})},
			code: http.StatusInternalServerError},
		{name: "budget not yet observed", pod: testPod("p", corev1.PodRunning, true, app),
			pdbs: []*policyv1.PodDisruptionBudget{stale}, code: http.StatusTooManyRequests, cause: "The disruption budget stale is still being processed by the server."},
		{name: "pending pod", pod: testPod("p", corev1.PodPending, false, app),
			pdbs: []*policyv1.PodDisruptionBudget{testPDB("a", selA, pdbStatus{})}, unchecked: true},
		{name: "succeeded pod", pod: testPod("p", corev1.PodSucceeded, false, app),
			pdbs: []*policyv1.PodDisruptionBudget{testPDB("a", selA, pdbStatus{})}, unchecked: true},
		{name: "failed pod", pod: testPod("p", corev1.PodFailed, false, app),
			pdbs: []*policyv1.PodDisruptionBudget{testPDB("a", selA, pdbStatus{})}, unchecked: true},
		{name: "pod being deleted", pod: deleting,
			pdbs: []*policyv1.PodDisruptionBudget{testPDB("a", selA, pdbStatus{})}, unchecked: true},
		{name: "unready pod, healthy application", pod: testPod("p", corev1.PodRunning, false, app),
			pdbs: []*policyv1.PodDisruptionBudget{testPDB("a", selA, pdbStatus{allowed: 0, healthy: 2, desired: 2})}},
		{name: "unready pod, unhealthy application", pod: testPod("p", corev1.PodRunning, false, app),
			pdbs: []*policyv1.PodDisruptionBudget{testPDB("a", selA, pdbStatus{allowed: 0, healthy: 1, desired: 2})},
			code: http.StatusTooManyRequests, cause: "The disruption budget a needs 2 healthy pods and has 1 currently"},
		{name: "unready pod, AlwaysAllow", pod: testPod("p", corev1.PodRunning, false, app),
			pdbs: []*policyv1.PodDisruptionBudget{always}},
		{name: "ready pod, AlwaysAllow still charged", pod: testPod("p", corev1.PodRunning, true, app),
			pdbs: []*policyv1.PodDisruptionBudget{always}, code: http.StatusTooManyRequests,
			cause: "The disruption budget always needs 2 healthy pods and has 0 currently"},
		{name: "negative budget", pod: testPod("p", corev1.PodRunning, true, app),
			pdbs: []*policyv1.PodDisruptionBudget{testPDB("a", selA, pdbStatus{allowed: -1})}, code: http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := make([]*policyv1.PodDisruptionBudget, len(tc.pdbs))
			for i, p := range tc.pdbs {
				before[i] = p.DeepCopy()
			}
			v, err := evictionAllowed(tc.pod, tc.pdbs, now)
			for i := range tc.pdbs {
				if !equalIgnoringRV(before[i], tc.pdbs[i]) {
					t.Fatalf("evictionAllowed modified budget %s", tc.pdbs[i].Name)
				}
			}
			if tc.code != 0 {
				st, ok := err.(apierrors.APIStatus)
				if !ok || st.Status().Code != tc.code {
					t.Fatalf("want a %d, got %v", tc.code, err)
				}
				if tc.code == http.StatusTooManyRequests {
					s := st.Status()
					if s.Message != evictionRefused || s.Details == nil || len(s.Details.Causes) != 1 ||
						s.Details.Causes[0].Type != policyv1.DisruptionBudgetCause || s.Details.Causes[0].Message != tc.cause {
						t.Fatalf("429 status %+v", s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("want allowed, got %v", err)
			}
			if v.checked == tc.unchecked {
				t.Fatalf("checked = %v, want %v", v.checked, !tc.unchecked)
			}
			switch {
			case tc.charged == "" && v.budget != nil:
				t.Fatalf("budget %s charged, want none", v.budget.Name)
			case tc.charged != "":
				if v.budget == nil || v.budget.Name != tc.charged {
					t.Fatalf("charged %v, want %s", v.budget, tc.charged)
				}
				var was *policyv1.PodDisruptionBudget
				for _, p := range tc.pdbs {
					if p.Name == tc.charged {
						was = p
					}
				}
				if v.budget.Status.DisruptionsAllowed != was.Status.DisruptionsAllowed-1 {
					t.Fatalf("disruptionsAllowed %d, was %d", v.budget.Status.DisruptionsAllowed, was.Status.DisruptionsAllowed)
				}
				if at, ok := v.budget.Status.DisruptedPods[tc.pod.Name]; !ok || !at.Time.Equal(now) {
					t.Fatalf("disruptedPods %v", v.budget.Status.DisruptedPods)
				}
			}
		})
	}
}

// createRunningPod creates a pod bound to node and reports it Running
// (Ready as asked), as a node agent would.
func createRunningPod(t *testing.T, cs kubernetes.Interface, name, node string, ready bool, lbls map[string]string) {
	t.Helper()
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	p, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := testPod(name, corev1.PodRunning, ready, lbls)
	p.Status = want.Status
	if _, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// setBudget creates or updates a budget and writes its status as the
// disruption controller would.
func setBudget(t *testing.T, cs kubernetes.Interface, name string, sel map[string]string, st pdbStatus) {
	t.Helper()
	ctx := context.Background()
	pdbs := cs.PolicyV1().PodDisruptionBudgets("default")
	p, err := pdbs.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		p, err = pdbs.Create(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)),
				Selector: &metav1.LabelSelector{MatchLabels: sel}}}, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
	p.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: p.Generation, DisruptionsAllowed: st.allowed,
		CurrentHealthy: st.healthy, DesiredHealthy: st.desired, ExpectedPods: st.healthy}
	if _, err := pdbs.UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// The eviction subresource through client-go: 429 when the budget allows
// no disruption, eviction and a charged budget when it allows one, 500
// for a pod under two budgets, pending pods evicted freely.
func TestEvictionHonoursBudgets(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		cs := ts.client
		pods := cs.CoreV1().Pods("default")
		evict := func(name string) error {
			return pods.EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
				DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}})
		}
		a := map[string]string{"app": "a"}
		createRunningPod(t, cs, "a1", "n1", true, a)
		createRunningPod(t, cs, "a2", "n1", true, a)
		setBudget(t, cs, "pdb-a", a, pdbStatus{allowed: 0, healthy: 2, desired: 2})

		err := evict("a1")
		if !apierrors.IsTooManyRequests(err) {
			t.Fatalf("evict under an exhausted budget: want 429, got %v", err)
		}
		st := err.(apierrors.APIStatus).Status()
		if st.Message != "Cannot evict pod as it would violate the pod's disruption budget." ||
			st.Details == nil || len(st.Details.Causes) == 0 || st.Details.Causes[0].Type != policyv1.DisruptionBudgetCause {
			t.Fatalf("429 status: %+v", st)
		}
		if _, err := pods.Get(ctx, "a1", metav1.GetOptions{}); err != nil {
			t.Fatalf("refused eviction deleted the pod: %v", err)
		}

		setBudget(t, cs, "pdb-a", a, pdbStatus{allowed: 1, healthy: 2, desired: 1})
		if err := evict("a1"); err != nil {
			t.Fatalf("evict with one disruption allowed: %v", err)
		}
		if _, err := pods.Get(ctx, "a1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("evicted pod: want NotFound, got %v", err)
		}
		pdb, err := cs.PolicyV1().PodDisruptionBudgets("default").Get(ctx, "pdb-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if pdb.Status.DisruptionsAllowed != 0 {
			t.Fatalf("disruptionsAllowed after eviction = %d, want 0", pdb.Status.DisruptionsAllowed)
		}
		if _, ok := pdb.Status.DisruptedPods["a1"]; !ok {
			t.Fatalf("disruptedPods %v: want a1", pdb.Status.DisruptedPods)
		}
		if err := evict("a2"); !apierrors.IsTooManyRequests(err) {
			t.Fatalf("second eviction: want 429, got %v", err)
		}

		// A pending pod goes whatever its budget says.
		if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a3", Labels: a},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := evict("a3"); err != nil {
			t.Fatalf("evict a pending pod: %v", err)
		}

		// Two budgets over one pod: 500.
		b := map[string]string{"app": "b"}
		createRunningPod(t, cs, "b1", "n1", true, b)
		setBudget(t, cs, "pdb-b1", b, pdbStatus{allowed: 1, healthy: 1})
		setBudget(t, cs, "pdb-b2", b, pdbStatus{allowed: 1, healthy: 1})
		err = evict("b1")
		if st, ok := err.(apierrors.APIStatus); !ok || st.Status().Code != http.StatusInternalServerError ||
			!strings.Contains(st.Status().Message, "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.") {
			t.Fatalf("two budgets: want 500, got %v", err)
		}

		// A dry run changes nothing.
		setBudget(t, cs, "pdb-a", a, pdbStatus{allowed: 1, healthy: 1})
		if err := pods.EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "a2", Namespace: "default"},
			DeleteOptions: &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}}); err != nil {
			t.Fatalf("dry-run eviction: %v", err)
		}
		if _, err := pods.Get(ctx, "a2", metav1.GetOptions{}); err != nil {
			t.Fatalf("dry-run eviction deleted the pod: %v", err)
		}
		if pdb, _ := cs.PolicyV1().PodDisruptionBudgets("default").Get(ctx, "pdb-a", metav1.GetOptions{}); pdb.Status.DisruptionsAllowed != 1 {
			t.Fatalf("dry-run eviction charged the budget: %d", pdb.Status.DisruptionsAllowed)
		}
	})
}

// kubectl drain evicts through the subresource: it stops at a budget
// that allows no more disruptions and finishes once it allows them.
func TestKubectlDrainHonoursBudget(t *testing.T) {
	ts := newTestServer(t, startMember(t))
	k := newKubectl(t, ts)
	ctx := context.Background()
	cs := ts.client
	if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a := map[string]string{"app": "a"}
	createRunningPod(t, cs, "a1", "n1", true, a)
	createRunningPod(t, cs, "a2", "n1", true, a)
	setBudget(t, cs, "pdb-a", a, pdbStatus{allowed: 1, healthy: 2, desired: 1})

	out := k.run(true, "drain", "n1", "--force", "--grace-period=0", "--timeout=2s")
	if !strings.Contains(out, "Cannot evict pod as it would violate the pod's disruption budget.") {
		t.Fatalf("drain output does not name the budget:\n%s", out)
	}
	left, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(left.Items) != 1 {
		t.Fatalf("after a drain blocked by the budget: %d pods left, want 1", len(left.Items))
	}
	setBudget(t, cs, "pdb-a", a, pdbStatus{allowed: 1, healthy: 1})
	k.run(false, "drain", "n1", "--force", "--grace-period=0", "--timeout=30s")
	left, err = cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(left.Items) != 0 {
		t.Fatalf("after the drain: %d pods left", len(left.Items))
	}
	if n, _ := cs.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{}); !n.Spec.Unschedulable {
		t.Fatal("drain did not cordon the node")
	}
}

// A claim without a class gets the default StorageClass (the newest of
// the defaults); "" asks for no class and keeps it.
func TestDefaultStorageClass(t *testing.T) {
	ts := newTestServer(t, startMember(t))
	ctx := context.Background()
	cs := ts.client
	claim := func(name string, class *string) *corev1.PersistentVolumeClaim {
		c, err := cs.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: class, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse("1Gi")}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := claim("before", nil); c.Spec.StorageClassName != nil {
		t.Fatalf("no default class yet, got %q", *c.Spec.StorageClassName)
	}
	for _, name := range []string{"slow", "local-path", "fast"} {
		sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "example.com/" + name}
		if name != "slow" {
			sc.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
		}
		if _, err := cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // creation timestamps have second precision
	}
	if c := claim("defaulted", nil); c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != "fast" {
		t.Fatalf("defaulted class %v, want fast (the newest default)", c.Spec.StorageClassName)
	}
	if c := claim("none", ptr.To("")); c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != "" {
		t.Fatalf(`class "" changed to %v`, c.Spec.StorageClassName)
	}
	if c := claim("slow", ptr.To("slow")); *c.Spec.StorageClassName != "slow" {
		t.Fatalf("explicit class changed to %q", *c.Spec.StorageClassName)
	}
}

func TestDefaultStorageClassChoice(t *testing.T) {
	at := func(sec int64) metav1.Time { return metav1.NewTime(time.Unix(sec, 0)) }
	sc := func(name string, created int64, ann string) *storagev1.StorageClass {
		c := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: at(created)}}
		if ann != "" {
			c.Annotations = map[string]string{ann: "true"}
		}
		return c
	}
	for _, tc := range []struct {
		classes []*storagev1.StorageClass
		want    string
	}{
		{nil, ""},
		{[]*storagev1.StorageClass{sc("a", 1, "")}, ""},
		{[]*storagev1.StorageClass{sc("a", 1, defaultClassAnnotation), sc("b", 2, "")}, "a"},
		{[]*storagev1.StorageClass{sc("a", 1, defaultClassAnnotation), sc("b", 2, betaDefaultClassAnnotation)}, "b"},
		{[]*storagev1.StorageClass{sc("b", 1, defaultClassAnnotation), sc("a", 1, defaultClassAnnotation)}, "a"},
	} {
		if got := defaultStorageClass(tc.classes); got != tc.want {
			t.Errorf("defaultStorageClass = %q, want %q", got, tc.want)
		}
	}
}
