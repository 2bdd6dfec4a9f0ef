package replicaset_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/internal/fakekubelet"
	"github.com/kelson-dev/kelson/controllers/replicaset"
	"github.com/kelson-dev/kelson/internal/testcluster"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// start runs a cluster, the ReplicaSet controller and a fake kubelet.
func start(t *testing.T, kcfg fakekubelet.Config) (*testcluster.Cluster, context.Context) {
	t.Helper()
	t.Parallel() // each test has its own cluster; most of their time is waiting
	c := testcluster.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	cctx := controllers.NewContext(c.Client, "test", testcluster.Logger())
	rc := replicaset.New(cctx)
	cctx.Start(ctx)
	done := make(chan struct{})
	go func() { _ = rc.Run(ctx); close(done) }()
	fakekubelet.Start(ctx, c.Client, kcfg)
	t.Cleanup(func() { cancel(); <-done; cctx.Close() })
	return c, ctx
}

func newRS(name string, replicas int32, lbl map[string]string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "httpd"}}},
			},
		},
	}
}

// ownedPods lists the live pods controlled by rs.
func ownedPods(ctx context.Context, cs kubernetes.Interface, rs *appsv1.ReplicaSet) ([]corev1.Pod, error) {
	l, err := cs.CoreV1().Pods(rs.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == rs.UID && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// converged: exactly want live pods, all ready, and a status that says so.
func converged(ctx context.Context, cs kubernetes.Interface, name string, want int32) error {
	rs, err := cs.AppsV1().ReplicaSets("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	pods, err := ownedPods(ctx, cs, rs)
	if err != nil {
		return err
	}
	st := rs.Status
	if int32(len(pods)) != want || st.Replicas != want || st.ReadyReplicas != want || st.AvailableReplicas != want ||
		st.FullyLabeledReplicas != want || st.ObservedGeneration != rs.Generation {
		return fmt.Errorf("%s: %d pods, status %+v (generation %d), want %d", name, len(pods), st, rs.Generation, want)
	}
	return nil
}

func TestScaleUpDownExact(t *testing.T) {
	c, ctx := start(t, fakekubelet.Config{})
	rs, err := c.Client.AppsV1().ReplicaSets("default").Create(ctx, newRS("web", 3, map[string]string{"app": "web"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int32{3, 7, 1, 0, 4} {
		if n != 3 {
			scale(t, ctx, c.Client, "web", n)
		}
		testcluster.Eventually(t, 30*time.Second, func() error { return converged(ctx, c.Client, "web", n) })
	}
	// pods carry the template's labels, generateName "<rs>-" and a
	// blocking controller reference
	pods, _ := ownedPods(ctx, c.Client, rs)
	for _, p := range pods {
		ref := metav1.GetControllerOf(&p)
		if !strings.HasPrefix(p.Name, "web-") || p.Labels["app"] != "web" || !*ref.BlockOwnerDeletion || ref.Kind != "ReplicaSet" {
			t.Fatalf("pod %s: labels %v, ref %+v", p.Name, p.Labels, ref)
		}
	}
	// every decision is an Event from the replicaset-controller
	testcluster.Eventually(t, 30*time.Second, func() error {
		evs, err := c.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		got := map[string]int{}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "web" && e.Source.Component == replicaset.Component {
				got[e.Reason] += int(max(e.Count, 1))
			}
		}
		// 3 + 4 + 4 created, 6 + 1 deleted
		if got[replicaset.EventSuccessfulCreate] != 11 || got[replicaset.EventSuccessfulDelete] != 7 {
			return fmt.Errorf("events %v", got)
		}
		return nil
	})
}

func scale(t *testing.T, ctx context.Context, cs kubernetes.Interface, name string, n int32) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := cs.AppsV1().ReplicaSets("default").GetScale(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s.Spec.Replicas = n
		_, err = cs.AppsV1().ReplicaSets("default").UpdateScale(ctx, name, s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAdoptAndRelease(t *testing.T) {
	c, ctx := start(t, fakekubelet.Config{})
	lbl := map[string]string{"app": "adopt"}
	for i := range 2 {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("orphan-%d", i), Namespace: "default", Labels: lbl},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "httpd"}}},
		}
		if _, err := c.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := c.Client.AppsV1().ReplicaSets("default").Create(ctx, newRS("adopt", 3, lbl), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 30*time.Second, func() error { return converged(ctx, c.Client, "adopt", 3) })
	for i := range 2 {
		p, err := c.Client.CoreV1().Pods("default").Get(ctx, fmt.Sprintf("orphan-%d", i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != rs.UID {
			t.Fatalf("orphan-%d not adopted: %+v", i, p.OwnerReferences)
		}
	}
	// relabel an owned pod: it is released and replaced
	p, _ := c.Client.CoreV1().Pods("default").Get(ctx, "orphan-0", metav1.GetOptions{})
	p.Labels = map[string]string{"app": "elsewhere"}
	if _, err := c.Client.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 30*time.Second, func() error {
		p, err := c.Client.CoreV1().Pods("default").Get(ctx, "orphan-0", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(p.OwnerReferences) != 0 {
			return fmt.Errorf("orphan-0 still owned: %+v", p.OwnerReferences)
		}
		return converged(ctx, c.Client, "adopt", 3)
	})
	// a pod owned by another controller is never taken, whatever its labels
	other := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "foreign", Namespace: "default", Labels: lbl,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: "x", UID: types.UID("foreign-uid"), Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "httpd"}}},
	}
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	testcluster.Eventually(t, 30*time.Second, func() error { return converged(ctx, c.Client, "adopt", 3) })
	p, _ = c.Client.CoreV1().Pods("default").Get(ctx, "foreign", metav1.GetOptions{})
	if ref := metav1.GetControllerOf(p); ref.UID != "foreign-uid" {
		t.Fatalf("foreign pod taken: %+v", p.OwnerReferences)
	}
}

// TestNoDuplicatesUnderRapidScaling changes replicas many times in quick
// succession while a watch counts the set's live pods: the count never
// exceeds the largest replicas requested, and it settles on the last one
// and stays there.
func TestNoDuplicatesUnderRapidScaling(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, seed))
	c, ctx := start(t, fakekubelet.Config{Jitter: 50 * time.Millisecond, Seed: seed})
	lbl := map[string]string{"app": "rapid"}
	rs, err := c.Client.AppsV1().ReplicaSets("default").Create(ctx, newRS("rapid", 2, lbl), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	maxSeen, limit := 0, int32(2)
	live := map[types.UID]bool{}
	w, err := c.Client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: "app=rapid"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			mu.Lock()
			if ev.Type == watch.Deleted || p.DeletionTimestamp != nil {
				delete(live, p.UID)
			} else {
				live[p.UID] = true
			}
			maxSeen = max(maxSeen, len(live))
			mu.Unlock()
		}
	}()
	var last int32
	for range 25 {
		last = rnd.Int32N(12)
		mu.Lock()
		limit = max(limit, last)
		mu.Unlock()
		scale(t, ctx, c.Client, "rapid", last)
		time.Sleep(time.Duration(rnd.IntN(40)) * time.Millisecond)
	}
	testcluster.Eventually(t, 60*time.Second, func() error { return converged(ctx, c.Client, "rapid", last) })
	time.Sleep(500 * time.Millisecond)
	if err := converged(ctx, c.Client, "rapid", last); err != nil {
		t.Fatalf("did not stay converged: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if maxSeen > int(limit) {
		t.Fatalf("seed %d: %d live pods at once, but replicas never exceeded %d", seed, maxSeen, limit)
	}
	pods, _ := ownedPods(ctx, c.Client, rs)
	names := []string{}
	for _, p := range pods {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	t.Logf("settled at %d: %v (peak %d of limit %d)", last, names, maxSeen, limit)
}
