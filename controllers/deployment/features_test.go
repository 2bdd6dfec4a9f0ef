package deployment_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers/deployment"
	"github.com/kelson-dev/kelson/controllers/internal/fakekubelet"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
)

// TestRecreate: no pod of the new template exists while any pod of the
// old one does.
func TestRecreate(t *testing.T) {
	e := start(t, fakekubelet.Config{Jitter: 100 * time.Millisecond, Seed: 2})
	d := newDeployment("rec", 3, "httpd:1")
	d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
	e.create(t, d)
	eventually(t, func() error { return e.complete("rec", 3, "httpd:1") })

	w, err := e.Client.CoreV1().Pods(ns).Watch(e.ctx, metav1.ListOptions{LabelSelector: "app=rec"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	live := map[string]string{} // pod -> image
	var violation string
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			mu.Lock()
			if ev.Type == watch.Deleted {
				delete(live, p.Name)
			} else {
				live[p.Name] = p.Spec.Containers[0].Image
			}
			imgs := map[string]bool{}
			for _, img := range live {
				imgs[img] = true
			}
			if len(imgs) > 1 && violation == "" {
				violation = fmt.Sprintf("after %s %s: pods of two templates at once: %v", ev.Type, p.Name, live)
			}
			mu.Unlock()
		}
	}()
	e.mutate(t, "rec", setImage("httpd:2"))
	eventually(t, func() error { return e.complete("rec", 3, "httpd:2") })
	mu.Lock()
	defer mu.Unlock()
	if violation != "" {
		t.Fatal(violation)
	}
	if ev := e.events("rec", deployment.EventScalingReplicaSet); len(ev) != 3 ||
		!strings.HasPrefix(ev[1], "Scaled down replica set rec-") || !strings.HasSuffix(ev[1], "to 0 from 3") ||
		!strings.HasSuffix(ev[2], "to 3 from 0") {
		t.Fatalf("events %q", ev)
	}
}

// TestRevisionsAndHistory: each template gets the next revision, a
// rollback re-uses its old ReplicaSet at a new revision (remembering the
// old one), change-cause follows the Deployment, and only
// revisionHistoryLimit old ReplicaSets are kept.
func TestRevisionsAndHistory(t *testing.T) {
	e := start(t, fakekubelet.Config{})
	d := newDeployment("hist", 2, "httpd:1")
	d.Spec.RevisionHistoryLimit = ptr.To(int32(2))
	d.Annotations = map[string]string{deployment.AnnotationChangeCause: "first"}
	d = e.create(t, d)
	eventually(t, func() error { return e.complete("hist", 2, "httpd:1") })
	for i := 2; i <= 4; i++ {
		e.mutate(t, "hist", func(d *appsv1.Deployment) {
			setImage(fmt.Sprintf("httpd:%d", i))(d)
			d.Annotations[deployment.AnnotationChangeCause] = fmt.Sprintf("image %d", i)
		})
		eventually(t, func() error { return e.complete("hist", 2, fmt.Sprintf("httpd:%d", i)) })
	}
	// back to httpd:3 (revision 3): its ReplicaSet becomes revision 5
	e.mutate(t, "hist", func(d *appsv1.Deployment) {
		setImage("httpd:3")(d)
		d.Annotations[deployment.AnnotationChangeCause] = "back to 3"
	})
	eventually(t, func() error {
		if err := e.complete("hist", 2, "httpd:3"); err != nil {
			return err
		}
		rses, err := e.replicaSets(d)
		if err != nil {
			return err
		}
		var got []string
		for _, rs := range rses {
			got = append(got, fmt.Sprintf("%s rev=%d history=%s cause=%q", rs.Spec.Template.Spec.Containers[0].Image,
				deployment.Revision(&rs), rs.Annotations[deployment.AnnotationRevisionHistory], rs.Annotations[deployment.AnnotationChangeCause]))
		}
		want := `httpd:2 rev=2 history= cause="image 2"; httpd:4 rev=4 history= cause="image 4"; httpd:3 rev=5 history=3 cause="back to 3"`
		if strings.Join(got, "; ") != want {
			return fmt.Errorf("replica sets:\n%s\nwant\n%s", strings.Join(got, "; "), want)
		}
		cur, err := e.Client.AppsV1().Deployments(ns).Get(e.ctx, "hist", getOpts)
		if err != nil {
			return err
		}
		if cur.Annotations[deployment.AnnotationRevision] != "5" {
			return fmt.Errorf("deployment revision %q", cur.Annotations[deployment.AnnotationRevision])
		}
		return nil
	})
}

// TestPauseResume: a paused Deployment does not roll out a new template
// but still scales; resumed, it rolls out.
func TestPauseResume(t *testing.T) {
	e := start(t, fakekubelet.Config{})
	d := e.create(t, newDeployment("pz", 2, "httpd:1"))
	eventually(t, func() error { return e.complete("pz", 2, "httpd:1") })
	e.mutate(t, "pz", func(d *appsv1.Deployment) { d.Spec.Paused = true })
	e.mutate(t, "pz", setImage("httpd:2"))
	e.mutate(t, "pz", setReplicas(3))
	eventually(t, func() error {
		cur, err := e.Client.AppsV1().Deployments(ns).Get(e.ctx, "pz", getOpts)
		if err != nil {
			return err
		}
		c := condition(cur, appsv1.DeploymentProgressing)
		if cur.Status.ObservedGeneration != cur.Generation || c == nil || c.Reason != deployment.ReasonPaused || c.Status != corev1.ConditionUnknown {
			return fmt.Errorf("paused: generation %d observed %d, progressing %+v", cur.Generation, cur.Status.ObservedGeneration, c)
		}
		if cur.Status.Replicas != 3 || cur.Status.AvailableReplicas != 3 || cur.Status.UpdatedReplicas != 0 {
			return fmt.Errorf("paused, scaled to 3: status %+v", cur.Status)
		}
		return nil
	})
	rses, _ := e.replicaSets(d)
	if len(rses) != 1 || rses[0].Spec.Template.Spec.Containers[0].Image != "httpd:1" || *rses[0].Spec.Replicas != 3 {
		t.Fatalf("paused: a new template must not be rolled out, only scaled: %d replica sets", len(rses))
	}
	e.mutate(t, "pz", func(d *appsv1.Deployment) { d.Spec.Paused = false })
	eventually(t, func() error {
		if err := e.complete("pz", 3, "httpd:2"); err != nil {
			return err
		}
		cur, _ := e.Client.AppsV1().Deployments(ns).Get(e.ctx, "pz", getOpts)
		if c := condition(cur, appsv1.DeploymentProgressing); c == nil || c.Reason != deployment.ReasonNewRSAvailable {
			return fmt.Errorf("progressing %+v", c)
		}
		return nil
	})
}

// TestProgressDeadline: pods that never get ready make the rollout fail
// with Progressing=False ProgressDeadlineExceeded and a Warning Event,
// while the old pods keep serving; a fixed template recovers.
func TestProgressDeadline(t *testing.T) {
	e := start(t, fakekubelet.Config{NeverReady: func(p *corev1.Pod) bool { return p.Spec.Containers[0].Image == "broken" }})
	d := rolling(newDeployment("slow", 3, "httpd:1"), intOrStr(1), intOrStr(0))
	d.Spec.ProgressDeadlineSeconds = ptr.To(int32(2))
	e.create(t, d)
	eventually(t, func() error { return e.complete("slow", 3, "httpd:1") })
	e.mutate(t, "slow", setImage("broken"))
	eventually(t, func() error {
		cur, err := e.Client.AppsV1().Deployments(ns).Get(e.ctx, "slow", getOpts)
		if err != nil {
			return err
		}
		c := condition(cur, appsv1.DeploymentProgressing)
		if c == nil || c.Status != corev1.ConditionFalse || c.Reason != deployment.ReasonTimedOut || !strings.Contains(c.Message, "has timed out progressing") {
			return fmt.Errorf("progressing %+v", c)
		}
		if cur.Status.AvailableReplicas != 3 || cur.Status.UpdatedReplicas != 1 || cur.Status.Replicas != 4 {
			return fmt.Errorf("status %+v", cur.Status)
		}
		if ev := e.events("slow", deployment.EventProgressDeadlineExceed); len(ev) != 1 {
			return fmt.Errorf("deadline events %q", ev)
		}
		return nil
	})
	e.mutate(t, "slow", setImage("httpd:2"))
	eventually(t, func() error { return e.complete("slow", 3, "httpd:2") })
}

// TestAdoptOrphanReplicaSet: an orphan ReplicaSet matching a new
// Deployment's selector and template is adopted and becomes its current
// ReplicaSet (no second one is made); minReadySeconds reaches the
// ReplicaSet and delays availability.
func TestAdoptOrphanReplicaSet(t *testing.T) {
	e := start(t, fakekubelet.Config{})
	d := newDeployment("adopt", 2, "httpd:1")
	d.Spec.MinReadySeconds = 2
	orphan := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "adopt-orphan", Namespace: ns, Labels: map[string]string{"app": "adopt", "pod-template-hash": "orphan"}},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "adopt", "pod-template-hash": "orphan"}},
			Template: *d.Spec.Template.DeepCopy(),
		},
	}
	orphan.Spec.Template.Labels = map[string]string{"app": "adopt", "pod-template-hash": "orphan"}
	if _, err := e.Client.AppsV1().ReplicaSets(ns).Create(e.ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	created := e.create(t, d)
	began := time.Now()
	eventually(t, func() error { return e.complete("adopt", 2, "httpd:1") })
	// (ready times are stored in whole seconds: availability may come up
	// to a second early)
	if waited := time.Since(began); waited < time.Second {
		t.Fatalf("available after %v, before minReadySeconds", waited)
	}
	rses, err := e.replicaSets(created)
	if err != nil {
		t.Fatal(err)
	}
	if len(rses) != 1 || rses[0].Name != "adopt-orphan" || rses[0].Spec.MinReadySeconds != 2 || deployment.Revision(&rses[0]) != 1 {
		t.Fatalf("want the orphan adopted as revision 1 with minReadySeconds 2, got %d replica sets: %+v", len(rses), rses)
	}
}
