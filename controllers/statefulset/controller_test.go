package statefulset

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/internal/testcluster"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

const converge = 60 * time.Second

type env struct {
	t      *testing.T
	ctx    context.Context
	c      *testcluster.Cluster
	client kubernetes.Interface
	ns     string
	kubel  *fakeKubelet
}

// start runs an API server, the StatefulSet controller and the fake
// kubelet (pods become Ready readyDelay after they appear).
func start(t *testing.T, readyDelay time.Duration) *env {
	t.Helper()
	c := testcluster.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	cctx := controllers.NewContext(c.Client, "test", testcluster.Logger())
	ctrl := New(cctx)
	cctx.Start(ctx)
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		cctx.Close()
	})
	e := &env{t: t, ctx: ctx, c: c, client: c.Client, ns: "default"}
	e.kubel = startFakeKubelet(ctx, t, c.Client, e.ns, readyDelay)
	return e
}

func statefulSet(name string, replicas int32) *appsv1.StatefulSet {
	lbl := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: name,
			Selector:    &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "www"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}

func (e *env) create(set *appsv1.StatefulSet) {
	e.t.Helper()
	if _, err := e.client.AppsV1().StatefulSets(e.ns).Create(e.ctx, set, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// update changes the set as a user would, retrying on conflicts with the
// controller's status writes.
func (e *env) update(name string, mutate func(*appsv1.StatefulSet)) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		set, err := e.client.AppsV1().StatefulSets(e.ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mutate(set)
		_, err = e.client.AppsV1().StatefulSets(e.ns).Update(e.ctx, set, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) get(name string) *appsv1.StatefulSet {
	e.t.Helper()
	set, err := e.client.AppsV1().StatefulSets(e.ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return set
}

// pods is the live pods of app by name.
func (e *env) pods(app string) (map[string]*corev1.Pod, error) {
	list, err := e.client.CoreV1().Pods(e.ns).List(e.ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return nil, err
	}
	out := map[string]*corev1.Pod{}
	for i := range list.Items {
		if p := &list.Items[i]; !terminating(p) {
			out[p.Name] = p
		}
	}
	return out, nil
}

// waitPods waits until exactly names run, Running and Ready, and returns
// them.
func (e *env) waitPods(app string, names ...string) map[string]*corev1.Pod {
	e.t.Helper()
	var pods map[string]*corev1.Pod
	testcluster.Eventually(e.t, converge, func() error {
		var err error
		if pods, err = e.pods(app); err != nil {
			return err
		}
		var got []string
		for n, p := range pods {
			got = append(got, n)
			if ready, _, _ := availability(p, 0, time.Now()); !ready || p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("%s not Running and Ready", n)
			}
		}
		sort.Strings(got)
		sort.Strings(names)
		if !slices.Equal(got, names) {
			return fmt.Errorf("pods %v, want %v", got, names)
		}
		return nil
	})
	return pods
}

func (e *env) waitStatus(name string, want func(appsv1.StatefulSetStatus) bool) appsv1.StatefulSetStatus {
	e.t.Helper()
	var st appsv1.StatefulSetStatus
	testcluster.Eventually(e.t, converge, func() error {
		set := e.get(name)
		st = set.Status
		if set.Status.ObservedGeneration != set.Generation || !want(set.Status) {
			return fmt.Errorf("status %+v (generation %d)", set.Status, set.Generation)
		}
		return nil
	})
	return st
}

func (e *env) events(name string) []string {
	list, err := e.client.CoreV1().Events(e.ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range list.Items {
		if ev.InvolvedObject.Name == name && ev.Source.Component == Component {
			out = append(out, ev.Reason+": "+ev.Message)
		}
	}
	return out
}

func (e *env) waitEvent(name, want string) {
	e.t.Helper()
	testcluster.Eventually(e.t, converge, func() error {
		evs := e.events(name)
		if slices.Contains(evs, want) {
			return nil
		}
		return fmt.Errorf("no event %q among %v", want, evs)
	})
}

func (e *env) claims() map[string]*corev1.PersistentVolumeClaim {
	e.t.Helper()
	list, err := e.client.CoreV1().PersistentVolumeClaims(e.ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]*corev1.PersistentVolumeClaim{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

// waitLog collects the fake kubelet's log until it holds n operations on
// set's pods (the fake's watch may trail the API reads of the test).
func (e *env) waitLog(set string, n int) []logEntry {
	e.t.Helper()
	var log []logEntry
	testcluster.Eventually(e.t, converge, func() error {
		log = append(log, e.kubel.entries()...)
		if got := ops(set, log); len(got) < n {
			return fmt.Errorf("operations so far %v, want %d", got, n)
		}
		return nil
	})
	return log
}

func names(set string, ords ...int) []string {
	var out []string
	for _, o := range ords {
		out = append(out, PodName(set, o))
	}
	return out
}

// rolloutStatus runs `kubectl rollout status` against the test API, if
// kubectl is installed, and returns its output.
func rolloutStatus(t *testing.T, e *env, what string) string {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl not on PATH: skipping rollout status")
		return ""
	}
	ctx, cancel := context.WithTimeout(e.ctx, converge)
	defer cancel()
	out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", e.c.Kubeconfig, "-n", e.ns,
		"rollout", "status", what, "--timeout=50s").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl rollout status %s: %v\n%s", what, err, out)
	}
	return string(out)
}

// TestStatefulSetOrderedReady: ordered creation, claims, scale up and
// down in order, a failed pod recreated, a partitioned rolling update.
func TestStatefulSetOrderedReady(t *testing.T) {
	e := start(t, 200*time.Millisecond)
	e.create(statefulSet("web", 3))
	pods := e.waitPods("web", names("web", 0, 1, 2)...)
	log := e.waitLog("web", 3)
	checkOrderedCreates(t, "web", 0, log)
	if got := ops("web", log); !slices.Equal(got, []string{"+web-0", "+web-1", "+web-2"}) {
		t.Errorf("operations %v", got)
	}
	st := e.waitStatus("web", func(s appsv1.StatefulSetStatus) bool { return s.ReadyReplicas == 3 })
	if st.Replicas != 3 || st.AvailableReplicas != 3 || st.CurrentReplicas != 3 || st.UpdatedReplicas != 3 ||
		st.CurrentRevision == "" || st.CurrentRevision != st.UpdateRevision {
		t.Fatalf("status %+v", st)
	}
	rev := st.UpdateRevision
	for i := 0; i < 3; i++ {
		p := pods[PodName("web", i)]
		if p.Spec.Hostname != p.Name || p.Spec.Subdomain != "web" || p.Labels[LabelPodName] != p.Name ||
			p.Labels[LabelPodIndex] != fmt.Sprint(i) || p.Labels[LabelRevision] != rev {
			t.Errorf("pod %s identity: hostname %q subdomain %q labels %v", p.Name, p.Spec.Hostname, p.Spec.Subdomain, p.Labels)
		}
		claim := ClaimName("www", "web", i)
		if len(p.Spec.Volumes) == 0 || p.Spec.Volumes[0].PersistentVolumeClaim == nil || p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != claim {
			t.Errorf("pod %s volumes %+v", p.Name, p.Spec.Volumes)
		}
	}
	claims := e.claims()
	for i := 0; i < 3; i++ {
		c := claims[ClaimName("www", "web", i)]
		if c == nil || c.Labels["app"] != "web" {
			t.Errorf("claim www-web-%d: %+v", i, c)
		}
	}
	e.waitEvent("web", "SuccessfulCreate: create Pod web-0 in StatefulSet web successful")
	e.waitEvent("web", "SuccessfulCreate: create Claim www-web-0 Pod web-0 in StatefulSet web success")
	// kubectl calls a rollout with the (defaulted) partition 0
	// "partitioned" too.
	if out := rolloutStatus(t, e, "sts/web"); out != "" && !strings.Contains(out, "partitioned roll out complete: 3 new pods have been updated") {
		t.Errorf("rollout status: %s", out)
	}

	// Scale up: 3 then 4, each after its predecessor is Ready.
	e.update("web", func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr(int32(5)) })
	e.waitPods("web", names("web", 0, 1, 2, 3, 4)...)
	log = e.waitLog("web", 2)
	checkOrderedCreates(t, "web", 0, log)
	if got := ops("web", log); !slices.Equal(got, []string{"+web-3", "+web-4"}) {
		t.Errorf("scale up operations %v", got)
	}

	// Scale down to 2: 4, 3, 2, each once the one above is gone; the
	// claims stay (Retain).
	e.update("web", func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr(int32(2)) })
	e.waitPods("web", names("web", 0, 1)...)
	log = e.waitLog("web", 3)
	if got := ops("web", log); !slices.Equal(got, []string{"-web-4", "-web-3", "-web-2"}) {
		t.Errorf("scale down operations %v", got)
	}
	for _, en := range log {
		k, _ := Ordinal("web", en.pod)
		for name := range en.present {
			if j, _ := Ordinal("web", name); j > k {
				t.Errorf("%s deleted while %s was present", en.pod, name)
			}
		}
	}
	if n := len(e.claims()); n != 5 {
		t.Errorf("%d claims after scale down, want 5 (Retain)", n)
	}
	e.waitEvent("web", "SuccessfulDelete: delete Pod web-4 in StatefulSet web successful")
	e.waitStatus("web", func(s appsv1.StatefulSetStatus) bool { return s.Replicas == 2 && s.ReadyReplicas == 2 })

	// A failed pod is deleted and recreated with the same name.
	failed := e.waitPods("web", names("web", 0, 1)...)["web-1"]
	failed.Status.Phase = corev1.PodFailed
	if _, err := e.client.CoreV1().Pods(e.ns).UpdateStatus(e.ctx, failed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitEvent("web", "RecreatingFailedPod: StatefulSet default/web is recreating failed Pod web-1")
	testcluster.Eventually(t, converge, func() error {
		p, err := e.client.CoreV1().Pods(e.ns).Get(e.ctx, "web-1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.UID == failed.UID {
			return fmt.Errorf("web-1 not recreated yet")
		}
		return nil
	})
	e.waitPods("web", names("web", 0, 1)...)

	// Rolling update with partition 1 of 3: only web-2 then web-1, highest
	// first, each after the one above is Ready; web-0 stays.
	e.update("web", func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr(int32(3)) })
	before := e.waitPods("web", names("web", 0, 1, 2)...)
	e.waitLog("web", 3) // -web-1 +web-1 (the failed one), +web-2
	e.update("web", func(s *appsv1.StatefulSet) {
		s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr(int32(1))}
		s.Spec.Template.Spec.Containers[0].Image = "img:2"
	})
	st = e.waitStatus("web", func(s appsv1.StatefulSetStatus) bool {
		return s.UpdateRevision != rev && s.UpdatedReplicas == 2 && s.ReadyReplicas == 3
	})
	if st.CurrentRevision != rev || st.CurrentReplicas != 1 {
		t.Errorf("partitioned status %+v", st)
	}
	after := e.waitPods("web", names("web", 0, 1, 2)...)
	if after["web-0"].UID != before["web-0"].UID || after["web-0"].Labels[LabelRevision] != rev {
		t.Error("web-0, below the partition, was replaced")
	}
	for _, n := range []string{"web-1", "web-2"} {
		if after[n].Labels[LabelRevision] != st.UpdateRevision || after[n].Spec.Containers[0].Image != "img:2" {
			t.Errorf("%s not updated", n)
		}
	}
	log = e.waitLog("web", 4)
	if got := ops("web", log); !slices.Equal(got, []string{"-web-2", "+web-2", "-web-1", "+web-1"}) {
		t.Errorf("rolling update operations %v", got)
	}
	for _, en := range log {
		if en.op == "-" && en.pod == "web-1" && !en.present["web-2"] {
			t.Errorf("web-1 deleted before the new web-2 was Ready: %v", en.present)
		}
	}
	if out := rolloutStatus(t, e, "sts/web"); out != "" && !strings.Contains(out, "partitioned roll out complete: 2 new pods have been updated") {
		t.Errorf("rollout status: %s", out)
	}

	// Partition 0: web-0 too; the update revision becomes current.
	e.update("web", func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr(int32(0)) })
	st = e.waitStatus("web", func(s appsv1.StatefulSetStatus) bool {
		return s.UpdatedReplicas == 3 && s.ReadyReplicas == 3 && s.CurrentRevision == s.UpdateRevision
	})
	if out := rolloutStatus(t, e, "sts/web"); out != "" && !strings.Contains(out, "partitioned roll out complete: 3 new pods have been updated") {
		t.Errorf("rollout status: %s", out)
	}
	revs, err := e.client.AppsV1().ControllerRevisions(e.ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs.Items) != 2 {
		t.Errorf("%d revisions, want 2", len(revs.Items))
	}

	// `kubectl rollout undo` puts img:1 back: its revision is reused as
	// the newest and every pod returns to it.
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		return
	}
	out, err := exec.CommandContext(e.ctx, kubectl, "--kubeconfig", e.c.Kubeconfig, "-n", e.ns, "rollout", "undo", "sts/web").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl rollout undo: %v\n%s", err, out)
	}
	st = e.waitStatus("web", func(s appsv1.StatefulSetStatus) bool {
		return s.UpdateRevision == rev && s.CurrentRevision == rev && s.UpdatedReplicas == 3 && s.ReadyReplicas == 3
	})
	for n, p := range e.waitPods("web", names("web", 0, 1, 2)...) {
		if p.Spec.Containers[0].Image != "img:1" {
			t.Errorf("%s runs %s after the undo", n, p.Spec.Containers[0].Image)
		}
	}
	cr, err := e.client.AppsV1().ControllerRevisions(e.ns).Get(e.ctx, rev, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cr.Revision != 3 {
		t.Errorf("revision %s is number %d after the undo, want 3", rev, cr.Revision)
	}
}

// TestStatefulSetParallel: Parallel creates and deletes without waiting;
// OnDelete; start ordinal; claims handed to pods scaled away
// (whenScaled Delete).
func TestStatefulSetParallel(t *testing.T) {
	e := start(t, 100*time.Millisecond)
	e.kubel.setHoldAll(true)
	set := statefulSet("db", 4)
	set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	set.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 3}
	set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
	}
	e.create(set)
	// All four exist while none is Ready.
	testcluster.Eventually(t, converge, func() error {
		pods, err := e.pods("db")
		if err != nil {
			return err
		}
		if len(pods) != 4 {
			return fmt.Errorf("%d pods", len(pods))
		}
		return nil
	})
	e.kubel.setHoldAll(false)
	e.waitPods("db", names("db", 3, 4, 5, 6)...)
	e.waitStatus("db", func(s appsv1.StatefulSetStatus) bool { return s.ReadyReplicas == 4 })

	// Scale to 1: the three go without waiting for each other, and their
	// claims are handed to them first.
	e.update("db", func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr(int32(1)) })
	e.waitPods("db", "db-3")
	claims := e.claims()
	for _, ord := range []int{4, 5, 6} {
		c := claims[ClaimName("www", "db", ord)]
		if c == nil {
			t.Fatalf("claim www-db-%d gone (no garbage collector runs here)", ord)
		}
		if len(c.OwnerReferences) != 1 || c.OwnerReferences[0].Kind != "Pod" || c.OwnerReferences[0].Name != PodName("db", ord) {
			t.Errorf("claim %s owners %+v, want its pod", c.Name, c.OwnerReferences)
		}
	}
	if c := claims["www-db-3"]; c == nil || len(c.OwnerReferences) != 0 {
		t.Errorf("claim www-db-3 of a kept pod: %+v", c)
	}

	// OnDelete: a new template replaces nothing until a pod is deleted.
	rev := e.waitStatus("db", func(s appsv1.StatefulSetStatus) bool { return s.Replicas == 1 }).UpdateRevision
	e.update("db", func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "img:2" })
	st := e.waitStatus("db", func(s appsv1.StatefulSetStatus) bool { return s.UpdateRevision != rev })
	if st.UpdatedReplicas != 0 || st.CurrentRevision != rev {
		t.Errorf("OnDelete status %+v", st)
	}
	time.Sleep(time.Second)
	old := e.waitPods("db", "db-3")["db-3"]
	if old.Labels[LabelRevision] != rev {
		t.Fatal("OnDelete replaced db-3")
	}
	if err := e.client.CoreV1().Pods(e.ns).Delete(e.ctx, "db-3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, converge, func() error {
		pods, err := e.pods("db")
		if err != nil {
			return err
		}
		if p := pods["db-3"]; p == nil || p.UID == old.UID || p.Labels[LabelRevision] != st.UpdateRevision {
			return fmt.Errorf("db-3 not recreated from the new template")
		}
		return nil
	})
	e.waitStatus("db", func(s appsv1.StatefulSetStatus) bool {
		return s.UpdatedReplicas == 1 && s.ReadyReplicas == 1 && s.CurrentRevision == s.UpdateRevision
	})
	// Scaled back up: the returning ordinals get their old claims back,
	// no longer owned by the pods that left.
	e.update("db", func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr(int32(2)) })
	e.waitPods("db", "db-3", "db-4")
	testcluster.Eventually(t, converge, func() error {
		if c := e.claims()["www-db-4"]; c == nil || len(c.OwnerReferences) != 0 {
			return fmt.Errorf("claim www-db-4: %+v", c)
		}
		return nil
	})
}

func ptr[T any](v T) *T { return &v }
