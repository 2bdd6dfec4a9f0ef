package daemonset

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/history"
	"github.com/kelson-dev/kelson/internal/testcluster"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

var everything = labels.Everything()

const converge = 60 * time.Second

type env struct {
	t      *testing.T
	ctx    context.Context
	c      *testcluster.Cluster
	client kubernetes.Interface
	ns     string
	kubel  *fakeKubelet
}

// start runs an API server, the DaemonSet controller and the fake
// scheduler+kubelet.
func start(t *testing.T) *env {
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
	e.kubel = startFakeKubelet(ctx, t, c.Client, e.ns, 150*time.Millisecond)
	return e
}

func (e *env) node(name string, lbls map[string]string, taints ...corev1.Taint) {
	e.t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}, Spec: corev1.NodeSpec{Taints: taints}}
	got, err := e.client.CoreV1().Nodes().Create(e.ctx, n, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	got.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if _, err := e.client.CoreV1().Nodes().UpdateStatus(e.ctx, got, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) updateNode(name string, mutate func(*corev1.Node)) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := e.client.CoreV1().Nodes().Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mutate(n)
		_, err = e.client.CoreV1().Nodes().Update(e.ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func daemonSet(name string) *appsv1.DaemonSet {
	lbl := map[string]string{"app": name}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
		},
	}
}

func (e *env) createDS(ds *appsv1.DaemonSet) *appsv1.DaemonSet {
	e.t.Helper()
	got, err := e.client.AppsV1().DaemonSets(e.ns).Create(e.ctx, ds, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

// updateDS changes the DaemonSet as a user would, retrying on conflicts
// with the controller's status writes.
func (e *env) updateDS(name string, mutate func(*appsv1.DaemonSet)) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ds, err := e.client.AppsV1().DaemonSets(e.ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mutate(ds)
		_, err = e.client.AppsV1().DaemonSets(e.ns).Update(e.ctx, ds, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// podsByNode: the live pods of app, by the node they are bound to.
func (e *env) podsByNode(app string) (map[string]*corev1.Pod, error) {
	list, err := e.client.CoreV1().Pods(e.ns).List(e.ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return nil, err
	}
	out := map[string]*corev1.Pod{}
	for i := range list.Items {
		p := &list.Items[i]
		if terminating(p) {
			continue
		}
		if other, dup := out[TargetNode(p)]; dup {
			return nil, fmt.Errorf("two pods on %s: %s and %s", TargetNode(p), other.Name, p.Name)
		}
		out[TargetNode(p)] = p
	}
	return out, nil
}

// waitPlaced waits until app runs exactly one ready pod on each of nodes
// and none elsewhere, all with hash if it is not empty, and returns them.
func (e *env) waitPlaced(app, hash string, nodes ...string) map[string]*corev1.Pod {
	e.t.Helper()
	var pods map[string]*corev1.Pod
	testcluster.Eventually(e.t, converge, func() error {
		var err error
		if pods, err = e.podsByNode(app); err != nil {
			return err
		}
		var got []string
		for n, p := range pods {
			got = append(got, n)
			if _, ok := readySince(p); !ok || p.Spec.NodeName != n {
				return fmt.Errorf("pod %s on %s not bound and ready", p.Name, n)
			}
			if hash != "" && p.Labels[LabelRevisionHash] != hash {
				return fmt.Errorf("pod %s on %s has hash %s, want %s", p.Name, n, p.Labels[LabelRevisionHash], hash)
			}
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(nodes, ",") {
			return fmt.Errorf("%s runs on %v, want %v", app, got, nodes)
		}
		return nil
	})
	return pods
}

func (e *env) waitStatus(name string, want func(appsv1.DaemonSetStatus) bool) appsv1.DaemonSetStatus {
	e.t.Helper()
	var st appsv1.DaemonSetStatus
	testcluster.Eventually(e.t, converge, func() error {
		ds, err := e.client.AppsV1().DaemonSets(e.ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		st = ds.Status
		if ds.Status.ObservedGeneration != ds.Generation || !want(ds.Status) {
			return fmt.Errorf("status %+v (generation %d)", ds.Status, ds.Generation)
		}
		return nil
	})
	return st
}

// events lists the reasons and messages of the Events on name.
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

func (e *env) waitEvent(name, prefix string) {
	e.t.Helper()
	testcluster.Eventually(e.t, converge, func() error {
		evs := e.events(name)
		for _, ev := range evs {
			if strings.HasPrefix(ev, prefix) {
				return nil
			}
		}
		return fmt.Errorf("no event %q among %v", prefix, evs)
	})
}

func currentHash(t *testing.T, e *env, name string) string {
	t.Helper()
	ds, err := e.client.AppsV1().DaemonSets(e.ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	revs, err := e.client.AppsV1().ControllerRevisions(e.ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	match, _ := history.Match(ptrs(revs.Items), &ds.Spec.Template)
	if match == nil {
		return ""
	}
	return revisionHash(match)
}

func ptrs(items []appsv1.ControllerRevision) []*appsv1.ControllerRevision {
	out := make([]*appsv1.ControllerRevision, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// TestDaemonSetFollowsNodes: one pod per eligible node as nodes come,
// go, get tainted and relabelled; tolerations and node selectors.
func TestDaemonSetFollowsNodes(t *testing.T) {
	e := start(t)
	e.node("n1", map[string]string{"role": "web"})
	e.node("n2", nil)
	e.node("n3", nil)

	e.createDS(daemonSet("agent"))
	web := daemonSet("web")
	web.Spec.Template.Spec.NodeSelector = map[string]string{"role": "web"}
	e.createDS(web)
	db := daemonSet("db")
	db.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule}}
	e.createDS(db)

	pods := e.waitPlaced("agent", "", "n1", "n2", "n3")
	e.waitPlaced("web", "", "n1")
	e.waitPlaced("db", "", "n1", "n2", "n3")
	st := e.waitStatus("agent", func(s appsv1.DaemonSetStatus) bool { return s.NumberAvailable == 3 })
	if st.DesiredNumberScheduled != 3 || st.CurrentNumberScheduled != 3 || st.NumberReady != 3 || st.UpdatedNumberScheduled != 3 || st.NumberMisscheduled != 0 || st.NumberUnavailable != 0 {
		t.Fatalf("status %+v", st)
	}
	p := pods["n2"]
	if TargetNode(&corev1.Pod{Spec: corev1.PodSpec{Affinity: p.Spec.Affinity}}) != "n2" {
		t.Errorf("pod %s lacks the node affinity for n2: %+v", p.Name, p.Spec.Affinity)
	}
	if len(p.Spec.Tolerations) < 6 {
		t.Errorf("pod %s lacks the daemon tolerations: %+v", p.Name, p.Spec.Tolerations)
	}
	e.waitEvent("agent", "SuccessfulCreate: Created pod: agent-")

	// A new node gets a pod; a dedicated one only the tolerating daemon.
	e.node("n4", nil)
	e.node("n5", nil, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule})
	e.waitPlaced("agent", "", "n1", "n2", "n3", "n4")
	e.waitPlaced("db", "", "n1", "n2", "n3", "n4", "n5")

	// A cordoned node keeps its daemons and gets new ones (the controller
	// tolerates unschedulable).
	e.updateNode("n4", func(n *corev1.Node) {
		n.Spec.Unschedulable = true
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	})
	// A NoSchedule taint added later keeps the running pod (misscheduled);
	// a NoExecute taint removes it.
	e.updateNode("n3", func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "maint", Effect: corev1.TaintEffectNoSchedule})
	})
	e.updateNode("n2", func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "evict", Effect: corev1.TaintEffectNoExecute})
	})
	e.waitPlaced("agent", "", "n1", "n3", "n4")
	st = e.waitStatus("agent", func(s appsv1.DaemonSetStatus) bool {
		return s.DesiredNumberScheduled == 2 && s.NumberMisscheduled == 1 && s.CurrentNumberScheduled == 2
	})
	if st.NumberAvailable != 2 {
		t.Fatalf("status %+v", st)
	}
	e.waitEvent("agent", "SuccessfulDelete: Deleted pod: "+pods["n2"].Name)

	// Relabelling moves the selective daemon.
	e.updateNode("n1", func(n *corev1.Node) { delete(n.Labels, "role") })
	e.updateNode("n4", func(n *corev1.Node) { n.Labels = map[string]string{"role": "web"} })
	e.waitPlaced("web", "", "n4")

	// A removed node's daemon pods are deleted.
	if err := e.client.CoreV1().Nodes().Delete(e.ctx, "n4", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitPlaced("web", "")
	e.waitPlaced("agent", "", "n1", "n3")
	e.waitStatus("web", func(s appsv1.DaemonSetStatus) bool {
		return s.DesiredNumberScheduled == 0 && s.CurrentNumberScheduled == 0
	})

	// An orphan pod matching the selector is adopted (here: for n2, which
	// is not eligible, so it is then deleted); a pod relabelled out of the
	// selector is released and replaced.
	orphan := NewPod(e.createdDS("agent"), "foreign", "n2")
	orphan.OwnerReferences = nil
	orphan.GenerateName = "orphan-"
	if _, err := e.client.CoreV1().Pods(e.ns).Create(e.ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitEvent("agent", "SuccessfulDelete: Deleted pod: orphan-")
	stray := e.mustPod("agent", "n1")
	stray.Labels["app"] = "stray"
	if _, err := e.client.CoreV1().Pods(e.ns).Update(e.ctx, stray, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	after := e.waitPlaced("agent", "", "n1", "n3")
	if after["n1"].UID == stray.UID {
		t.Fatal("the relabelled pod still counts")
	}
	testcluster.Eventually(t, converge, func() error {
		p, err := e.client.CoreV1().Pods(e.ns).Get(e.ctx, stray.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if ref := metav1.GetControllerOf(p); ref != nil {
			return fmt.Errorf("relabelled pod still controlled by %s", ref.Name)
		}
		return nil
	})
}

func (e *env) createdDS(name string) *appsv1.DaemonSet {
	ds, err := e.client.AppsV1().DaemonSets(e.ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return ds
}

// TestDaemonSetUpdates: a rolling update within maxUnavailable (and
// stuck at it when new pods never become ready), kubectl rollout status,
// a failed pod replaced, OnDelete.
func TestDaemonSetUpdates(t *testing.T) {
	e := start(t)
	nodes := []string{"n1", "n2", "n3", "n4"}
	for _, n := range nodes {
		e.node(n, nil)
	}
	ds := daemonSet("agent")
	maxUnavailable := intstr.FromInt32(1)
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{
		Type:          appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &maxUnavailable},
	}
	e.createDS(ds)
	h1 := ""
	testcluster.Eventually(t, converge, func() error {
		if h1 = currentHash(t, e, "agent"); h1 == "" {
			return fmt.Errorf("no revision yet")
		}
		return nil
	})
	e.waitPlaced("agent", h1, nodes...)
	e.waitStatus("agent", func(s appsv1.DaemonSetStatus) bool { return s.NumberAvailable == 4 })

	// Roll to img:2 with every node watched: never two nodes without a
	// ready pod.
	e.kubel.watchUnavailable("agent", nodes, 1)
	e.updateDS("agent", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "img:2" })
	h2 := currentHash(t, e, "agent")
	if h2 == "" || h2 == h1 {
		testcluster.Eventually(t, converge, func() error {
			if h2 = currentHash(t, e, "agent"); h2 == "" || h2 == h1 {
				return fmt.Errorf("no new revision yet")
			}
			return nil
		})
	}
	e.waitPlaced("agent", h2, nodes...)
	e.waitStatus("agent", func(s appsv1.DaemonSetStatus) bool { return s.UpdatedNumberScheduled == 4 && s.NumberAvailable == 4 })
	if seen := e.kubel.watchUnavailable("", nil, 0); seen != 1 {
		t.Errorf("at most %d nodes were unavailable during the rollout; want exactly 1 (one at a time)", seen)
	}
	rolloutStatus(t, e, "ds/agent")

	// `kubectl rollout undo` applies the previous revision's data: the
	// controller reuses that revision (renumbered as the newest) and
	// rolls the pods back to its hash.
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.CommandContext(e.ctx, kubectl, "--kubeconfig", e.c.Kubeconfig, "-n", e.ns, "rollout", "undo", "ds/agent").CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl rollout undo: %v\n%s", err, out)
		}
		e.waitPlaced("agent", h1, nodes...)
		testcluster.Eventually(t, converge, func() error {
			revs, err := e.client.AppsV1().ControllerRevisions(e.ns).List(e.ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			if len(revs.Items) != 2 {
				return fmt.Errorf("%d revisions, want 2", len(revs.Items))
			}
			for _, r := range revs.Items {
				if (r.Labels[LabelRevisionHash] == h1) != (r.Revision == 3) {
					return fmt.Errorf("revision %s (hash %s) is number %d", r.Name, r.Labels[LabelRevisionHash], r.Revision)
				}
			}
			return nil
		})
		e.waitStatus("agent", func(s appsv1.DaemonSetStatus) bool { return s.UpdatedNumberScheduled == 4 && s.NumberAvailable == 4 })
		h2 = h1 // the pods' template from here on
	}

	// A new pod that never becomes ready stops the rollout at one node.
	e.kubel.setHold("n1", true)
	e.updateDS("agent", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "img:3" })
	var h3 string
	testcluster.Eventually(t, converge, func() error {
		pods, err := e.podsByNode("agent")
		if err != nil {
			return err
		}
		p := pods["n1"]
		h3 = currentHash(t, e, "agent")
		if p == nil || p.Spec.NodeName != "n1" || p.Labels[LabelRevisionHash] != h3 || h3 == h2 {
			return fmt.Errorf("n1 not yet given an img:3 pod")
		}
		return nil
	})
	time.Sleep(2 * time.Second) // give a wrong controller time to go on
	pods, err := e.podsByNode("agent")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[1:] {
		if pods[n] == nil || pods[n].Labels[LabelRevisionHash] != h2 {
			t.Fatalf("node %s was updated while n1's new pod is unavailable", n)
		}
	}
	st := e.waitStatus("agent", func(s appsv1.DaemonSetStatus) bool { return s.UpdatedNumberScheduled == 1 })
	if st.NumberAvailable != 3 || st.NumberUnavailable != 1 {
		t.Fatalf("stuck rollout status %+v", st)
	}
	e.kubel.setHold("n1", false)
	e.kubel.requeueAll()
	e.waitPlaced("agent", h3, nodes...)

	// A failed pod is deleted and replaced on the same node.
	failed := e.mustPod("agent", "n2")
	failed.Status.Phase = corev1.PodFailed
	if _, err := e.client.CoreV1().Pods(e.ns).UpdateStatus(e.ctx, failed, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitEvent("agent", fmt.Sprintf("FailedDaemonPod: Found failed daemon pod %s/%s on node n2, will try to kill it", e.ns, failed.Name))
	after := e.waitPlaced("agent", h3, nodes...)
	if after["n2"].UID == failed.UID {
		t.Fatal("the failed pod was not replaced")
	}

	// OnDelete: a template change replaces nothing until a pod is deleted.
	e.updateDS("agent", func(ds *appsv1.DaemonSet) {
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
		ds.Spec.Template.Spec.Containers[0].Image = "img:4"
	})
	e.waitStatus("agent", func(s appsv1.DaemonSetStatus) bool { return s.UpdatedNumberScheduled == 0 })
	time.Sleep(time.Second)
	e.waitPlaced("agent", h3, nodes...)
	victim := after["n3"]
	if err := e.client.CoreV1().Pods(e.ns).Delete(e.ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	h4 := currentHash(t, e, "agent")
	testcluster.Eventually(t, converge, func() error {
		pods, err := e.podsByNode("agent")
		if err != nil {
			return err
		}
		if p := pods["n3"]; p == nil || p.UID == victim.UID || p.Labels[LabelRevisionHash] != h4 {
			return fmt.Errorf("n3 has no img:4 pod yet")
		}
		for _, n := range []string{"n1", "n2", "n4"} {
			if p := pods[n]; p == nil || p.Labels[LabelRevisionHash] != h3 {
				return fmt.Errorf("node %s changed under OnDelete", n)
			}
		}
		return nil
	})
	e.waitStatus("agent", func(s appsv1.DaemonSetStatus) bool { return s.UpdatedNumberScheduled == 1 })

	// History: one revision per template, all owned by the DaemonSet.
	revs, err := e.client.AppsV1().ControllerRevisions(e.ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs.Items) != 4 {
		t.Errorf("%d revisions, want 4", len(revs.Items))
	}
	for _, r := range revs.Items {
		if ref := metav1.GetControllerOf(&r); ref == nil || ref.Name != "agent" {
			t.Errorf("revision %s not controlled by the DaemonSet", r.Name)
		}
	}
}

func (e *env) mustPod(app, node string) *corev1.Pod {
	e.t.Helper()
	pods, err := e.podsByNode(app)
	if err != nil || pods[node] == nil {
		e.t.Fatalf("no %s pod on %s: %v", app, node, err)
	}
	return pods[node]
}

// rolloutStatus runs `kubectl rollout status` against the test API, if
// kubectl is installed.
func rolloutStatus(t *testing.T, e *env, what string) {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl not on PATH: skipping rollout status")
		return
	}
	ctx, cancel := context.WithTimeout(e.ctx, converge)
	defer cancel()
	out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", e.c.Kubeconfig, "-n", e.ns,
		"rollout", "status", what, "--timeout=50s").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl rollout status %s: %v\n%s", what, err, out)
	}
	if !strings.Contains(string(out), "successfully rolled out") {
		t.Fatalf("kubectl rollout status %s: %s", what, out)
	}
}
