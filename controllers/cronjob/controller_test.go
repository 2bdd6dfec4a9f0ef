package cronjob

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/internal/testcluster"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const ns = "default"

// fakeClock is the controller's clock in these tests: set by the test,
// optionally moving with real time from where it was set.
type fakeClock struct {
	mu      sync.Mutex
	base    time.Time
	setAt   time.Time
	running bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return c.base.Add(time.Since(c.setAt))
	}
	return c.base
}

func (c *fakeClock) Set(t time.Time, running bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base, c.setAt, c.running = t, time.Now(), running
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base = c.base.Add(d)
}

type env struct {
	t      *testing.T
	client kubernetes.Interface
	clock  *fakeClock
	ctrl   *Controller
}

// setup starts a cluster; start runs the controller on the fake clock.
func setup(t *testing.T) *env {
	c := testcluster.Start(t)
	return &env{t: t, client: c.Client, clock: &fakeClock{}}
}

func (e *env) start() {
	ctx, cancel := context.WithCancel(context.Background())
	cctx := controllers.NewContext(e.client, "test", testcluster.Logger())
	cctx.Now = e.clock.Now
	e.ctrl = New(cctx)
	cctx.Start(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cctx.Close()
		if err := e.ctrl.Run(ctx); err != nil {
			e.t.Errorf("cronjob controller: %v", err)
		}
	}()
	e.t.Cleanup(func() { cancel(); <-done })
}

// poke makes the controller sync the CronJobs now (the clock moved but
// its real-time requeue is far off).
func (e *env) poke(names ...string) {
	for _, n := range names {
		e.ctrl.queue.Add(ns + "/" + n)
	}
}

func (e *env) createCronJob(name string, mods ...func(*batchv1.CronJob)) *batchv1.CronJob {
	e.t.Helper()
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: batchv1.CronJobSpec{
			Schedule: "* * * * *",
			TimeZone: ptr("UTC"),
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
			}}}},
		},
	}
	for _, m := range mods {
		m(cj)
	}
	created, err := e.client.BatchV1().CronJobs(ns).Create(context.Background(), cj, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return created
}

// jobsOf lists the CronJob's Jobs, oldest name first.
func (e *env) jobsOf(cj *batchv1.CronJob) []batchv1.Job {
	e.t.Helper()
	list, err := e.client.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []batchv1.Job
	for _, j := range list.Items {
		if ref := metav1.GetControllerOf(&j); ref != nil && ref.UID == cj.UID && j.DeletionTimestamp == nil {
			out = append(out, j)
		}
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Name < out[k].Name })
	return out
}

func jobNames(jobs []batchv1.Job) []string {
	var names []string
	for _, j := range jobs {
		names = append(names, j.Name)
	}
	return names
}

// waitJobs waits until the CronJob's Jobs are exactly want (by name) and
// its status lists active as running.
func (e *env) waitJobs(cj *batchv1.CronJob, want, active []string) {
	e.t.Helper()
	testcluster.Eventually(e.t, 30*time.Second, func() error {
		got := jobNames(e.jobsOf(cj))
		if !slices.Equal(got, want) {
			return fmt.Errorf("%s: jobs %v, want %v", cj.Name, got, want)
		}
		live, err := e.client.BatchV1().CronJobs(ns).Get(context.Background(), cj.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		var act []string
		for _, r := range live.Status.Active {
			act = append(act, r.Name)
		}
		if slices.Sort(act); !slices.Equal(act, active) {
			return fmt.Errorf("%s: status.active %v, want %v", cj.Name, act, active)
		}
		return nil
	})
}

func (e *env) waitEvent(name, reason, contains string) {
	e.t.Helper()
	testcluster.Eventually(e.t, 30*time.Second, func() error {
		list, err := e.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		var seen []string
		for _, ev := range list.Items {
			if ev.InvolvedObject.Name != name {
				continue
			}
			if ev.Reason == reason && strings.Contains(ev.Message, contains) && ev.Source.Component == "cronjob-controller" {
				return nil
			}
			seen = append(seen, ev.Reason+": "+ev.Message)
		}
		return fmt.Errorf("no %s event %q on %s; saw %q", reason, contains, name, seen)
	})
}

// finish marks a Job Complete or Failed, as the Job controller would.
func (e *env) finish(name string, ct batchv1.JobConditionType, start time.Time) {
	e.t.Helper()
	j, err := e.client.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	now := metav1.Now()
	j.Status.StartTime = &metav1.Time{Time: start}
	reason := "CompletionsReached"
	target := batchv1.JobSuccessCriteriaMet
	if ct == batchv1.JobComplete {
		j.Status.CompletionTime = &now
		j.Status.Succeeded = 1
	} else {
		reason, target = "BackoffLimitExceeded", batchv1.JobFailureTarget
		j.Status.Failed = 1
	}
	j.Status.Conditions = []batchv1.JobCondition{
		{Type: target, Status: corev1.ConditionTrue, Reason: reason, LastTransitionTime: now},
		{Type: ct, Status: corev1.ConditionTrue, Reason: reason, LastTransitionTime: now},
	}
	if _, err := e.client.BatchV1().Jobs(ns).UpdateStatus(context.Background(), j, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// firstDue is the first whole minute after the CronJobs' creation; the
// clock starts 30 s after it, so exactly that minute is due.
func firstDue(cjs ...*batchv1.CronJob) time.Time {
	var latest time.Time
	for _, cj := range cjs {
		if cj.CreationTimestamp.After(latest) {
			latest = cj.CreationTimestamp.Time
		}
	}
	return latest.Truncate(time.Minute).Add(time.Minute)
}

func TestCronJobConcurrencyPolicies(t *testing.T) {
	e := setup(t)
	allow := e.createCronJob("allow")
	forbid := e.createCronJob("forbid", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent })
	replace := e.createCronJob("replace", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent })
	m1 := firstDue(allow, forbid, replace)
	m2 := m1.Add(time.Minute)
	e.clock.Set(m1.Add(30*time.Second), false)
	e.start()

	for _, cj := range []*batchv1.CronJob{allow, forbid, replace} {
		first := JobName(cj.Name, m1)
		e.waitJobs(cj, []string{first}, []string{first})
		e.waitEvent(cj.Name, "SuccessfulCreate", "Created job "+first)
		j, err := e.client.BatchV1().Jobs(ns).Get(context.Background(), first, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := j.Annotations[ScheduledTimestampAnnotation]; got != m1.Format(time.RFC3339) {
			t.Errorf("%s: scheduled-timestamp %q, want %s", first, got, m1.Format(time.RFC3339))
		}
	}

	// A minute later, with every first Job still running.
	e.clock.Advance(time.Minute)
	e.poke("allow", "forbid", "replace")
	e.waitJobs(allow, []string{JobName("allow", m1), JobName("allow", m2)}, []string{JobName("allow", m1), JobName("allow", m2)})
	e.waitJobs(replace, []string{JobName("replace", m2)}, []string{JobName("replace", m2)})
	e.waitEvent("replace", "SuccessfulDelete", "Deleted job "+JobName("replace", m1))
	e.waitEvent("forbid", "JobAlreadyActive", "concurrency policy is Forbid")
	e.waitJobs(forbid, []string{JobName("forbid", m1)}, []string{JobName("forbid", m1)})

	// Forbid starts the skipped minute once its running Job finishes.
	e.finish(JobName("forbid", m1), batchv1.JobComplete, m1)
	e.waitJobs(forbid, []string{JobName("forbid", m1), JobName("forbid", m2)}, []string{JobName("forbid", m2)})
	e.waitEvent("forbid", "SawCompletedJob", "Saw completed job: "+JobName("forbid", m1))
	live, err := e.client.BatchV1().CronJobs(ns).Get(context.Background(), "forbid", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if live.Status.LastSuccessfulTime == nil || live.Status.LastScheduleTime == nil || !live.Status.LastScheduleTime.Time.Equal(m2) {
		t.Errorf("forbid status: %+v", live.Status)
	}

	// Nothing is created twice: another sync in the same minute is a no-op.
	e.poke("allow", "forbid", "replace")
	time.Sleep(200 * time.Millisecond)
	e.waitJobs(allow, []string{JobName("allow", m1), JobName("allow", m2)}, []string{JobName("allow", m1), JobName("allow", m2)})
}

func TestCronJobHistoryLimits(t *testing.T) {
	e := setup(t)
	cj := e.createCronJob("hist", func(cj *batchv1.CronJob) {
		cj.Spec.SuccessfulJobsHistoryLimit = ptr[int32](2)
		cj.Spec.FailedJobsHistoryLimit = ptr[int32](1)
	})
	m := firstDue(cj)
	e.clock.Set(m.Add(30*time.Second), false)
	e.start()
	// Six runs: complete, failed, complete, failed, complete, complete.
	outcomes := []batchv1.JobConditionType{batchv1.JobComplete, batchv1.JobFailed, batchv1.JobComplete, batchv1.JobFailed, batchv1.JobComplete, batchv1.JobComplete}
	for i, outcome := range outcomes {
		name := JobName("hist", m.Add(time.Duration(i)*time.Minute))
		testcluster.Eventually(t, 30*time.Second, func() error {
			if !slices.Contains(jobNames(e.jobsOf(cj)), name) {
				return fmt.Errorf("no job %s yet: %v", name, jobNames(e.jobsOf(cj)))
			}
			return nil
		})
		e.finish(name, outcome, m.Add(time.Duration(i)*time.Minute))
		e.clock.Advance(time.Minute)
		e.poke("hist")
	}
	// The seventh run starts; of the finished, the two newest successful
	// (runs 4 and 5) and the newest failed (run 3) remain.
	run := func(i int) string { return JobName("hist", m.Add(time.Duration(i)*time.Minute)) }
	want := []string{run(3), run(4), run(5), run(6)}
	sort.Strings(want)
	e.waitJobs(cj, want, []string{run(6)})
	e.waitEvent("hist", "SuccessfulDelete", "Deleted job "+run(0))
	e.waitEvent("hist", "SuccessfulDelete", "Deleted job "+run(1))
}

// TestCronJobFiresOnTime runs the clock with real time and checks the
// controller wakes itself for the next schedule (no poke).
func TestCronJobFiresOnTime(t *testing.T) {
	e := setup(t)
	cj := e.createCronJob("ontime")
	due := firstDue(cj)
	e.clock.Set(due.Add(-1500*time.Millisecond), true)
	e.start()
	name := JobName("ontime", due)
	e.waitJobs(cj, []string{name}, []string{name})
	if now := e.clock.Now(); now.Before(due) {
		t.Errorf("job created at %s, before its time %s", now, due)
	}
}
