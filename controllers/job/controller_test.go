package job

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/internal/testcluster"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

const ns = "default"

// running is one term of the controllers against a test cluster.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startControllers runs the Job and TTL controllers until stop (or the
// test's end).
func startControllers(t *testing.T, client kubernetes.Interface, cfg Config) *running {
	ctx, cancel := context.WithCancel(context.Background())
	cctx := controllers.NewContext(client, "test", testcluster.Logger())
	jc := NewWithConfig(cctx, cfg)
	ttl := NewTTLAfterFinished(cctx)
	cctx.Start(ctx)
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer cctx.Close()
		errs := make(chan error, 2)
		go func() { errs <- ttl.Run(ctx) }()
		if err := jc.Run(ctx); err != nil {
			t.Errorf("job controller: %v", err)
		}
		if err := <-errs; err != nil {
			t.Errorf("ttl controller: %v", err)
		}
	}()
	t.Cleanup(r.stop)
	return r
}

// stop ends the term and waits until no sync is in flight.
func (r *running) stop() {
	r.cancel()
	<-r.done
}

type env struct {
	t       *testing.T
	client  kubernetes.Interface
	kubelet *fakeKubelet
}

func setup(t *testing.T, cfg Config) *env {
	t.Helper()
	c := testcluster.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &env{t: t, client: c.Client, kubelet: startKubelet(t, ctx, c.Client, ns)}
	startControllers(t, c.Client, cfg)
	return e
}

// newJob is a Job whose pods the fake kubelet runs as annotations say.
func newJob(name string, completions, parallelism int32, annotations map[string]string, mods ...func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: batchv1.JobSpec{
			Completions: &completions,
			Parallelism: &parallelism,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: annotations},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "work", Image: "busybox"}},
				},
			},
		},
	}
	for _, m := range mods {
		m(j)
	}
	return j
}

func (e *env) create(j *batchv1.Job) *batchv1.Job {
	e.t.Helper()
	created, err := e.client.BatchV1().Jobs(ns).Create(context.Background(), j, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return created
}

func (e *env) get(name string) *batchv1.Job {
	e.t.Helper()
	j, err := e.client.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

// waitCondition waits for a true condition of type ct and returns the Job.
func (e *env) waitCondition(name string, ct batchv1.JobConditionType) *batchv1.Job {
	e.t.Helper()
	var j *batchv1.Job
	testcluster.Eventually(e.t, 60*time.Second, func() error {
		var err error
		if j, err = e.client.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{}); err != nil {
			return err
		}
		if conditionTrue(&j.Status, ct) {
			return nil
		}
		return fmt.Errorf("job %s has no %s condition: %+v", name, ct, j.Status)
	})
	return j
}

// podsOfJob lists the pods the Job controls.
func (e *env) podsOfJob(j *batchv1.Job) []corev1.Pod {
	e.t.Helper()
	list, err := e.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + j.Name})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == j.UID {
			out = append(out, p)
		}
	}
	return out
}

func phases(pods []corev1.Pod) map[corev1.PodPhase]int {
	m := map[corev1.PodPhase]int{}
	for _, p := range pods {
		m[p.Status.Phase]++
	}
	return m
}

// waitEvent waits for an Event with reason on the named object.
func (e *env) waitEvent(name, reason string) corev1.Event {
	e.t.Helper()
	var found corev1.Event
	testcluster.Eventually(e.t, 30*time.Second, func() error {
		list, err := e.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		var seen []string
		for _, ev := range list.Items {
			if ev.InvolvedObject.Name == name {
				if ev.Reason == reason {
					found = ev
					return nil
				}
				seen = append(seen, ev.Reason)
			}
		}
		return fmt.Errorf("no %s event on %s; saw %v", reason, name, seen)
	})
	return found
}

func TestJobCompletesWithinParallelism(t *testing.T) {
	e := setup(t, Config{})
	j := e.create(newJob("pi", 8, 3, map[string]string{annoRunFor: "150"}))
	j = e.waitCondition("pi", batchv1.JobComplete)
	if j.Status.Succeeded != 8 || j.Status.Failed != 0 || j.Status.Active != 0 {
		t.Errorf("status: succeeded=%d failed=%d active=%d", j.Status.Succeeded, j.Status.Failed, j.Status.Active)
	}
	if j.Status.CompletionTime == nil || j.Status.StartTime == nil || !conditionTrue(&j.Status, batchv1.JobSuccessCriteriaMet) {
		t.Errorf("status times/conditions: %+v", j.Status)
	}
	if u := j.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		t.Errorf("uncounted pods left: %+v", u)
	}
	pods := e.podsOfJob(j)
	if got := phases(pods); got[corev1.PodSucceeded] != 8 || len(pods) != 8 {
		t.Errorf("pods by phase %v (of %d), want 8 succeeded", got, len(pods))
	}
	for _, p := range pods {
		if hasFinalizer(&p) {
			t.Errorf("pod %s still has the tracking finalizer", p.Name)
		}
		if p.Labels["batch.kubernetes.io/job-name"] != "pi" || p.Labels["controller-uid"] != string(j.UID) {
			t.Errorf("pod %s labels %v", p.Name, p.Labels)
		}
	}
	if m := e.kubelet.max(); m > 3 {
		t.Errorf("%d pods were active at once, parallelism is 3", m)
	} else {
		t.Logf("at most %d pods active at once", m)
	}
	e.waitEvent("pi", "SuccessfulCreate")
	e.waitEvent("pi", "Completed")
}

func TestJobBackoffLimitExceeded(t *testing.T) {
	// Finish times have one-second resolution; a 1 s base makes the
	// second back-off (2 s) visible whatever the rounding.
	e := setup(t, Config{BackoffBase: time.Second})
	j := e.create(newJob("fails", 3, 1, map[string]string{annoExitCode: "1"}, func(j *batchv1.Job) {
		j.Spec.BackoffLimit = ptr[int32](2)
	}))
	j = e.waitCondition("fails", batchv1.JobFailed)
	cond := findCondition(j, batchv1.JobFailed)
	if cond.Reason != reasonBackoffLimitExceeded || j.Status.Failed != 3 || j.Status.Succeeded != 0 {
		t.Errorf("failed job: reason %q, failed=%d succeeded=%d", cond.Reason, j.Status.Failed, j.Status.Succeeded)
	}
	if pods := e.podsOfJob(j); len(pods) != 3 {
		t.Errorf("%d pods created, want 3 (backoffLimit 2 allows 2 retries)", len(pods))
	}
	ev := e.waitEvent("fails", "BackoffLimitExceeded")
	if ev.Type != corev1.EventTypeWarning || ev.Source.Component != "job-controller" {
		t.Errorf("event %+v", ev)
	}
	e.waitEvent("fails", "BackOff")
}

func TestJobActiveDeadline(t *testing.T) {
	e := setup(t, Config{})
	j := e.create(newJob("slow", 4, 2, map[string]string{annoHold: "true"}, func(j *batchv1.Job) {
		j.Spec.ActiveDeadlineSeconds = ptr[int64](2)
	}))
	testcluster.Eventually(t, 30*time.Second, func() error {
		if a := e.get("slow").Status.Active; a != 2 {
			return fmt.Errorf("active %d", a)
		}
		return nil
	})
	j = e.waitCondition("slow", batchv1.JobFailed)
	if r := findCondition(j, batchv1.JobFailed).Reason; r != reasonDeadlineExceeded {
		t.Errorf("reason %q", r)
	}
	if j.Status.Active != 0 || j.Status.Failed != 2 {
		t.Errorf("active=%d failed=%d, want 0 and 2 (the killed pods)", j.Status.Active, j.Status.Failed)
	}
	for _, p := range e.podsOfJob(j) {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodFailed {
			t.Errorf("pod %s still runs: %s", p.Name, p.Status.Phase)
		}
	}
	e.waitEvent("slow", "DeadlineExceeded")
	e.waitEvent("slow", "SuccessfulDelete")
}

func TestIndexedJobRunsEachIndexOnce(t *testing.T) {
	e := setup(t, Config{BackoffBase: 50 * time.Millisecond})
	var failedOnce atomic.Bool
	e.kubelet.decide = func(p *corev1.Pod) (int, time.Duration, bool) {
		if p.Annotations[CompletionIndexKey] == "3" && failedOnce.CompareAndSwap(false, true) {
			return 1, 50 * time.Millisecond, false
		}
		return 0, 100 * time.Millisecond, false
	}
	j := e.create(newJob("idx", 5, 2, nil, func(j *batchv1.Job) {
		j.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
	}))
	j = e.waitCondition("idx", batchv1.JobComplete)
	if j.Status.CompletedIndexes != "0-4" || j.Status.Succeeded != 5 || j.Status.Failed != 1 {
		t.Errorf("status: completedIndexes=%q succeeded=%d failed=%d", j.Status.CompletedIndexes, j.Status.Succeeded, j.Status.Failed)
	}
	succeeded := map[string]int{}
	for _, p := range e.podsOfJob(j) {
		ix := p.Annotations[CompletionIndexKey]
		if p.Labels[CompletionIndexKey] != ix || p.Spec.Hostname != "idx-"+ix || !strings.HasPrefix(p.Name, "idx-"+ix+"-") {
			t.Errorf("pod %s: index %q label %q hostname %q", p.Name, ix, p.Labels[CompletionIndexKey], p.Spec.Hostname)
		}
		if p.Status.Phase == corev1.PodSucceeded {
			succeeded[ix]++
		}
	}
	for ix := range 5 {
		if n := succeeded[fmt.Sprint(ix)]; n != 1 {
			t.Errorf("index %d succeeded %d times", ix, n)
		}
	}
	if m := e.kubelet.max(); m > 2 {
		t.Errorf("%d pods active at once, parallelism is 2", m)
	}
}

func TestJobSuspendAndResume(t *testing.T) {
	e := setup(t, Config{})
	e.create(newJob("pause", 3, 2, map[string]string{annoHold: "true"}))
	testcluster.Eventually(t, 30*time.Second, func() error {
		if a := e.get("pause").Status.Active; a != 2 {
			return fmt.Errorf("active %d", a)
		}
		return nil
	})
	setSuspend := func(v bool) {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			j := e.get("pause")
			j.Spec.Suspend = ptr(v)
			_, err := e.client.BatchV1().Jobs(ns).Update(context.Background(), j, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	setSuspend(true)
	j := e.waitCondition("pause", batchv1.JobSuspended)
	testcluster.Eventually(t, 30*time.Second, func() error {
		j = e.get("pause")
		var running []string
		for _, p := range e.podsOfJob(j) {
			if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
				running = append(running, p.Name)
			}
		}
		if len(running) > 0 || j.Status.Active != 0 {
			return fmt.Errorf("suspended job still runs %v (status.active %d)", running, j.Status.Active)
		}
		return nil
	})
	e.waitEvent("pause", "Suspended")
	// Pods stopped by the suspension are not failures; nothing new starts.
	time.Sleep(300 * time.Millisecond)
	if j = e.get("pause"); j.Status.Failed != 0 || j.Status.Active != 0 {
		t.Errorf("while suspended: failed=%d active=%d", j.Status.Failed, j.Status.Active)
	}
	e.kubelet.release()
	setSuspend(false)
	j = e.waitCondition("pause", batchv1.JobComplete)
	if j.Status.Succeeded != 3 || j.Status.Failed != 0 {
		t.Errorf("after resume: succeeded=%d failed=%d", j.Status.Succeeded, j.Status.Failed)
	}
	if c := findCondition(j, batchv1.JobSuspended); c == nil || c.Status != corev1.ConditionFalse || c.Reason != reasonResumed {
		t.Errorf("suspended condition after resume: %+v", c)
	}
	e.waitEvent("pause", "Resumed")
}

func TestJobTTLAfterFinished(t *testing.T) {
	e := setup(t, Config{})
	j := e.create(newJob("short", 1, 1, nil, func(j *batchv1.Job) {
		j.Spec.TTLSecondsAfterFinished = ptr[int32](1)
	}))
	testcluster.Eventually(t, 60*time.Second, func() error {
		_, err := e.client.BatchV1().Jobs(ns).Get(context.Background(), "short", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("job still exists (err %v)", err)
	})
	// No garbage collector runs here: the pod stays, without finalizer.
	pods := e.podsOfJob(j)
	if len(pods) != 1 || hasFinalizer(&pods[0]) || pods[0].Status.Phase != corev1.PodSucceeded {
		t.Errorf("pods after the job's deletion: %d, %+v", len(pods), pods)
	}
	ev := e.waitEvent("short", "SuccessfulDelete")
	if ev.Source.Component != "ttl-after-finished-controller" {
		t.Errorf("event source %q", ev.Source.Component)
	}
}

// TestJobCountsOnceAcrossRestarts stops and restarts the controller while
// a Job runs; every success is counted exactly once.
func TestJobCountsOnceAcrossRestarts(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	c := testcluster.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &env{t: t, client: c.Client, kubelet: startKubelet(t, ctx, c.Client, ns)}
	runs := rand.New(rand.NewSource(seed + 1)) // used by the kubelet, under its lock
	e.kubelet.decide = func(*corev1.Pod) (int, time.Duration, bool) {
		return 0, time.Duration(50+runs.Intn(150)) * time.Millisecond, false
	}
	r := startControllers(t, c.Client, Config{})
	e.create(newJob("restart", 12, 3, nil))
	for i := 0; i < 4; i++ {
		time.Sleep(time.Duration(100+rng.Intn(400)) * time.Millisecond)
		r.stop()
		time.Sleep(time.Duration(rng.Intn(300)) * time.Millisecond)
		r = startControllers(t, c.Client, Config{})
	}
	j := e.waitCondition("restart", batchv1.JobComplete)
	pods := e.podsOfJob(j)
	byPhase := phases(pods)
	if j.Status.Succeeded != int32(byPhase[corev1.PodSucceeded]) || j.Status.Succeeded != 12 || j.Status.Failed != 0 {
		t.Errorf("seed %d: status succeeded=%d failed=%d; pods by phase %v", seed, j.Status.Succeeded, j.Status.Failed, byPhase)
	}
	if m := e.kubelet.max(); m > 3 {
		t.Errorf("seed %d: %d pods active at once, parallelism is 3", seed, m)
	}
	var names []string
	for _, p := range pods {
		names = append(names, p.Name+":"+string(p.Status.Phase))
	}
	sort.Strings(names)
	t.Logf("pods: %v", names)
}

func findCondition(j *batchv1.Job, ct batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == ct {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}
