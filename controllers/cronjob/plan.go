package cronjob

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/kelson-dev/kelson/internal/cron"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ScheduledTimestampAnnotation is set on every Job a CronJob creates: the
// scheduled time it runs for, RFC 3339 in the CronJob's time zone.
const ScheduledTimestampAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp"

// MaxMissed is how many missed schedules a sync tolerates before it
// warns with TooManyMissedTimes (it still starts the latest).
const MaxMissed = 100

// nextScheduleDelta is added to a requeue for the next schedule, so the
// sync runs just after the time, not just before.
const nextScheduleDelta = 100 * time.Millisecond

// Event is an Event the sync records on the CronJob.
type Event struct {
	Type, Reason, Message string
}

// Plan is what one sync of a CronJob does, decided by Decide. The sync
// applies it in this order: delete DeleteActive (Replace), create Create,
// write Status (conditionally on the CronJob's resourceVersion), record
// Events, delete DeleteHistory, requeue after RequeueAfter.
type Plan struct {
	// Status is the new status. If Create is set, Status.Active already
	// lists it (its UID filled in by the sync once created).
	Status batchv1.CronJobStatus
	// Create is the Job to create for ScheduledTime, or nil.
	Create        *batchv1.Job
	ScheduledTime time.Time
	// DeleteActive are running Jobs replaced (concurrencyPolicy Replace).
	DeleteActive []*batchv1.Job
	// DeleteHistory are finished Jobs beyond the history limits.
	DeleteHistory []*batchv1.Job
	Events        []Event
	// RequeueAfter > 0: sync again then (the next schedule time).
	RequeueAfter time.Duration
}

// Decide decides one sync of cj given the Jobs it controls (by
// ownerReference UID) and the time. It is pure.
func Decide(cj *batchv1.CronJob, jobs []*batchv1.Job, now time.Time) Plan {
	var p Plan
	st := cj.Status.DeepCopy()

	// 1. Reconcile the active list with the Jobs that exist.
	byUID := map[types.UID]*batchv1.Job{}
	for _, j := range jobs {
		byUID[j.UID] = j
	}
	var active []corev1.ObjectReference
	wasActive := map[types.UID]bool{}
	for _, ref := range st.Active {
		wasActive[ref.UID] = true
		j := byUID[ref.UID]
		switch {
		case j == nil:
			p.Events = append(p.Events, Event{corev1.EventTypeWarning, "MissingJob", "Active job went missing: " + ref.Name})
		case finishedType(j) != "":
			p.Events = append(p.Events, Event{corev1.EventTypeNormal, "SawCompletedJob",
				fmt.Sprintf("Saw completed job: %s, condition: %s", j.Name, finishedType(j))})
		}
	}
	sorted := slices.Clone(jobs)
	sortByStart(sorted)
	var succeeded, failed []*batchv1.Job
	for _, j := range sorted {
		switch finishedType(j) {
		case "":
			if j.DeletionTimestamp == nil {
				active = append(active, jobRef(j))
			}
		case batchv1.JobComplete:
			if j.Status.CompletionTime != nil && (st.LastSuccessfulTime == nil || j.Status.CompletionTime.After(st.LastSuccessfulTime.Time)) {
				t := *j.Status.CompletionTime
				st.LastSuccessfulTime = &t
			}
			if j.DeletionTimestamp == nil {
				succeeded = append(succeeded, j)
			}
		default:
			if j.DeletionTimestamp == nil {
				failed = append(failed, j)
			}
		}
	}
	// Keep the order of the old list for Jobs still in it, new ones after.
	sort.SliceStable(active, func(i, k int) bool { return wasActive[active[i].UID] && !wasActive[active[k].UID] })
	st.Active = active

	// 2. History: keep the newest successful and failed Jobs up to the
	// limits.
	p.DeleteHistory = append(overLimit(succeeded, cj.Spec.SuccessfulJobsHistoryLimit), overLimit(failed, cj.Spec.FailedJobsHistoryLimit)...)

	finish := func() Plan {
		if len(st.Active) == 0 {
			st.Active = nil
		}
		p.Status = *st
		return p
	}
	if cj.DeletionTimestamp != nil || (cj.Spec.Suspend != nil && *cj.Spec.Suspend) {
		return finish()
	}

	// 3. The schedule.
	loc := time.Local
	if tz := cj.Spec.TimeZone; tz != nil {
		var err error
		if loc, err = cron.LoadLocation(*tz); err != nil {
			p.Events = append(p.Events, Event{corev1.EventTypeWarning, "UnknownTimeZone", fmt.Sprintf("invalid timeZone: %q: %v", *tz, err)})
			return finish()
		}
	}
	sched, err := cron.Parse(cj.Spec.Schedule, loc)
	if err != nil {
		p.Events = append(p.Events, Event{corev1.EventTypeWarning, "UnparseableSchedule", fmt.Sprintf("unparseable schedule: %q : %v", cj.Spec.Schedule, err)})
		return finish()
	}
	if next := sched.Next(now); !next.IsZero() {
		p.RequeueAfter = next.Sub(now) + nextScheduleDelta
	}

	earliest := cj.CreationTimestamp.Time
	if st.LastScheduleTime != nil {
		earliest = st.LastScheduleTime.Time
	}
	windowStart := earliest
	if sds := cj.Spec.StartingDeadlineSeconds; sds != nil {
		if ds := now.Add(-time.Duration(*sds) * time.Second); ds.After(windowStart) {
			windowStart = ds
		}
	}
	scheduled, count, due := sched.Latest(windowStart, now, MaxMissed)
	if !due {
		if windowStart.After(earliest) {
			if missed, _, ok := sched.Latest(earliest, windowStart, 0); ok {
				p.Events = append(p.Events, Event{corev1.EventTypeWarning, "MissSchedule",
					"Missed scheduled time to start a job: " + missed.In(loc).Format(time.RFC1123Z)})
			}
		}
		return finish()
	}
	if count > MaxMissed {
		p.Events = append(p.Events, Event{corev1.EventTypeWarning, "TooManyMissedTimes",
			fmt.Sprintf("too many missed start times: more than %d. Set or decrease .spec.startingDeadlineSeconds or check clock skew", MaxMissed)})
	}
	lastSchedule := metav1.Time{Time: scheduled}
	name := JobName(cj.Name, scheduled)
	for _, j := range jobs {
		if j.Name == name {
			// Created before (the status write was lost): just record it.
			st.LastScheduleTime = &lastSchedule
			return finish()
		}
	}

	// 4. Concurrency.
	if len(st.Active) > 0 {
		switch cj.Spec.ConcurrencyPolicy {
		case batchv1.ForbidConcurrent:
			p.Events = append(p.Events, Event{corev1.EventTypeNormal, "JobAlreadyActive",
				"Not starting job because prior execution is running and concurrency policy is Forbid"})
			return finish()
		case batchv1.ReplaceConcurrent:
			for _, ref := range st.Active {
				if j := byUID[ref.UID]; j != nil {
					p.DeleteActive = append(p.DeleteActive, j)
				}
			}
			st.Active = nil
		}
	}

	// 5. Start the Job for the scheduled time.
	p.Create = jobFor(cj, name, scheduled, loc)
	p.ScheduledTime = scheduled
	st.LastScheduleTime = &lastSchedule
	st.Active = append(st.Active, corev1.ObjectReference{
		Kind: "Job", APIVersion: "batch/v1", Namespace: cj.Namespace, Name: name,
	})
	return finish()
}

// JobName is the name of the Job a CronJob starts for a scheduled time:
// <cronjob>-<minutes since the epoch>, the same in every controller, so a
// second create of it is refused.
func JobName(cronJob string, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cronJob, scheduled.Unix()/60)
}

// jobFor builds the Job of cj for a scheduled time from its job template.
func jobFor(cj *batchv1.CronJob, name string, scheduled time.Time, loc *time.Location) *batchv1.Job {
	tmpl := cj.Spec.JobTemplate.DeepCopy()
	annotations := map[string]string{}
	maps.Copy(annotations, tmpl.Annotations)
	annotations[ScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       cj.Namespace,
			Name:            name,
			Labels:          tmpl.Labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, batchv1.SchemeGroupVersion.WithKind("CronJob"))},
		},
		Spec: tmpl.Spec,
	}
}

func jobRef(j *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{
		Kind: "Job", APIVersion: "batch/v1", Namespace: j.Namespace, Name: j.Name,
		UID: j.UID, ResourceVersion: j.ResourceVersion,
	}
}

// finishedType is Complete or Failed when the Job has finished, else "".
func finishedType(j *batchv1.Job) batchv1.JobConditionType {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type
		}
	}
	return ""
}

// sortByStart orders Jobs oldest first: by status.startTime (a Job that
// never started first), then creation, then name.
func sortByStart(jobs []*batchv1.Job) {
	start := func(j *batchv1.Job) time.Time {
		if j.Status.StartTime != nil {
			return j.Status.StartTime.Time
		}
		return time.Time{}
	}
	sort.SliceStable(jobs, func(i, k int) bool {
		a, b := jobs[i], jobs[k]
		if sa, sb := start(a), start(b); !sa.Equal(sb) {
			return sa.Before(sb)
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

// overLimit returns the oldest Jobs beyond the newest limit (jobs sorted
// oldest first); a nil limit keeps all.
func overLimit(jobs []*batchv1.Job, limit *int32) []*batchv1.Job {
	if limit == nil || int(*limit) >= len(jobs) {
		return nil
	}
	return jobs[:len(jobs)-int(max(*limit, 0))]
}
