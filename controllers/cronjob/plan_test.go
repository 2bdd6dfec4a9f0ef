package cronjob

import (
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// created is when test CronJobs were created: 2024-05-01 11:58:30 UTC.
var created = time.Date(2024, 5, 1, 11, 58, 30, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func testCronJob(mods ...func(*batchv1.CronJob)) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "hello", UID: "cj-uid", CreationTimestamp: metav1.Time{Time: created}},
		Spec: batchv1.CronJobSpec{
			Schedule:                   "* * * * *",
			TimeZone:                   ptr("UTC"),
			ConcurrencyPolicy:          batchv1.AllowConcurrent,
			SuccessfulJobsHistoryLimit: ptr[int32](3),
			FailedJobsHistoryLimit:     ptr[int32](1),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "hello"}, Annotations: map[string]string{"note": "x"}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyOnFailure, Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
				}}},
			},
		},
	}
	for _, m := range mods {
		m(cj)
	}
	return cj
}

// job is a Job of the test CronJob for the scheduled minute "hh:mm"
// (2024-05-01 UTC), in state "active", "complete" or "failed".
func job(hhmm, state string) *batchv1.Job {
	t := at("2024-05-01T" + hhmm + ":00Z")
	name := JobName("hello", t)
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{
		Namespace: "ns", Name: name, UID: types.UID("uid-" + name),
		CreationTimestamp: metav1.Time{Time: t},
		OwnerReferences:   []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: "hello", UID: "cj-uid", Controller: ptr(true)}},
	}}
	j.Status.StartTime = &metav1.Time{Time: t}
	switch state {
	case "complete":
		j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
		j.Status.CompletionTime = &metav1.Time{Time: t.Add(30 * time.Second)}
	case "failed":
		j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}
	}
	return j
}

func activeRefs(jobs ...*batchv1.Job) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) {
		for _, j := range jobs {
			cj.Status.Active = append(cj.Status.Active, jobRef(j))
		}
	}
}

func lastSchedule(s string) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) { cj.Status.LastScheduleTime = &metav1.Time{Time: at(s)} }
}

// summary renders the checked parts of a plan on one line.
func summary(p Plan) string {
	var b strings.Builder
	var active []string
	for _, r := range p.Status.Active {
		active = append(active, strings.TrimPrefix(r.Name, "hello-"))
	}
	fmt.Fprintf(&b, "active=[%s]", strings.Join(active, " "))
	if t := p.Status.LastScheduleTime; t != nil {
		fmt.Fprintf(&b, " last=%s", t.UTC().Format("15:04"))
	}
	if t := p.Status.LastSuccessfulTime; t != nil {
		fmt.Fprintf(&b, " success=%s", t.UTC().Format("15:04:05"))
	}
	if p.Create != nil {
		fmt.Fprintf(&b, " create=%s@%s", p.Create.Name, p.Create.Annotations[ScheduledTimestampAnnotation])
	}
	for _, j := range p.DeleteActive {
		fmt.Fprintf(&b, " replace=%s", strings.TrimPrefix(j.Name, "hello-"))
	}
	for _, j := range p.DeleteHistory {
		fmt.Fprintf(&b, " prune=%s", strings.TrimPrefix(j.Name, "hello-"))
	}
	for _, e := range p.Events {
		fmt.Fprintf(&b, " event=%s", e.Reason)
	}
	if p.RequeueAfter > 0 {
		fmt.Fprintf(&b, " requeue=%s", p.RequeueAfter)
	}
	return b.String()
}

func TestDecide(t *testing.T) {
	// Minutes since the epoch of 12:00 and later, for job names.
	m := func(hhmm string) string {
		return fmt.Sprint(at("2024-05-01T"+hhmm+":00Z").Unix() / 60)
	}
	for _, tc := range []struct {
		name string
		cj   *batchv1.CronJob
		jobs []*batchv1.Job
		now  string
		want string
	}{
		{"not due yet: requeue for the next minute",
			testCronJob(), nil, "2024-05-01T11:58:50Z",
			"active=[] requeue=10.1s"},
		{"due: a Job named for the minute",
			testCronJob(), nil, "2024-05-01T11:59:10Z",
			"active=[" + m("11:59") + "] last=11:59 create=hello-" + m("11:59") + "@2024-05-01T11:59:00Z requeue=50.1s"},
		{"several missed: only the latest starts",
			testCronJob(lastSchedule("2024-05-01T11:59:00Z")), nil, "2024-05-01T12:03:30Z",
			"active=[" + m("12:03") + "] last=12:03 create=hello-" + m("12:03") + "@2024-05-01T12:03:00Z requeue=30.1s"},
		{"more than 100 missed: warn, start the latest",
			testCronJob(lastSchedule("2024-05-01T11:59:00Z")), nil, "2024-05-01T14:00:00Z",
			"active=[" + m("14:00") + "] last=14:00 create=hello-" + m("14:00") + "@2024-05-01T14:00:00Z event=TooManyMissedTimes requeue=1m0.1s"},
		{"a starting deadline limits the count",
			testCronJob(lastSchedule("2024-05-01T11:59:00Z"), func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr[int64](300) }), nil, "2024-05-01T14:00:00Z",
			"active=[" + m("14:00") + "] last=14:00 create=hello-" + m("14:00") + "@2024-05-01T14:00:00Z requeue=1m0.1s"},
		{"past the starting deadline: missed",
			testCronJob(lastSchedule("2024-05-01T11:00:00Z"), func(cj *batchv1.CronJob) {
				cj.Spec.Schedule = "0 * * * *"
				cj.Spec.StartingDeadlineSeconds = ptr[int64](60)
			}), nil, "2024-05-01T12:02:00Z",
			"active=[] last=11:00 event=MissSchedule requeue=58m0.1s"},
		{"within the starting deadline",
			testCronJob(lastSchedule("2024-05-01T11:00:00Z"), func(cj *batchv1.CronJob) {
				cj.Spec.Schedule = "0 * * * *"
				cj.Spec.StartingDeadlineSeconds = ptr[int64](180)
			}), nil, "2024-05-01T12:02:00Z",
			"active=[" + m("12:00") + "] last=12:00 create=hello-" + m("12:00") + "@2024-05-01T12:00:00Z requeue=58m0.1s"},
		{"Allow: another Job beside the running one",
			testCronJob(lastSchedule("2024-05-01T12:00:00Z"), activeRefs(job("12:00", "active"))), []*batchv1.Job{job("12:00", "active")}, "2024-05-01T12:01:05Z",
			"active=[" + m("12:00") + " " + m("12:01") + "] last=12:01 create=hello-" + m("12:01") + "@2024-05-01T12:01:00Z requeue=55.1s"},
		{"Forbid: nothing while one runs",
			testCronJob(lastSchedule("2024-05-01T12:00:00Z"), activeRefs(job("12:00", "active")), func(cj *batchv1.CronJob) {
				cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
			}), []*batchv1.Job{job("12:00", "active")}, "2024-05-01T12:01:05Z",
			"active=[" + m("12:00") + "] last=12:00 event=JobAlreadyActive requeue=55.1s"},
		{"Forbid: the skipped time starts once the running Job is done",
			testCronJob(lastSchedule("2024-05-01T12:00:00Z"), activeRefs(job("12:00", "complete")), func(cj *batchv1.CronJob) {
				cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
			}), []*batchv1.Job{job("12:00", "complete")}, "2024-05-01T12:01:40Z",
			"active=[" + m("12:01") + "] last=12:01 success=12:00:30 create=hello-" + m("12:01") + "@2024-05-01T12:01:00Z event=SawCompletedJob requeue=20.1s"},
		{"Replace: the running Job goes",
			testCronJob(lastSchedule("2024-05-01T12:00:00Z"), activeRefs(job("12:00", "active")), func(cj *batchv1.CronJob) {
				cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent
			}), []*batchv1.Job{job("12:00", "active")}, "2024-05-01T12:01:05Z",
			"active=[" + m("12:01") + "] last=12:01 create=hello-" + m("12:01") + "@2024-05-01T12:01:00Z replace=" + m("12:00") + " requeue=55.1s"},
		{"the Job exists already (a lost status write): only recorded",
			testCronJob(lastSchedule("2024-05-01T12:00:00Z")), []*batchv1.Job{job("12:01", "active")}, "2024-05-01T12:01:05Z",
			"active=[" + m("12:01") + "] last=12:01 requeue=55.1s"},
		{"an active Job that is gone is dropped",
			testCronJob(lastSchedule("2024-05-01T12:01:00Z"), activeRefs(job("12:01", "active"))), nil, "2024-05-01T12:01:05Z",
			"active=[] last=12:01 event=MissingJob requeue=55.1s"},
		{"history limits: oldest finished Jobs beyond 3 successful and 1 failed",
			testCronJob(lastSchedule("2024-05-01T12:07:00Z"), activeRefs(job("12:06", "failed"), job("12:07", "active"))), []*batchv1.Job{
				job("12:00", "complete"), job("12:01", "failed"), job("12:02", "complete"), job("12:03", "complete"),
				job("12:04", "failed"), job("12:05", "complete"), job("12:06", "failed"), job("12:07", "active"),
			}, "2024-05-01T12:07:30Z",
			"active=[" + m("12:07") + "] last=12:07 success=12:05:30 prune=" + m("12:00") + " prune=" + m("12:01") + " prune=" + m("12:04") + " event=SawCompletedJob requeue=30.1s"},
		{"suspended: no Job, no requeue",
			testCronJob(func(cj *batchv1.CronJob) { cj.Spec.Suspend = ptr(true) }), nil, "2024-05-01T12:30:00Z",
			"active=[]"},
		{"time zone: 09:00 in Tokyo is 00:00 UTC",
			testCronJob(func(cj *batchv1.CronJob) { cj.Spec.Schedule = "0 9 * * *"; cj.Spec.TimeZone = ptr("Asia/Tokyo") }), nil, "2024-05-02T00:00:30Z",
			"active=[" + fmt.Sprint(at("2024-05-02T00:00:00Z").Unix()/60) + "] last=00:00 create=hello-" + fmt.Sprint(at("2024-05-02T00:00:00Z").Unix()/60) + "@2024-05-02T09:00:00+09:00 requeue=23h59m30.1s"},
		{"unknown time zone",
			testCronJob(func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr("Mars/Olympus_Mons") }), nil, "2024-05-01T12:30:00Z",
			"active=[] event=UnknownTimeZone"},
		{"unparseable schedule",
			testCronJob(func(cj *batchv1.CronJob) { cj.Spec.Schedule = "61 * * * *" }), nil, "2024-05-01T12:30:00Z",
			"active=[] event=UnparseableSchedule"},
		{"@every counts from the last schedule",
			testCronJob(lastSchedule("2024-05-01T12:00:00Z"), func(cj *batchv1.CronJob) { cj.Spec.Schedule = "@every 10m" }), nil, "2024-05-01T12:25:00Z",
			"active=[" + m("12:20") + "] last=12:20 create=hello-" + m("12:20") + "@2024-05-01T12:20:00Z requeue=10m0.1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := summary(Decide(tc.cj, tc.jobs, at(tc.now)))
			if got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestJobFor(t *testing.T) {
	cj := testCronJob()
	p := Decide(cj, nil, at("2024-05-01T12:00:10Z"))
	j := p.Create
	if j == nil {
		t.Fatal("no job")
	}
	ref := metav1.GetControllerOf(j)
	if ref == nil || ref.UID != cj.UID || ref.Kind != "CronJob" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("owner %+v", ref)
	}
	if j.Labels["app"] != "hello" || j.Annotations["note"] != "x" || j.Spec.Template.Spec.Containers[0].Image != "busybox" {
		t.Errorf("job %+v", j)
	}
	if _, ok := cj.Spec.JobTemplate.Annotations[ScheduledTimestampAnnotation]; ok {
		t.Error("the template was modified")
	}
	if p.Status.LastScheduleTime == nil || !p.Status.LastScheduleTime.Equal(&metav1.Time{Time: at("2024-05-01T12:00:00Z")}) {
		t.Errorf("lastScheduleTime %v", p.Status.LastScheduleTime)
	}
}
