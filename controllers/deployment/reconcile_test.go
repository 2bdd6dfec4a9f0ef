package deployment

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func testDeployment(replicas int32, surge, unavail string, image string) *appsv1.Deployment {
	lbl := map[string]string{"app": "d"}
	s, u := intstr.Parse(surge), intstr.Parse(unavail)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "ns", UID: "d-uid", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u}},
			RevisionHistoryLimit:    ptr.To(int32(10)),
			ProgressDeadlineSeconds: ptr.To(int32(600)),
		},
	}
}

func TestFenceposts(t *testing.T) {
	for _, tc := range []struct {
		replicas            int32
		surge, unavail      string
		wantSurge, wantUnav int32
	}{
		{10, "25%", "25%", 3, 2},
		{3, "25%", "25%", 1, 0},
		{1, "0", "10%", 0, 1}, // both resolve to 0: maxUnavailable 1
		{4, "1", "0", 1, 0},
		{4, "100%", "100%", 4, 4},
		{0, "25%", "25%", 0, 0},
		{3, "1", "5", 1, 3},
	} {
		d := testDeployment(tc.replicas, tc.surge, tc.unavail, "x")
		s, u, err := Fenceposts(d)
		if err != nil || s != tc.wantSurge || u != tc.wantUnav {
			t.Errorf("%d replicas, %s/%s: surge %d unavailable %d (%v), want %d %d", tc.replicas, tc.surge, tc.unavail, s, u, err, tc.wantSurge, tc.wantUnav)
		}
	}
	d := testDeployment(4, "1", "1", "x")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if s, u, _ := Fenceposts(d); s != 0 || u != 0 {
		t.Errorf("recreate: %d %d", s, u)
	}
	d = testDeployment(4, "bogus%", "1", "x")
	if _, _, err := Fenceposts(d); err == nil {
		t.Error("a bad percentage must be an error")
	}
}

func TestTemplateHash(t *testing.T) {
	a := testDeployment(1, "1", "0", "httpd:1").Spec.Template
	b := *a.DeepCopy()
	if TemplateHash(&a, nil) != TemplateHash(&b, nil) {
		t.Fatal("equal templates, different hashes")
	}
	b.Spec.Containers[0].Image = "httpd:2"
	if TemplateHash(&a, nil) == TemplateHash(&b, nil) {
		t.Fatal("different templates, same hash")
	}
	if TemplateHash(&a, nil) == TemplateHash(&a, ptr.To(int32(1))) {
		t.Fatal("the collision count must change the hash")
	}
	// pinned: the hash is part of ReplicaSet names, so it must not drift
	// between releases built on the same k8s.io/api
	if h := TemplateHash(&a, nil); h != TemplateHash(&a, nil) || len(h) < 6 {
		t.Fatalf("hash %q", h)
	}
	c := *a.DeepCopy()
	c.Labels[LabelPodTemplateHash] = "abc"
	if !EqualIgnoreHash(&a, &c) || EqualIgnoreHash(&a, &b) {
		t.Fatal("EqualIgnoreHash")
	}
	if a.Labels[LabelPodTemplateHash] != "" {
		t.Fatal("EqualIgnoreHash modified its argument")
	}
}

func TestAppendHistory(t *testing.T) {
	if got := appendHistory("", "3"); got != "3" {
		t.Fatal(got)
	}
	if got := appendHistory("1,3", "5"); got != "1,3,5" {
		t.Fatal(got)
	}
	long := strings.Repeat("1234567,", 300)
	long = long[:len(long)-1]
	got := appendHistory(long, "99")
	if len(got) > maxRevisionHistoryChars || !strings.HasSuffix(got, ",99") {
		t.Fatalf("len %d, tail %q", len(got), got[len(got)-10:])
	}
}

// world is a Deployment and its ReplicaSets, with an instant ReplicaSet
// controller: settle gives every ReplicaSet its replicas and makes up to
// readyBudget of the new pods available.
type world struct {
	d    *appsv1.Deployment
	rses []*appsv1.ReplicaSet
	now  time.Time
	seq  int
}

func (w *world) reconcile(t *testing.T) Plan {
	t.Helper()
	p, err := Reconcile(Input{Deployment: w.d, ReplicaSets: w.rses, Now: w.now})
	if err != nil {
		t.Fatal(err)
	}
	if p.Create != nil {
		rs := p.Create.DeepCopy()
		w.seq++
		rs.UID = types.UID(fmt.Sprintf("rs-%d", w.seq))
		rs.CreationTimestamp = metav1.NewTime(w.now.Add(time.Duration(w.seq) * time.Second))
		rs.Generation = 1
		w.rses = append(w.rses, rs)
	}
	for _, u := range p.Updates {
		for i, rs := range w.rses {
			if rs.Name == u.RS.Name {
				cp := u.RS.DeepCopy()
				if rsReplicas(rs) != rsReplicas(cp) {
					cp.Generation++
				}
				w.rses[i] = cp
			}
		}
	}
	for _, del := range p.Deletes {
		for i, rs := range w.rses {
			if rs.Name == del.Name {
				w.rses = append(w.rses[:i], w.rses[i+1:]...)
				break
			}
		}
	}
	if p.Deployment != nil {
		w.d = p.Deployment.DeepCopy()
	}
	return p
}

// settle brings every ReplicaSet's status to its spec; pods of ReplicaSets
// other than the ones in slow become available at once, those in slow
// gain at most one available pod per call.
func (w *world) settle(slow map[string]bool) {
	for _, rs := range w.rses {
		n := rsReplicas(rs)
		avail := n
		if slow[rs.Spec.Template.Spec.Containers[0].Image] {
			avail = min(n, rs.Status.AvailableReplicas+1)
		}
		rs.Status = appsv1.ReplicaSetStatus{Replicas: n, ReadyReplicas: avail, AvailableReplicas: avail, FullyLabeledReplicas: n, ObservedGeneration: rs.Generation}
	}
}

func (w *world) byImage(image string) *appsv1.ReplicaSet {
	for _, rs := range w.rses {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			return rs
		}
	}
	return nil
}

func (w *world) String() string {
	var s []string
	for _, rs := range w.rses {
		s = append(s, fmt.Sprintf("%s:%d/%d", rs.Spec.Template.Spec.Containers[0].Image, rsReplicas(rs), rs.Status.AvailableReplicas))
	}
	return strings.Join(s, " ")
}

func eventMessages(p Plan) []string {
	var out []string
	for _, e := range p.CreateEvents {
		out = append(out, e.Message)
	}
	for _, u := range p.Updates {
		for _, e := range u.Events {
			out = append(out, e.Message)
		}
	}
	return out
}

func TestReconcileCreatesFirstReplicaSet(t *testing.T) {
	w := &world{d: testDeployment(3, "25%", "25%", "httpd:1"), now: t0}
	p := w.reconcile(t)
	if p.Create == nil {
		t.Fatal("no ReplicaSet created")
	}
	rs := p.Create
	hash := rs.Labels[LabelPodTemplateHash]
	if rs.Name != "d-"+hash || rs.Spec.Selector.MatchLabels[LabelPodTemplateHash] != hash || rs.Spec.Template.Labels[LabelPodTemplateHash] != hash ||
		rsReplicas(rs) != 3 || rs.Annotations[AnnotationRevision] != "1" || rs.Annotations[AnnotationDesiredReplicas] != "3" ||
		rs.Annotations[AnnotationMaxReplicas] != "4" || metav1.GetControllerOf(rs).UID != "d-uid" {
		t.Fatalf("new replica set %+v", rs.ObjectMeta)
	}
	if msgs := eventMessages(p); len(msgs) != 1 || msgs[0] != "Scaled up replica set "+rs.Name+" to 3 from 0" {
		t.Fatalf("events %q", msgs)
	}
	d := p.Deployment
	if d.Annotations[AnnotationRevision] != "1" || d.Status.ObservedGeneration != 1 {
		t.Fatalf("deployment %v %+v", d.Annotations, d.Status)
	}
	if c := getCondition(&d.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != ReasonNewRSCreated {
		t.Fatalf("progressing %+v", c)
	}
	if c := getCondition(&d.Status, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionFalse {
		t.Fatalf("available %+v", c)
	}
	// settled: complete, NewReplicaSetAvailable, nothing more to write after
	w.settle(nil)
	p = w.reconcile(t)
	if c := getCondition(&w.d.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != ReasonNewRSAvailable || w.d.Status.AvailableReplicas != 3 {
		t.Fatalf("status %+v", w.d.Status)
	}
	if p = w.reconcile(t); p.Deployment != nil || p.Create != nil || len(p.Updates) != 0 || p.RequeueAfter != 0 {
		t.Fatalf("a settled deployment still plans %+v", p)
	}
}

// TestRollingProperty: for random sizes, fenceposts and readiness speeds,
// a rollout in steps (each step: reconcile, then let the ReplicaSets
// settle, new pods becoming available one at a time) keeps the
// ReplicaSets' replicas within replicas + maxSurge and their available
// pods at or above replicas - maxUnavailable, and ends with the new
// ReplicaSet at replicas and the old ones at 0.
func TestRollingProperty(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 1))
	pick := func() string {
		if rnd.IntN(2) == 0 {
			return strconv.Itoa(rnd.IntN(4))
		}
		return strconv.Itoa(rnd.IntN(101)) + "%"
	}
	for i := range 300 {
		replicas := rnd.Int32N(12)
		surge, unavail := pick(), pick()
		d := testDeployment(replicas, surge, unavail, "v1")
		s, u, _ := Fenceposts(d)
		if s == 0 && u == 0 || (surge == "0" || surge == "0%") && (unavail == "0" || unavail == "0%") {
			continue // refused by validation
		}
		w := &world{d: d, now: t0}
		for range 3 {
			w.reconcile(t)
			w.settle(nil)
		}
		images := []string{"v2"}
		if rnd.IntN(2) == 0 {
			images = append(images, "v3") // a change mid-rollout
		}
		slow := map[string]bool{"v2": rnd.IntN(2) == 0, "v3": rnd.IntN(2) == 0}
		for k, img := range images {
			w.d.Spec.Template.Spec.Containers[0].Image = img
			w.d.Generation++
			steps := 1 + rnd.IntN(3)
			if k == len(images)-1 {
				steps = 200
			}
			for step := 0; step < steps; step++ {
				p := w.reconcile(t)
				if p.Create == nil && len(p.Updates) == 0 && deploymentComplete(w.d, &w.d.Status) {
					break
				}
				var total, avail int32
				for _, rs := range w.rses {
					total += rsReplicas(rs)
					avail += min(rs.Status.AvailableReplicas, rsReplicas(rs))
				}
				if total > replicas+s {
					t.Fatalf("case %d (seed %d): %d replicas %s/%s: %d pods wanted > %d+%d: %s", i, seed, replicas, surge, unavail, total, replicas, s, w)
				}
				if avail < replicas-u {
					t.Fatalf("case %d (seed %d): %d replicas %s/%s: %d available < %d-%d: %s", i, seed, replicas, surge, unavail, avail, replicas, u, w)
				}
				w.settle(slow)
			}
		}
		last := images[len(images)-1]
		for _, rs := range w.rses {
			want := int32(0)
			if rs.Spec.Template.Spec.Containers[0].Image == last {
				want = replicas
			}
			if rsReplicas(rs) != want {
				t.Fatalf("case %d (seed %d): %d replicas %s/%s: did not converge: %s", i, seed, replicas, surge, unavail, w)
			}
		}
		if !deploymentComplete(w.d, &w.d.Status) {
			t.Fatalf("case %d: status %+v", i, w.d.Status)
		}
	}
}

func TestReconcilePodBounds(t *testing.T) {
	// old ReplicaSet scaled from 4 to 3 but its fourth pod is still there:
	// the new one may not grow into the room yet
	w := &world{d: testDeployment(4, "1", "0", "v1"), now: t0}
	w.reconcile(t)
	w.settle(nil)
	w.d.Spec.Template.Spec.Containers[0].Image = "v2"
	w.reconcile(t) // creates v2 with 1
	w.settle(nil)
	w.reconcile(t) // v1 4 -> 3
	old, cur := w.byImage("v1"), w.byImage("v2")
	if rsReplicas(old) != 3 || rsReplicas(cur) != 1 {
		t.Fatalf("%s", w)
	}
	p, err := Reconcile(Input{Deployment: w.d, ReplicaSets: w.rses, Now: t0, PodBounds: map[types.UID]int32{old.UID: 4}})
	if err != nil || p.Create != nil || len(p.Updates) != 0 {
		t.Fatalf("scaled up while old pods may still exist: %+v", p.Updates)
	}
	p, _ = Reconcile(Input{Deployment: w.d, ReplicaSets: w.rses, Now: t0})
	if len(p.Updates) != 1 || rsReplicas(p.Updates[0].RS) != 2 {
		t.Fatalf("without the bound, the new ReplicaSet grows: %+v", p.Updates)
	}
}

func TestReconcileProportionalScaling(t *testing.T) {
	// mid-rollout of 10 (surge 3): old 8, new 5, both sized for 10/13;
	// scaled to 20 (surge 5): 25 to share, 12 more: old +7, new +5
	w := &world{d: testDeployment(10, "3", "2", "v1"), now: t0}
	mk := func(image string, n int32, created int) *appsv1.ReplicaSet {
		d := w.d.DeepCopy()
		d.Spec.Template.Spec.Containers[0].Image = image
		rs := newReplicaSet(d, TemplateHash(&d.Spec.Template, nil))
		rs.UID = types.UID(image)
		rs.CreationTimestamp = metav1.NewTime(t0.Add(time.Duration(created) * time.Second))
		rs.Spec.Replicas = ptr.To(n)
		rs.Annotations = map[string]string{AnnotationRevision: strconv.Itoa(created), AnnotationDesiredReplicas: "10", AnnotationMaxReplicas: "13"}
		rs.Status = appsv1.ReplicaSetStatus{Replicas: n, AvailableReplicas: n}
		return rs
	}
	w.rses = []*appsv1.ReplicaSet{mk("v1", 8, 1), mk("v2", 5, 2)}
	w.d.Spec.Template.Spec.Containers[0].Image = "v2"
	w.d.Spec.Replicas = ptr.To(int32(20))
	w.d.Spec.Strategy.RollingUpdate.MaxSurge = ptr.To(intstr.FromString("25%"))
	p := w.reconcile(t)
	if len(p.Updates) != 2 || w.String() != "v1:15/8 v2:10/5" {
		t.Fatalf("%s", w)
	}
	for _, rs := range w.rses {
		if rs.Annotations[AnnotationDesiredReplicas] != "20" || rs.Annotations[AnnotationMaxReplicas] != "25" {
			t.Fatalf("annotations %v", rs.Annotations)
		}
	}
	if msgs := eventMessages(p); len(msgs) != 2 || !strings.HasSuffix(msgs[0], "to 15 from 8") || !strings.HasSuffix(msgs[1], "to 10 from 5") {
		t.Fatalf("events %q", msgs)
	}
	// down to 0: everything goes
	w.d.Spec.Replicas = ptr.To(int32(0))
	w.reconcile(t)
	if w.String() != "v1:0/8 v2:0/5" {
		t.Fatalf("%s", w)
	}
}

func TestReconcilePaused(t *testing.T) {
	w := &world{d: testDeployment(2, "1", "0", "v1"), now: t0}
	w.reconcile(t)
	w.settle(nil)
	w.reconcile(t)
	w.d.Spec.Paused = true
	w.d.Spec.Template.Spec.Containers[0].Image = "v2"
	w.d.Spec.Replicas = ptr.To(int32(5))
	w.d.Generation = 3
	p := w.reconcile(t)
	if p.Create != nil || w.String() != "v1:5/2" {
		t.Fatalf("paused: %s", w)
	}
	c := getCondition(&w.d.Status, appsv1.DeploymentProgressing)
	if c.Reason != ReasonPaused || c.Status != corev1.ConditionUnknown || w.d.Status.ObservedGeneration != 3 || p.RequeueAfter != 0 {
		t.Fatalf("paused status %+v", w.d.Status)
	}
	w.d.Spec.Paused = false
	w.now = t0.Add(time.Hour) // a long pause is no missed deadline
	w.reconcile(t)
	if c := getCondition(&w.d.Status, appsv1.DeploymentProgressing); c.Reason == ReasonTimedOut || w.byImage("v2") == nil {
		t.Fatalf("resumed: %+v %s", c, w)
	}
}

func TestReconcileRecreate(t *testing.T) {
	d := testDeployment(3, "1", "0", "v1")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	w := &world{d: d, now: t0}
	w.reconcile(t)
	w.settle(nil)
	w.d.Spec.Template.Spec.Containers[0].Image = "v2"
	w.reconcile(t)
	if w.String() != "v1:0/3" {
		t.Fatalf("old first: %s", w)
	}
	w.settle(nil)
	old := w.byImage("v1")
	// a terminating old pod holds the new ReplicaSet back
	p, _ := Reconcile(Input{Deployment: w.d, ReplicaSets: w.rses, Now: t0,
		Pods: map[types.UID][]*corev1.Pod{old.UID: {{Status: corev1.PodStatus{Phase: corev1.PodRunning}}}}})
	if p.Create != nil {
		t.Fatal("new pods while an old one runs")
	}
	p, _ = Reconcile(Input{Deployment: w.d, ReplicaSets: w.rses, Now: t0,
		Pods: map[types.UID][]*corev1.Pod{old.UID: {{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}}}})
	if p.Create == nil || rsReplicas(p.Create) != 3 {
		t.Fatalf("finished old pods do not hold it back: %+v", p.Create)
	}
}

func TestReconcileRollbackAndCleanup(t *testing.T) {
	d := testDeployment(1, "1", "0", "v1")
	d.Spec.RevisionHistoryLimit = ptr.To(int32(1))
	d.Annotations = map[string]string{AnnotationChangeCause: "v1", corev1.LastAppliedConfigAnnotation: "{}"}
	w := &world{d: d, now: t0}
	roll := func(image string) {
		w.d.Spec.Template.Spec.Containers[0].Image = image
		w.d.Annotations[AnnotationChangeCause] = image
		w.d.Generation++
		for range 10 {
			w.reconcile(t)
			w.settle(nil)
		}
	}
	roll("v1")
	roll("v2")
	roll("v3")
	// v1 (revision 1) was cleaned up: one old ReplicaSet is kept
	if w.String() != "v2:0/0 v3:1/1" {
		t.Fatalf("%s", w)
	}
	roll("v2")
	v2 := w.byImage("v2")
	if v2.Annotations[AnnotationRevision] != "4" || v2.Annotations[AnnotationRevisionHistory] != "2" ||
		v2.Annotations[AnnotationChangeCause] != "v2" || v2.Annotations[corev1.LastAppliedConfigAnnotation] != "" {
		t.Fatalf("rolled back ReplicaSet annotations %v", v2.Annotations)
	}
	if w.d.Annotations[AnnotationRevision] != "4" || w.String() != "v2:1/1 v3:0/0" {
		t.Fatalf("deployment %v, %s", w.d.Annotations, w)
	}
}

func TestReconcileProgressDeadline(t *testing.T) {
	d := testDeployment(2, "1", "0", "v1")
	d.Spec.ProgressDeadlineSeconds = ptr.To(int32(60))
	w := &world{d: d, now: t0}
	w.reconcile(t)
	w.settle(nil)
	w.reconcile(t)
	w.d.Spec.Template.Spec.Containers[0].Image = "v2"
	w.d.Generation++
	w.reconcile(t)
	for _, rs := range w.rses { // v2's pods never become available
		rs.Status = appsv1.ReplicaSetStatus{Replicas: rsReplicas(rs), AvailableReplicas: min(rsReplicas(rs), 2), ObservedGeneration: rs.Generation}
		if rs.Spec.Template.Spec.Containers[0].Image == "v2" {
			rs.Status.AvailableReplicas = 0
		}
	}
	w.now = t0.Add(30 * time.Second)
	w.reconcile(t) // progress: a new pod, and the deadline starts again
	w.now = t0.Add(60 * time.Second)
	p := w.reconcile(t)
	if p.RequeueAfter <= 0 || p.RequeueAfter > 31*time.Second {
		t.Fatalf("requeue %v: the deadline is 30 s away", p.RequeueAfter)
	}
	w.now = t0.Add(2 * time.Minute)
	p = w.reconcile(t)
	c := getCondition(&w.d.Status, appsv1.DeploymentProgressing)
	if c.Status != corev1.ConditionFalse || c.Reason != ReasonTimedOut || len(p.StatusEvents) != 1 || p.StatusEvents[0].Reason != EventProgressDeadlineExceed {
		t.Fatalf("progressing %+v, events %+v", c, p.StatusEvents)
	}
	if p = w.reconcile(t); len(p.StatusEvents) != 0 || p.RequeueAfter != 0 {
		t.Fatalf("the timeout is reported once: %+v", p)
	}
}

func TestReconcileCollision(t *testing.T) {
	w := &world{d: testDeployment(1, "1", "0", "v1"), now: t0}
	other := w.d.DeepCopy()
	other.Spec.Template.Spec.Containers[0].Image = "squatter"
	rs := newReplicaSet(other, TemplateHash(&w.d.Spec.Template, nil)) // same name, other template
	w.rses = []*appsv1.ReplicaSet{rs}
	p := w.reconcile(t)
	if p.Create != nil || w.d.Status.CollisionCount == nil || *w.d.Status.CollisionCount != 1 {
		t.Fatalf("collision: %+v", w.d.Status)
	}
	p = w.reconcile(t)
	if p.Create == nil || p.Create.Name == rs.Name {
		t.Fatalf("after the collision count: %+v", p.Create)
	}
}

func TestReconcileRefusesNoSelector(t *testing.T) {
	d := testDeployment(1, "1", "0", "v1")
	d.Spec.Selector = nil
	if _, err := Reconcile(Input{Deployment: d, Now: t0}); err == nil {
		t.Fatal("a Deployment without a selector must be an error, not a panic or a plan")
	}
}
