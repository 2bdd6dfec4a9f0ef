package job

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func testJob(mods ...func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pi", UID: "job-uid"},
		Spec: batchv1.JobSpec{
			Parallelism:    ptr[int32](2),
			Completions:    ptr[int32](5),
			BackoffLimit:   ptr[int32](6),
			CompletionMode: ptr(batchv1.NonIndexedCompletion),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "pi"}},
				Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "i"}}},
			},
		},
		Status: batchv1.JobStatus{StartTime: &metav1.Time{Time: t0.Add(-time.Minute)}},
	}
	for _, m := range mods {
		m(j)
	}
	return j
}

// pod builds a pod named name from a compact description: words among
// running, ready, succeeded, failed, deleting, untracked, idx=N,
// created=S, finished=S, restarts=N (S in seconds relative to t0).
func pod(name, desc string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: name, UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.Time{Time: t0.Add(-time.Hour)},
			Finalizers:        []string{TrackingFinalizer},
			Annotations:       map[string]string{},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	for w := range strings.FieldsSeq(desc) {
		var n int
		switch {
		case w == "running":
			p.Status.Phase = corev1.PodRunning
			p.Spec.NodeName = "node"
		case w == "ready":
			p.Status.Phase = corev1.PodRunning
			p.Spec.NodeName = "node"
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
		case w == "succeeded":
			p.Status.Phase = corev1.PodSucceeded
		case w == "failed":
			p.Status.Phase = corev1.PodFailed
		case w == "deleting":
			p.DeletionTimestamp = &metav1.Time{Time: t0}
		case w == "untracked":
			p.Finalizers = nil
		case scan(w, "idx=%d", &n):
			p.Annotations[CompletionIndexKey] = fmt.Sprint(n)
		case scan(w, "created=%d", &n):
			p.CreationTimestamp = metav1.Time{Time: t0.Add(time.Duration(n) * time.Second)}
		case scan(w, "finished=%d", &n):
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.Time{Time: t0.Add(time.Duration(n) * time.Second)}}}}}
		case scan(w, "restarts=%d", &n):
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", RestartCount: int32(n)}}
		default:
			panic("unknown pod word " + w)
		}
	}
	return p
}

func scan(w, format string, n *int) bool {
	_, err := fmt.Sscanf(w, format, n)
	return err == nil
}

func names(pods []*corev1.Pod) string {
	var s []string
	for _, p := range pods {
		s = append(s, p.Name)
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

// summary renders what a test checks of a plan in one line.
func summary(p Plan) string {
	st := p.Status
	var b strings.Builder
	fmt.Fprintf(&b, "active=%d ready=%d terminating=%d succeeded=%d failed=%d", st.Active, deref(st.Ready), deref(st.Terminating), st.Succeeded, st.Failed)
	if u := st.UncountedTerminatedPods; u != nil && (len(u.Succeeded) > 0 || len(u.Failed) > 0) {
		fmt.Fprintf(&b, " uncounted=%d/%d", len(u.Succeeded), len(u.Failed))
	}
	if st.CompletedIndexes != "" {
		fmt.Fprintf(&b, " indexes=%s", st.CompletedIndexes)
	}
	for _, c := range st.Conditions {
		fmt.Fprintf(&b, " %s=%s", c.Type, c.Status)
		if c.Reason != "" {
			fmt.Fprintf(&b, "(%s)", c.Reason)
		}
	}
	if p.Create > 0 {
		fmt.Fprintf(&b, " create=%d", p.Create)
	}
	if len(p.CreateIndexes) > 0 {
		fmt.Fprintf(&b, " createIndexes=%v", p.CreateIndexes)
	}
	if len(p.Delete) > 0 {
		fmt.Fprintf(&b, " delete=%s", names(p.Delete))
	}
	if len(p.RemoveFinalizers) > 0 {
		fmt.Fprintf(&b, " release=%s", names(p.RemoveFinalizers))
	}
	for _, e := range p.Events {
		fmt.Fprintf(&b, " event=%s", e.Reason)
	}
	if p.RequeueAfter > 0 {
		fmt.Fprintf(&b, " requeue=%s", p.RequeueAfter)
	}
	return b.String()
}

func deref(p *int32) int32 {
	if p == nil {
		return -1
	}
	return *p
}

func uncounted(succeeded string, failed ...string) func(*batchv1.Job) {
	return func(j *batchv1.Job) {
		u := &batchv1.UncountedTerminatedPods{}
		if succeeded != "" {
			u.Succeeded = append(u.Succeeded, types.UID("uid-"+succeeded))
		}
		for _, f := range failed {
			u.Failed = append(u.Failed, types.UID("uid-"+f))
		}
		j.Status.UncountedTerminatedPods = u
	}
}

func condition(t batchv1.JobConditionType, reason string) func(*batchv1.Job) {
	return func(j *batchv1.Job) {
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason})
	}
}

func indexed(completions, parallelism int32, done string) func(*batchv1.Job) {
	return func(j *batchv1.Job) {
		j.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
		j.Spec.Completions, j.Spec.Parallelism = &completions, &parallelism
		j.Status.CompletedIndexes = done
	}
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name string
		job  *batchv1.Job
		pods []*corev1.Pod
		want string
	}{
		{"a new job starts parallelism pods and its clock",
			testJob(func(j *batchv1.Job) { j.Status.StartTime = nil }), nil,
			"active=0 ready=0 terminating=0 succeeded=0 failed=0 create=2"},
		{"a finished pod is recorded as uncounted, its finalizer released, a replacement made",
			testJob(), []*corev1.Pod{pod("a", "ready"), pod("b", "succeeded")},
			"active=1 ready=1 terminating=0 succeeded=0 failed=0 uncounted=1/0 create=1 release=b"},
		{"an uncounted pod without finalizer moves to the counter",
			testJob(uncounted("b")), []*corev1.Pod{pod("a", "running"), pod("b", "succeeded untracked")},
			"active=1 ready=0 terminating=0 succeeded=1 failed=0 create=1"},
		{"an uncounted pod that is gone moves to the counter",
			testJob(uncounted("b", "c")), []*corev1.Pod{pod("a", "running"), pod("d", "running")},
			"active=2 ready=0 terminating=0 succeeded=1 failed=1"},
		{"an uncounted pod still holding the finalizer stays uncounted",
			testJob(uncounted("b")), []*corev1.Pod{pod("a", "running"), pod("b", "succeeded")},
			"active=1 ready=0 terminating=0 succeeded=0 failed=0 uncounted=1/0 create=1 release=b"},
		{"a finished pod without finalizer was counted: not again",
			testJob(func(j *batchv1.Job) { j.Status.Succeeded = 1 }), []*corev1.Pod{pod("a", "running"), pod("b", "succeeded untracked"), pod("c", "running")},
			"active=2 ready=0 terminating=0 succeeded=1 failed=0"},
		{"never more than the missing completions",
			testJob(func(j *batchv1.Job) { j.Status.Succeeded = 4; j.Spec.Parallelism = ptr[int32](3) }), nil,
			"active=0 ready=0 terminating=0 succeeded=4 failed=0 create=1"},
		{"too many active: the cheapest goes (unscheduled, newest)",
			testJob(), []*corev1.Pod{pod("a", "ready created=1"), pod("b", "created=2"), pod("c", "created=3"), pod("d", "running created=4")},
			"active=4 ready=1 terminating=0 succeeded=0 failed=0 delete=b,c"},
		{"completions reached and all counted: Complete",
			testJob(uncounted("e"), func(j *batchv1.Job) { j.Status.Succeeded = 4 }), []*corev1.Pod{pod("e", "succeeded untracked")},
			"active=0 ready=0 terminating=0 succeeded=5 failed=0 SuccessCriteriaMet=True(CompletionsReached) Complete=True(CompletionsReached) event=Completed"},
		{"completions reached, one still uncounted: criteria met, not complete yet",
			testJob(func(j *batchv1.Job) { j.Status.Succeeded = 4 }), []*corev1.Pod{pod("e", "succeeded")},
			"active=0 ready=0 terminating=0 succeeded=4 failed=0 uncounted=1/0 SuccessCriteriaMet=True(CompletionsReached) release=e"},
		{"completions reached with pods still active: they are deleted",
			testJob(func(j *batchv1.Job) { j.Status.Succeeded = 5 }), []*corev1.Pod{pod("x", "running")},
			"active=1 ready=0 terminating=0 succeeded=5 failed=0 SuccessCriteriaMet=True(CompletionsReached) delete=x"},
		{"more failures than the back-off limit: failure target, active pods deleted",
			testJob(func(j *batchv1.Job) { j.Status.Failed = 2; j.Spec.BackoffLimit = ptr[int32](2) }), []*corev1.Pod{pod("a", "running"), pod("f", "failed")},
			"active=1 ready=0 terminating=0 succeeded=0 failed=2 uncounted=0/1 FailureTarget=True(BackoffLimitExceeded) delete=a release=f event=BackoffLimitExceeded"},
		{"at the back-off limit: still running",
			testJob(func(j *batchv1.Job) { j.Status.Failed = 1; j.Spec.BackoffLimit = ptr[int32](2) }), []*corev1.Pod{pod("a", "running"), pod("f", "failed finished=-100")},
			"active=1 ready=0 terminating=0 succeeded=0 failed=1 uncounted=0/1 create=1 release=f"},
		{"failure target and every pod counted: Failed",
			testJob(condition(batchv1.JobFailureTarget, "BackoffLimitExceeded"), func(j *batchv1.Job) { j.Status.Failed = 3 }), []*corev1.Pod{pod("f", "failed untracked")},
			"active=0 ready=0 terminating=0 succeeded=0 failed=3 FailureTarget=True(BackoffLimitExceeded) Failed=True(BackoffLimitExceeded)"},
		{"a deleted running pod counts as failed",
			testJob(condition(batchv1.JobFailureTarget, "DeadlineExceeded")), []*corev1.Pod{pod("a", "running deleting")},
			"active=0 ready=0 terminating=1 succeeded=0 failed=0 uncounted=0/1 FailureTarget=True(DeadlineExceeded) release=a"},
		{"active deadline passed",
			testJob(func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr[int64](30) }), []*corev1.Pod{pod("a", "running"), pod("b", "running")},
			"active=2 ready=0 terminating=0 succeeded=0 failed=0 FailureTarget=True(DeadlineExceeded) delete=a,b event=DeadlineExceeded"},
		{"active deadline ahead: requeue for it",
			testJob(func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr[int64](90) }), []*corev1.Pod{pod("a", "running"), pod("b", "running")},
			"active=2 ready=0 terminating=0 succeeded=0 failed=0 requeue=30s"},
		{"suspend: active pods deleted, condition and event",
			testJob(func(j *batchv1.Job) { j.Spec.Suspend = ptr(true) }), []*corev1.Pod{pod("a", "running"), pod("b", "succeeded")},
			"active=1 ready=0 terminating=0 succeeded=0 failed=0 uncounted=1/0 Suspended=True(JobSuspended) delete=a release=b event=Suspended"},
		{"suspended: pods stopped by it are released uncounted, deadline paused",
			testJob(condition(batchv1.JobSuspended, reasonSuspended), func(j *batchv1.Job) {
				j.Spec.Suspend = ptr(true)
				j.Spec.ActiveDeadlineSeconds = ptr[int64](1)
			}), []*corev1.Pod{pod("a", "running deleting"), pod("b", "failed deleting")},
			"active=0 ready=0 terminating=1 succeeded=0 failed=0 Suspended=True(JobSuspended) release=a,b"},
		{"resume: condition false, clock reset, pods created",
			testJob(condition(batchv1.JobSuspended, reasonSuspended), func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr[int64](30) }), nil,
			"active=0 ready=0 terminating=0 succeeded=0 failed=0 Suspended=False(JobResumed) create=2 event=Resumed requeue=30s"},
		{"back-off after a failure",
			testJob(func(j *batchv1.Job) { j.Status.Failed = 1 }), []*corev1.Pod{pod("a", "running"), pod("f", "failed untracked finished=-5")},
			"active=1 ready=0 terminating=0 succeeded=0 failed=1 event=BackOff requeue=5s"},
		{"back-off doubles with consecutive failures",
			testJob(func(j *batchv1.Job) { j.Status.Failed = 2 }), []*corev1.Pod{pod("f1", "failed untracked finished=-30"), pod("f2", "failed untracked finished=-15")},
			"active=0 ready=0 terminating=0 succeeded=0 failed=2 event=BackOff requeue=5s"},
		{"back-off is over",
			testJob(func(j *batchv1.Job) { j.Status.Failed = 2 }), []*corev1.Pod{pod("f1", "failed untracked finished=-30"), pod("f2", "failed untracked finished=-21")},
			"active=0 ready=0 terminating=0 succeeded=0 failed=2 create=2"},
		{"a success resets the back-off",
			testJob(func(j *batchv1.Job) { j.Status.Failed = 1; j.Status.Succeeded = 1 }), []*corev1.Pod{pod("f", "failed untracked finished=-5"), pod("s", "succeeded untracked finished=-1")},
			"active=0 ready=0 terminating=0 succeeded=1 failed=1 create=2"},
		{"work queue: after a success no new pods, the running finish",
			testJob(func(j *batchv1.Job) {
				j.Spec.Completions = nil
				j.Spec.Parallelism = ptr[int32](3)
				j.Status.Succeeded = 1
			}), []*corev1.Pod{pod("a", "running"), pod("b", "running")},
			"active=2 ready=0 terminating=0 succeeded=1 failed=0"},
		{"work queue: a success and nothing running is complete",
			testJob(func(j *batchv1.Job) { j.Spec.Completions = nil; j.Status.Succeeded = 1 }), []*corev1.Pod{pod("f", "failed untracked")},
			"active=0 ready=0 terminating=0 succeeded=1 failed=0 SuccessCriteriaMet=True(CompletionsReached) Complete=True(CompletionsReached) event=Completed"},
		{"work queue: before any success, parallelism pods",
			testJob(func(j *batchv1.Job) { j.Spec.Completions = nil; j.Spec.Parallelism = ptr[int32](3) }), []*corev1.Pod{pod("a", "running")},
			"active=1 ready=0 terminating=0 succeeded=0 failed=0 create=2"},
		{"indexed: the lowest open indexes get pods",
			testJob(indexed(5, 3, "0")), []*corev1.Pod{pod("p1", "running idx=1")},
			"active=1 ready=0 terminating=0 succeeded=0 failed=0 indexes=0 createIndexes=[2 3]"},
		{"indexed: a succeeded pod completes its index",
			testJob(indexed(5, 2, "0,2")), []*corev1.Pod{pod("p1", "succeeded idx=1"), pod("p3", "running idx=3")},
			"active=1 ready=0 terminating=0 succeeded=0 failed=0 uncounted=1/0 indexes=0-2 createIndexes=[4] release=p1"},
		{"indexed: duplicates, done and out-of-range indexes are deleted",
			testJob(indexed(3, 3, "0")), []*corev1.Pod{pod("a", "running idx=1 created=1"), pod("b", "running idx=1 created=2"), pod("c", "running idx=0"), pod("d", "running idx=7"), pod("e", "running")},
			"active=5 ready=0 terminating=0 succeeded=0 failed=0 indexes=0 createIndexes=[2] delete=b,c,d,e"},
		{"indexed: all indexes done",
			testJob(indexed(3, 3, "0-1"), uncounted("p2")), []*corev1.Pod{pod("p2", "succeeded idx=2 untracked")},
			"active=0 ready=0 terminating=0 succeeded=1 failed=0 indexes=0-2 SuccessCriteriaMet=True(CompletionsReached) Complete=True(CompletionsReached) event=Completed"},
		{"indexed: a failed index is retried",
			testJob(indexed(2, 2, "")), []*corev1.Pod{pod("p0", "failed idx=0 finished=-60"), pod("p1", "running idx=1")},
			"active=1 ready=0 terminating=0 succeeded=0 failed=0 uncounted=0/1 createIndexes=[0] release=p0"},
		{"restartPolicy OnFailure: restarts count against the limit",
			testJob(func(j *batchv1.Job) {
				j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
				j.Spec.BackoffLimit = ptr[int32](3)
			}), []*corev1.Pod{pod("a", "running restarts=2"), pod("b", "running restarts=1")},
			"active=2 ready=0 terminating=0 succeeded=0 failed=0 FailureTarget=True(BackoffLimitExceeded) delete=a,b event=BackoffLimitExceeded"},
		{"podReplacementPolicy Failed: a terminating pod is not replaced yet nor counted",
			testJob(func(j *batchv1.Job) { j.Spec.PodReplacementPolicy = ptr(batchv1.Failed) }), []*corev1.Pod{pod("a", "running deleting"), pod("b", "running")},
			"active=1 ready=0 terminating=1 succeeded=0 failed=0"},
		{"finished job: a tracked pod is released, not counted",
			testJob(condition(batchv1.JobComplete, reasonCompletionsReached), func(j *batchv1.Job) { j.Status.Succeeded = 5 }), []*corev1.Pod{pod("late", "succeeded")},
			"active=0 ready=0 terminating=0 succeeded=5 failed=0 Complete=True(CompletionsReached) release=late"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := summary(Decide(tc.job, tc.pods, t0, Config{}))
			if got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestDecideCountsOnce replays a Job's life through Decide with a
// simulated API (status writes and finalizer removals applied, pods
// finishing at random) and checks every finished pod is counted exactly
// once whatever order and repetition the steps come in.
func TestDecideCountsOnce(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := newRand(seed)
	for round := 0; round < 50; round++ {
		job := testJob(func(j *batchv1.Job) {
			j.Spec.Completions = ptr[int32](int32(3 + rng.Intn(8)))
			j.Spec.Parallelism = ptr[int32](int32(1 + rng.Intn(4)))
			j.Spec.BackoffLimit = ptr[int32](100)
		})
		pods := map[types.UID]*corev1.Pod{}
		succeeded, failed := 0, 0
		now := t0
		next := 0
		for step := 0; step < 500; step++ {
			var list []*corev1.Pod
			for _, p := range pods {
				list = append(list, p)
			}
			slices.SortFunc(list, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
			plan := Decide(job, list, now, Config{BackoffBase: time.Millisecond})
			if conditionTrue(&plan.Status, batchv1.JobComplete) {
				if int(plan.Status.Succeeded) != succeeded || int(plan.Status.Failed) != failed {
					t.Fatalf("seed %d round %d: complete with succeeded=%d failed=%d, pods finished %d/%d",
						seed, round, plan.Status.Succeeded, plan.Status.Failed, succeeded, failed)
				}
				break
			}
			// The status write may be lost (a conflict); the rest of the
			// plan only happens after it.
			if rng.Intn(5) == 0 {
				now = now.Add(time.Second)
				continue
			}
			job.Status = plan.Status
			for _, p := range plan.RemoveFinalizers {
				if rng.Intn(3) > 0 { // some removals are slow to land
					pods[p.UID].Finalizers = nil
				}
			}
			for range plan.Create {
				next++
				p := pod(fmt.Sprintf("p%03d", next), "running")
				pods[p.UID] = p
			}
			// Pods finish at random; finished untracked pods may vanish.
			for _, p := range list {
				switch {
				case p.Status.Phase == corev1.PodRunning && rng.Intn(3) == 0:
					if rng.Intn(4) == 0 {
						p.Status.Phase = corev1.PodFailed
						failed++
					} else {
						p.Status.Phase = corev1.PodSucceeded
						succeeded++
					}
				case p.Status.Phase != corev1.PodRunning && len(p.Finalizers) == 0 && rng.Intn(4) == 0:
					delete(pods, p.UID)
				}
			}
			if got := int(plan.Status.Succeeded); got > succeeded {
				t.Fatalf("seed %d round %d: succeeded=%d but only %d pods succeeded", seed, round, got, succeeded)
			}
			now = now.Add(time.Second)
		}
		if !conditionTrue(&job.Status, batchv1.JobComplete) && !conditionTrue(&job.Status, batchv1.JobSuccessCriteriaMet) {
			t.Fatalf("seed %d round %d: job never completed: %+v", seed, round, job.Status)
		}
	}
}

func TestIndexSet(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"", 5, ""},
		{"0", 5, "0"},
		{"0,1,2,4", 5, "0-2,4"},
		{"3-4,0-1", 10, "0-1,3-4"},
		{"0-9", 5, "0-4"},
		{"x,2,5-3,-1,7", 10, "2,7"},
	} {
		if got := parseIndexes(tc.in, tc.limit).String(); got != tc.want {
			t.Errorf("parseIndexes(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}

func TestNewPod(t *testing.T) {
	j := testJob(indexed(3, 3, ""))
	p := newPod(j, 2)
	if p.GenerateName != "pi-2-" || p.Spec.Hostname != "pi-2" || p.Annotations[CompletionIndexKey] != "2" || p.Labels[CompletionIndexKey] != "2" {
		t.Errorf("indexed pod %+v", p.ObjectMeta)
	}
	if !hasFinalizer(p) || metav1.GetControllerOf(p).UID != j.UID || p.Labels["app"] != "pi" {
		t.Errorf("pod meta %+v", p.ObjectMeta)
	}
	if j.Spec.Template.Labels[CompletionIndexKey] != "" {
		t.Error("the template was modified")
	}
	if p := newPod(testJob(), -1); p.GenerateName != "pi-" || p.Spec.Hostname != "" {
		t.Errorf("non-indexed pod %+v", p.ObjectMeta)
	}
}

func TestTTLExpiry(t *testing.T) {
	finished := func(ttl *int32, at time.Time, mods ...func(*batchv1.Job)) *batchv1.Job {
		return testJob(append([]func(*batchv1.Job){func(j *batchv1.Job) {
			j.Spec.TTLSecondsAfterFinished = ttl
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Time{Time: at}}}
		}}, mods...)...)
	}
	for _, tc := range []struct {
		name string
		job  *batchv1.Job
		due  bool
		wait time.Duration
	}{
		{"no ttl", finished(nil, t0.Add(-time.Hour)), false, 0},
		{"not finished", testJob(func(j *batchv1.Job) { j.Spec.TTLSecondsAfterFinished = ptr[int32](0) }), false, 0},
		{"ttl 0 is due at once", finished(ptr[int32](0), t0), true, 0},
		{"not yet", finished(ptr[int32](100), t0.Add(-40*time.Second)), false, 60 * time.Second},
		{"passed", finished(ptr[int32](100), t0.Add(-100*time.Second)), true, 0},
		{"failed jobs too", finished(ptr[int32](10), t0.Add(-time.Minute), func(j *batchv1.Job) { j.Status.Conditions[0].Type = batchv1.JobFailed }), true, 0},
		{"being deleted", finished(ptr[int32](0), t0, func(j *batchv1.Job) { j.DeletionTimestamp = &metav1.Time{Time: t0} }), false, 0},
	} {
		due, wait, _ := ttlExpiry(tc.job, t0)
		if due != tc.due || wait != tc.wait {
			t.Errorf("%s: due=%v wait=%v, want %v %v", tc.name, due, wait, tc.due, tc.wait)
		}
	}
}

func newRand(seed int64) *rand.Rand { return rand.New(rand.NewSource(seed)) }
