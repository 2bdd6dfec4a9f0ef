package deployment_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/deployment"
	"github.com/kelson-dev/kelson/controllers/internal/fakekubelet"
	"github.com/kelson-dev/kelson/controllers/replicaset"
	"github.com/kelson-dev/kelson/internal/testcluster"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

const ns = "default"

// env is a cluster running the ReplicaSet and Deployment controllers and a
// fake kubelet.
type env struct {
	*testcluster.Cluster
	ctx context.Context
}

func start(t *testing.T, kcfg fakekubelet.Config) *env {
	t.Helper()
	t.Parallel() // each test has its own cluster; most of their time is waiting
	c := testcluster.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	cctx := controllers.NewContext(c.Client, "test", testcluster.Logger())
	rc := replicaset.New(cctx)
	dc := deployment.New(cctx)
	cctx.Start(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = rc.Run(ctx) }()
	go func() { defer wg.Done(); _ = dc.Run(ctx) }()
	fakekubelet.Start(ctx, c.Client, kcfg)
	t.Cleanup(func() { cancel(); wg.Wait(); cctx.Close() })
	return &env{Cluster: c, ctx: ctx}
}

func newDeployment(name string, replicas int32, image string) *appsv1.Deployment {
	lbl := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
		},
	}
}

func rolling(d *appsv1.Deployment, surge, unavail intstr.IntOrString) *appsv1.Deployment {
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavail}}
	return d
}

func (e *env) create(t *testing.T, d *appsv1.Deployment) *appsv1.Deployment {
	t.Helper()
	out, err := e.Client.AppsV1().Deployments(ns).Create(e.ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mutate changes a Deployment, retrying conflicts.
func (e *env) mutate(t *testing.T, name string, f func(*appsv1.Deployment)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := e.Client.AppsV1().Deployments(ns).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		f(d)
		_, err = e.Client.AppsV1().Deployments(ns).Update(e.ctx, d, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func setImage(image string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image }
}

func setReplicas(n int32) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(n) }
}

// replicaSets lists the ReplicaSets controlled by d, oldest revision first.
func (e *env) replicaSets(d *appsv1.Deployment) ([]appsv1.ReplicaSet, error) {
	l, err := e.Client.AppsV1().ReplicaSets(ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []appsv1.ReplicaSet
	for _, rs := range l.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == d.UID {
			out = append(out, rs)
		}
	}
	sort.Slice(out, func(i, j int) bool { return deployment.Revision(&out[i]) < deployment.Revision(&out[j]) })
	return out, nil
}

// complete: the Deployment has rolled out image at replicas: every pod of
// its current ReplicaSet, none of any other, all available, and a status
// that says so for the current generation.
func (e *env) complete(name string, replicas int32, image string) error {
	d, err := e.Client.AppsV1().Deployments(ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	st := d.Status
	if st.ObservedGeneration != d.Generation || st.Replicas != replicas || st.UpdatedReplicas != replicas ||
		st.ReadyReplicas != replicas || st.AvailableReplicas != replicas || st.UnavailableReplicas != 0 {
		return fmt.Errorf("%s: status %+v at generation %d", name, st, d.Generation)
	}
	pods, err := e.pods(d)
	if err != nil {
		return err
	}
	if int32(len(pods)) != replicas {
		return fmt.Errorf("%s: %d pods, want %d", name, len(pods), replicas)
	}
	for _, p := range pods {
		if img := p.Spec.Containers[0].Image; img != image {
			return fmt.Errorf("%s: pod %s runs %s, want %s", name, p.Name, img, image)
		}
	}
	rses, err := e.replicaSets(d)
	if err != nil {
		return err
	}
	for _, rs := range rses {
		want := int32(0)
		if deployment.EqualIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			want = replicas
		}
		if *rs.Spec.Replicas != want || rs.Status.Replicas != want {
			return fmt.Errorf("%s: replica set %s (%s) at %d/%d, want %d", name, rs.Name, rs.Spec.Template.Spec.Containers[0].Image, rs.Status.Replicas, *rs.Spec.Replicas, want)
		}
	}
	return nil
}

// pods lists d's live pods, checking that each is controlled by exactly one
// of d's ReplicaSets (none orphaned).
func (e *env) pods(d *appsv1.Deployment) ([]corev1.Pod, error) {
	rses, err := e.replicaSets(d)
	if err != nil {
		return nil, err
	}
	ours := map[types.UID]bool{}
	for _, rs := range rses {
		ours[rs.UID] = true
	}
	l, err := e.Client.CoreV1().Pods(ns).List(e.ctx, metav1.ListOptions{LabelSelector: "app=" + d.Name})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		ref := metav1.GetControllerOf(&p)
		if ref == nil || !ours[ref.UID] {
			return nil, fmt.Errorf("pod %s is not controlled by one of %s's replica sets: %+v", p.Name, d.Name, p.OwnerReferences)
		}
		out = append(out, p)
	}
	return out, nil
}

// events lists the messages of d's Events with reason, in order.
func (e *env) events(name, reason string) []string {
	l, err := e.Client.CoreV1().Events(ns).List(e.ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	sort.SliceStable(l.Items, func(i, j int) bool { return l.Items[i].FirstTimestamp.Before(&l.Items[j].FirstTimestamp) })
	var out []string
	for _, ev := range l.Items {
		if ev.InvolvedObject.Kind == "Deployment" && ev.InvolvedObject.Name == name && ev.Reason == reason {
			if ev.Source.Component != deployment.Component {
				return []string{"wrong source " + ev.Source.Component}
			}
			out = append(out, ev.Message)
		}
	}
	return out
}

// checker watches a Deployment's pods and checks, at every event, that
// the live pods number at most maxTotal and the ready ones at least
// minReady. Counting starts from a list, then follows the watch.
type checker struct {
	mu                 sync.Mutex
	live               map[types.UID]bool // uid -> ready
	maxTotal, minReady int
	violations         []string
	peak, trough       int
	observed           int
	w                  watch.Interface
}

// stop ends the watch; later changes are not checked.
func (c *checker) stop() { c.w.Stop() }

func (e *env) check(t *testing.T, selector string, maxTotal, minReady int) *checker {
	t.Helper()
	c := &checker{live: map[types.UID]bool{}, maxTotal: maxTotal, minReady: minReady, trough: 1 << 30}
	l, err := e.Client.CoreV1().Pods(ns).List(e.ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			c.live[p.UID] = replicaset.IsReady(&p)
		}
	}
	w, err := e.Client.CoreV1().Pods(ns).Watch(e.ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	c.w = w
	go func() {
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok {
				c.apply(ev.Type, p)
			}
		}
	}()
	return c
}

func (c *checker) apply(typ watch.EventType, p *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if typ == watch.Deleted || p.DeletionTimestamp != nil {
		delete(c.live, p.UID)
	} else {
		c.live[p.UID] = replicaset.IsReady(p)
	}
	ready := 0
	for _, r := range c.live {
		if r {
			ready++
		}
	}
	c.observed++
	c.peak, c.trough = max(c.peak, len(c.live)), min(c.trough, ready)
	if len(c.live) > c.maxTotal || ready < c.minReady {
		c.violations = append(c.violations, fmt.Sprintf("%s %s: %d live, %d ready (bounds: at most %d live, at least %d ready)",
			typ, p.Name, len(c.live), ready, c.maxTotal, c.minReady))
	}
}

func (c *checker) verify(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.violations) > 0 {
		t.Fatalf("%d violations in %d observations, first: %s", len(c.violations), c.observed, strings.Join(c.violations[:min(5, len(c.violations))], "; "))
	}
	t.Logf("%d observations: at most %d live pods (bound %d), at least %d ready (bound %d)", c.observed, c.peak, c.maxTotal, c.trough, c.minReady)
}

// eventually polls f every 100 ms (each poll lists pods and ReplicaSets:
// polling faster loads the API the controllers need) for up to 60 s.
func eventually(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not reached after 60s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var getOpts = metav1.GetOptions{}

func condition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func intOrStr(n int32) intstr.IntOrString { return intstr.FromInt32(n) }
