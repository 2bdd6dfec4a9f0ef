package kinds

import (
	"reflect"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const piJob = `
apiVersion: batch/v1
kind: Job
metadata:
  name: pi
  namespace: default
  uid: 0b7a3c1e-1111-2222-3333-444455556666
spec:
  template:
    spec:
      containers:
      - name: pi
        image: perl:5.34.0
        command: ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]
      restartPolicy: Never
  backoffLimit: 4
`

// The spec kube-apiserver stores for piJob.
const piJobStored = `
parallelism: 1
completions: 1
backoffLimit: 4
completionMode: NonIndexed
suspend: false
podReplacementPolicy: TerminatingOrFailed
manualSelector: null
selector:
  matchLabels:
    batch.kubernetes.io/controller-uid: 0b7a3c1e-1111-2222-3333-444455556666
template:
  metadata:
    labels:
      batch.kubernetes.io/controller-uid: 0b7a3c1e-1111-2222-3333-444455556666
      batch.kubernetes.io/job-name: pi
      controller-uid: 0b7a3c1e-1111-2222-3333-444455556666
      job-name: pi
  spec:
    containers:
    - name: pi
      image: perl:5.34.0
      command: ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]
      imagePullPolicy: IfNotPresent
      resources: {}
      terminationMessagePath: /dev/termination-log
      terminationMessagePolicy: File
    dnsPolicy: ClusterFirst
    restartPolicy: Never
    schedulerName: default-scheduler
    securityContext: {}
    terminationGracePeriodSeconds: 30
`

func newJob(t *testing.T) (*Kind, *batchv1.Job) {
	k := kindByName(t, "Job")
	j := decode(t, k, piJob).(*batchv1.Job)
	k.Default(j)
	k.PrepareForCreate(j)
	return k, j
}

func TestJobDefaultsAndGeneratedSelector(t *testing.T) {
	k, j := newJob(t)
	var want batchv1.JobSpec
	decodeInto(t, piJobStored, &want)
	if got, w := toJSONMap(t, j.Spec), toJSONMap(t, want); !reflect.DeepEqual(got, w) {
		t.Errorf("stored job spec\n got %v\nwant %v", got, w)
	}
	assertErrors(t, k.Validate(j), nil)
}

func TestJobDefaultsTable(t *testing.T) {
	cases := []struct {
		name                     string
		completions, parallelism *int32
		wantC, wantP             *int32
	}{
		{"both unset", nil, nil, ptr[int32](1), ptr[int32](1)},
		{"completions only", ptr[int32](5), nil, ptr[int32](5), ptr[int32](1)},
		{"parallelism only (work queue)", nil, ptr[int32](3), nil, ptr[int32](3)},
	}
	for _, c := range cases {
		j := &batchv1.Job{Spec: batchv1.JobSpec{Completions: c.completions, Parallelism: c.parallelism}}
		defaultJob(j)
		if !reflect.DeepEqual(j.Spec.Completions, c.wantC) || !reflect.DeepEqual(j.Spec.Parallelism, c.wantP) {
			t.Errorf("%s: completions %v parallelism %v", c.name, j.Spec.Completions, j.Spec.Parallelism)
		}
		if *j.Spec.BackoffLimit != 6 {
			t.Errorf("%s: backoffLimit %d", c.name, *j.Spec.BackoffLimit)
		}
	}
	j := &batchv1.Job{Spec: batchv1.JobSpec{PodFailurePolicy: &batchv1.PodFailurePolicy{}}}
	defaultJob(j)
	if *j.Spec.PodReplacementPolicy != batchv1.Failed {
		t.Errorf("with a pod failure policy: podReplacementPolicy %s", *j.Spec.PodReplacementPolicy)
	}
}

func TestJobManualSelector(t *testing.T) {
	k := kindByName(t, "Job")
	j := decode(t, k, piJob).(*batchv1.Job)
	j.Spec.ManualSelector = ptr(true)
	k.Default(j)
	k.PrepareForCreate(j)
	if j.Spec.Selector != nil || j.Spec.Template.Labels != nil {
		t.Errorf("manual selector: server generated %v / %v", j.Spec.Selector, j.Spec.Template.Labels)
	}
	assertErrors(t, k.Validate(j), []string{"spec.selector: Required value"})
}

func TestJobValidation(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(j *batchv1.Job)
		want   []string
	}{
		{"restart always", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways },
			[]string{`spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"`}},
		{"negative parallelism", func(j *batchv1.Job) { j.Spec.Parallelism = ptr[int32](-1) },
			[]string{"spec.parallelism: Invalid value: -1: must be greater than or equal to 0"}},
		{"indexed without completions", func(j *batchv1.Job) {
			j.Spec.CompletionMode, j.Spec.Completions = ptr(batchv1.IndexedCompletion), nil
		}, []string{"spec.completions: Required value: when completion mode is Indexed"}},
		{"label changed", func(j *batchv1.Job) { j.Spec.Template.Labels["batch.kubernetes.io/job-name"] = "other" },
			[]string{"spec.template.metadata.labels[batch.kubernetes.io/job-name]: Invalid value: ", `"batch.kubernetes.io/job-name":"other"`, "must be 'pi'"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, j := newJob(t)
			c.mutate(j)
			assertErrors(t, k.Validate(j), c.want)
		})
	}
}

func TestJobUpdate(t *testing.T) {
	k, old := newJob(t)
	j := old.DeepCopy()
	j.Spec.Parallelism = ptr[int32](3)
	j.Spec.ActiveDeadlineSeconds = ptr[int64](60)
	assertErrors(t, k.ValidateUpdate(j, old), nil)

	j = old.DeepCopy()
	j.Spec.Template.Spec.Containers[0].Image = "perl:6"
	assertErrors(t, k.ValidateUpdate(j, old), []string{"spec.template: Invalid value: ", "field is immutable"})

	j = old.DeepCopy()
	j.Spec.Selector.MatchLabels["x"] = "y"
	assertErrors(t, k.ValidateUpdate(j, old), []string{"spec.selector: Invalid value: ", "field is immutable"})

	// A suspended job that never started may change scheduling directives.
	old.Spec.Suspend = ptr(true)
	j = old.DeepCopy()
	j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"}
	assertErrors(t, k.ValidateUpdate(j, old), nil)
}

func TestJobCells(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	_, j := newJob(t)
	j.CreationTimestamp = metav1.NewTime(now.Add(-10 * time.Minute))
	j.Status.StartTime = &metav1.Time{Time: now.Add(-9 * time.Minute)}
	j.Status.CompletionTime = &metav1.Time{Time: now.Add(-8*time.Minute - 15*time.Second)}
	j.Status.Succeeded = 1
	j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	got := jobCells(j, now)
	want := []interface{}{"pi", "Complete", "1/1", "45s", "10m", "pi", "perl:5.34.0", "batch.kubernetes.io/controller-uid=0b7a3c1e-1111-2222-3333-444455556666"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cells %#v\nwant  %#v", got, want)
	}
}

const helloCronJob = `
apiVersion: batch/v1
kind: CronJob
metadata:
  name: hello
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: hello
            image: busybox:1.28
          restartPolicy: OnFailure
`

func TestCronJob(t *testing.T) {
	k := kindByName(t, "CronJob")
	cj := decode(t, k, helloCronJob).(*batchv1.CronJob)
	k.Default(cj)
	s := cj.Spec
	if s.ConcurrencyPolicy != batchv1.AllowConcurrent || *s.Suspend || *s.SuccessfulJobsHistoryLimit != 3 || *s.FailedJobsHistoryLimit != 1 {
		t.Errorf("cronjob defaults %+v", s)
	}
	if js := s.JobTemplate.Spec; js.BackoffLimit != nil || js.Template.Spec.DNSPolicy != corev1.DNSClusterFirst {
		t.Errorf("job template: Job fields defaulted or pod template not: %+v", js)
	}
	assertErrors(t, k.Validate(cj), nil)

	bad := cj.DeepCopy()
	bad.Spec.Schedule = "every minute"
	bad.Spec.ConcurrencyPolicy = "Sometimes"
	bad.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
	assertErrors(t, k.Validate(bad), []string{
		`spec.schedule: Invalid value: "every minute"`,
		`spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"`,
		"spec.jobTemplate.spec.selector: Invalid value: ", "`selector` will be auto-generated",
	})
	for _, sched := range []string{"@hourly", "*/5 * * * *", "0 0 1-15 JAN,FEB MON-FRI", "@every 1h30m"} {
		if msg := cronScheduleError(sched); msg != "" {
			t.Errorf("schedule %q rejected: %s", sched, msg)
		}
	}
	for _, sched := range []string{"99 * * * *", "0 0 30 2 *", "@reboot", "* * * * * *", "CRON_TZ=UTC 0 0 * * *"} {
		if msg := cronScheduleError(sched); msg == "" {
			t.Errorf("schedule %q accepted", sched)
		}
	}
	tz := cj.DeepCopy()
	tz.Spec.TimeZone = ptr("America/New_York")
	assertErrors(t, k.Validate(tz), nil)
	for _, zone := range []string{"", "Local", "Mars/Olympus_Mons"} {
		tz.Spec.TimeZone = ptr(zone)
		assertErrors(t, k.Validate(tz), []string{"spec.timeZone: Invalid value: "})
	}
	if msgs := k.ValidateName("a-name-that-is-rather-long-for-a-cronjob-by-any-measure", false); len(msgs) == 0 {
		t.Error("cronjob name over 52 characters accepted")
	}
}
