package job

import (
	"fmt"
	"slices"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Config tunes the Job controller. Zero values mean the defaults.
type Config struct {
	// BackoffBase is the delay before creating pods again after one
	// failure; it doubles with each consecutive failure. Default 10 s.
	BackoffBase time.Duration
	// BackoffMax caps the delay. Default 6 min.
	BackoffMax time.Duration
	// Workers is the number of Jobs synced at once. Default 5.
	Workers int
}

func (c Config) withDefaults() Config {
	if c.BackoffBase <= 0 {
		c.BackoffBase = 10 * time.Second
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 6 * time.Minute
	}
	if c.Workers <= 0 {
		c.Workers = 5
	}
	return c
}

// Condition reasons and messages, as Kubernetes writes them.
const (
	reasonCompletionsReached   = "CompletionsReached"
	reasonBackoffLimitExceeded = "BackoffLimitExceeded"
	reasonDeadlineExceeded     = "DeadlineExceeded"
	reasonSuspended            = "JobSuspended"
	reasonResumed              = "JobResumed"

	msgCompletionsReached   = "Reached expected number of succeeded pods"
	msgBackoffLimitExceeded = "Job has reached the specified backoff limit"
	msgDeadlineExceeded     = "Job was active longer than specified deadline"
)

// Event is an Event the sync records on the Job once the plan's status is
// written.
type Event struct {
	Type, Reason, Message string
}

// Plan is what one sync of a Job does, decided by Decide from a snapshot.
// The sync applies it in this order: write Status (conditionally on the
// Job's resourceVersion; nothing else happens if that fails), record
// Events, remove the tracking finalizer from RemoveFinalizers, delete
// Delete, create Create pods (or one per CreateIndexes), requeue after
// RequeueAfter.
type Plan struct {
	// Status is the Job's new status (equal to the old when unchanged).
	Status batchv1.JobStatus
	// NewlyUncounted is how many finished pods this plan records in
	// status.uncountedTerminatedPods for the first time.
	NewlyUncounted int
	// RemoveFinalizers: pods whose tracking finalizer may go once Status
	// is written (their result is recorded, or they are not counted).
	RemoveFinalizers []*corev1.Pod
	// Delete: active pods to delete, for DeleteReason.
	Delete       []*corev1.Pod
	DeleteReason string
	// Create is how many pods to create (NonIndexed).
	Create int
	// CreateIndexes are the indexes to create pods for (Indexed).
	CreateIndexes []int
	Events        []Event
	// RequeueAfter > 0 asks for a sync after that long (a deadline or the
	// end of a back-off).
	RequeueAfter time.Duration
	// BackoffFailures is the number of consecutive failures the plan is
	// waiting out (0 when not backing off); the sync records the BackOff
	// event once per value.
	BackoffFailures int
}

// Decide is the Job controller's decision for job given the pods it
// controls (by ownerReference) and the time. It is pure.
//
// Counting (see the package documentation): a finished pod carrying the
// tracking finalizer and not yet in status.uncountedTerminatedPods is
// added there; a pod listed there that no longer carries the finalizer
// (or is gone) moves into status.succeeded/failed. Pods without the
// finalizer and not listed are already counted and ignored.
func Decide(job *batchv1.Job, pods []*corev1.Pod, now time.Time, cfg Config) Plan {
	cfg = cfg.withDefaults()
	var p Plan
	st := job.Status.DeepCopy()
	if st.UncountedTerminatedPods == nil {
		st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	spec := &job.Spec
	parallelism := int32(1)
	if spec.Parallelism != nil {
		parallelism = *spec.Parallelism
	}
	backoffLimit := int32(6)
	if spec.BackoffLimit != nil {
		backoffLimit = *spec.BackoffLimit
	}
	indexed := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion && spec.Completions != nil
	suspended := spec.Suspend != nil && *spec.Suspend
	replaceOnlyFailed := spec.PodReplacementPolicy != nil && *spec.PodReplacementPolicy == batchv1.Failed
	finished := conditionTrue(st, batchv1.JobComplete) || conditionTrue(st, batchv1.JobFailed)
	target := targetCondition(st)

	byUID := make(map[types.UID]*corev1.Pod, len(pods))
	for _, pod := range pods {
		byUID[pod.UID] = pod
	}

	// 1. Settle uncounted pods whose finalizer is gone.
	settle := func(uids []types.UID, counter *int32) []types.UID {
		var keep []types.UID
		for _, uid := range uids {
			if pod := byUID[uid]; pod != nil && hasFinalizer(pod) {
				keep = append(keep, uid)
				p.RemoveFinalizers = append(p.RemoveFinalizers, pod)
				continue
			}
			*counter++
		}
		return keep
	}
	unc := st.UncountedTerminatedPods
	listed := map[types.UID]bool{}
	for _, uid := range slices.Concat(unc.Succeeded, unc.Failed) {
		listed[uid] = true
	}
	unc.Succeeded = settle(unc.Succeeded, &st.Succeeded)
	unc.Failed = settle(unc.Failed, &st.Failed)

	// 2. Classify the pods and record newly finished ones.
	completed := indexSet{}
	if indexed {
		completed = parseIndexes(st.CompletedIndexes, int(*spec.Completions))
	}
	markDone := func(pod *corev1.Pod) {
		if ix := podIndex(pod); indexed && ix >= 0 && ix < int(*spec.Completions) {
			completed[ix] = true
		}
	}
	var active []*corev1.Pod
	var ready, terminating, onFailureRestarts int32
	var finishedPods []*corev1.Pod
	record := func(pod *corev1.Pod, succeeded bool) {
		if finished {
			p.RemoveFinalizers = append(p.RemoveFinalizers, pod)
			return
		}
		if succeeded {
			unc.Succeeded = append(unc.Succeeded, pod.UID)
			markDone(pod)
		} else {
			unc.Failed = append(unc.Failed, pod.UID)
		}
		p.NewlyUncounted++
		p.RemoveFinalizers = append(p.RemoveFinalizers, pod)
	}
	for _, pod := range pods {
		tracked := hasFinalizer(pod) && !listed[pod.UID]
		deleting := pod.DeletionTimestamp != nil
		switch {
		case pod.Status.Phase == corev1.PodSucceeded:
			finishedPods = append(finishedPods, pod)
			if tracked {
				record(pod, true)
			} else if listed[pod.UID] {
				markDone(pod) // recorded before; its index is in already
			}
		case deleting && suspended && target == nil:
			// Stopped by the suspension: not a failure.
			if pod.Status.Phase != corev1.PodFailed {
				terminating++
			}
			if tracked {
				p.RemoveFinalizers = append(p.RemoveFinalizers, pod)
			}
		case pod.Status.Phase == corev1.PodFailed:
			finishedPods = append(finishedPods, pod)
			if tracked {
				record(pod, false)
			}
		case deleting:
			// A pod deleted before it finished counts as failed (it may
			// never reach a phase), unless the Job only replaces pods
			// that reached Failed: then wait for the phase.
			terminating++
			if tracked && (!replaceOnlyFailed || finished) {
				record(pod, false)
			}
		default:
			active = append(active, pod)
			if podReady(pod) {
				ready++
			}
			onFailureRestarts += restarts(pod)
		}
	}
	succeeded := st.Succeeded + int32(len(unc.Succeeded))
	failed := st.Failed + int32(len(unc.Failed))
	if indexed {
		st.CompletedIndexes = completed.String()
	}

	setStatusCounts := func() {
		st.Active = int32(len(active))
		st.Ready = &ready
		st.Terminating = &terminating
		if len(unc.Succeeded) == 0 {
			unc.Succeeded = nil
		}
		if len(unc.Failed) == 0 {
			unc.Failed = nil
		}
		p.Status = *st
	}

	// 3. A finished Job only lets go of its pods.
	if finished {
		p.Delete, p.DeleteReason = active, "the Job is finished"
		setStatusCounts()
		return p
	}

	// 4. Decide success or failure, once.
	if target == nil {
		switch {
		case failed > backoffLimit || pastBackoffLimitOnFailure(job, onFailureRestarts, backoffLimit):
			target = setCondition(st, batchv1.JobFailureTarget, corev1.ConditionTrue, reasonBackoffLimitExceeded, msgBackoffLimitExceeded, now)
			p.Events = append(p.Events, Event{corev1.EventTypeWarning, reasonBackoffLimitExceeded, msgBackoffLimitExceeded})
		case !suspended && !conditionTrue(st, batchv1.JobSuspended) && spec.ActiveDeadlineSeconds != nil && st.StartTime != nil &&
			!now.Before(st.StartTime.Add(time.Duration(*spec.ActiveDeadlineSeconds)*time.Second)):
			target = setCondition(st, batchv1.JobFailureTarget, corev1.ConditionTrue, reasonDeadlineExceeded, msgDeadlineExceeded, now)
			p.Events = append(p.Events, Event{corev1.EventTypeWarning, reasonDeadlineExceeded, msgDeadlineExceeded})
		case succeededEnough(spec, indexed, succeeded, completed, len(active)):
			target = setCondition(st, batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, reasonCompletionsReached, msgCompletionsReached, now)
		}
	}

	// 5. Once decided: stop what runs, wait until every pod is counted,
	// then finish.
	if target != nil {
		if len(active) > 0 {
			p.Delete = active
			if target.Type == batchv1.JobSuccessCriteriaMet {
				p.DeleteReason = "the Job's success criteria are met"
			} else {
				p.DeleteReason = "the Job failed: " + target.Reason
			}
		}
		if len(active) == 0 && len(unc.Succeeded) == 0 && len(unc.Failed) == 0 && !anyFinalizer(pods, p.RemoveFinalizers) {
			if target.Type == batchv1.JobSuccessCriteriaMet {
				setCondition(st, batchv1.JobComplete, corev1.ConditionTrue, target.Reason, target.Message, now)
				st.CompletionTime = &metav1.Time{Time: now}
				p.Events = append(p.Events, Event{corev1.EventTypeNormal, "Completed", "Job completed"})
			} else {
				setCondition(st, batchv1.JobFailed, corev1.ConditionTrue, target.Reason, target.Message, now)
			}
		}
		setStatusCounts()
		return p
	}

	// 6. Suspension.
	if suspended {
		if !conditionTrue(st, batchv1.JobSuspended) {
			setCondition(st, batchv1.JobSuspended, corev1.ConditionTrue, reasonSuspended, "Job suspended", now)
			p.Events = append(p.Events, Event{corev1.EventTypeNormal, "Suspended", "Job suspended"})
		}
		p.Delete, p.DeleteReason = active, "the Job is suspended"
		setStatusCounts()
		return p
	}
	if conditionTrue(st, batchv1.JobSuspended) {
		setCondition(st, batchv1.JobSuspended, corev1.ConditionFalse, reasonResumed, "Job resumed", now)
		st.StartTime = &metav1.Time{Time: now}
		p.Events = append(p.Events, Event{corev1.EventTypeNormal, "Resumed", "Job resumed"})
	}
	if st.StartTime == nil {
		st.StartTime = &metav1.Time{Time: now}
	}
	if spec.ActiveDeadlineSeconds != nil {
		p.RequeueAfter = st.StartTime.Add(time.Duration(*spec.ActiveDeadlineSeconds) * time.Second).Sub(now)
	}

	// 7. Pods to create or delete.
	occupied := int32(len(active))
	if replaceOnlyFailed {
		occupied += terminating
	}
	var create int
	if indexed {
		var keep []*corev1.Pod
		keep, p.Delete = indexedActive(active, completed, int(*spec.Completions))
		p.DeleteReason = "its completion index is done, out of range or taken by another pod"
		want := min(parallelism, *spec.Completions-int32(len(completed)))
		running := map[int]bool{}
		for _, pod := range keep {
			running[podIndex(pod)] = true
		}
		if replaceOnlyFailed {
			for _, pod := range pods {
				if pod.DeletionTimestamp != nil && pod.Status.Phase != corev1.PodFailed && pod.Status.Phase != corev1.PodSucceeded {
					running[podIndex(pod)] = true
				}
			}
		}
		occupied += int32(len(keep) - len(active))
		if extra := int32(len(keep)) - want; extra > 0 {
			sortForDeletion(keep)
			p.Delete = append(p.Delete, keep[:extra]...)
			p.DeleteReason = "more pods run than parallelism allows"
		}
		for ix := 0; ix < int(*spec.Completions) && int32(len(p.CreateIndexes))+occupied < want; ix++ {
			if !completed[ix] && !running[ix] {
				p.CreateIndexes = append(p.CreateIndexes, ix)
			}
		}
		create = len(p.CreateIndexes)
	} else {
		var want int32
		switch {
		case spec.Completions != nil:
			want = max(0, min(parallelism, *spec.Completions-succeeded))
		case succeeded > 0:
			// Work queue: one success means the work is done; let the
			// running pods finish, start none.
			want = min(int32(len(active)), parallelism)
		default:
			want = parallelism
		}
		if occupied < want {
			p.Create = int(want - occupied)
		}
		if extra := int32(len(active)) - want; extra > 0 {
			sorted := slices.Clone(active)
			sortForDeletion(sorted)
			p.Delete, p.DeleteReason = sorted[:extra], "more pods run than parallelism allows"
		}
		create = p.Create
	}

	// 8. Back-off after failures.
	if create > 0 {
		if n, last := consecutiveFailures(finishedPods); n > 0 {
			delay := cfg.BackoffBase
			for i := 1; i < n && delay < cfg.BackoffMax; i++ {
				delay *= 2
			}
			delay = min(delay, cfg.BackoffMax)
			if wait := last.Add(delay).Sub(now); wait > 0 {
				p.Create, p.CreateIndexes = 0, nil
				p.BackoffFailures = n
				p.Events = append(p.Events, Event{corev1.EventTypeNormal, "BackOff",
					fmt.Sprintf("Back-off %s before creating pods after %d consecutive failed pods", delay, n)})
				if p.RequeueAfter <= 0 || wait < p.RequeueAfter {
					p.RequeueAfter = wait
				}
			}
		}
	}
	setStatusCounts()
	return p
}

// succeededEnough: the Job's success criteria hold.
func succeededEnough(spec *batchv1.JobSpec, indexed bool, succeeded int32, completed indexSet, active int) bool {
	switch {
	case indexed:
		return int32(len(completed)) >= *spec.Completions
	case spec.Completions != nil:
		return succeeded >= *spec.Completions
	default:
		return succeeded > 0 && active == 0
	}
}

// pastBackoffLimitOnFailure: with restartPolicy OnFailure, failures restart
// containers in place; their restarts count against the back-off limit.
func pastBackoffLimitOnFailure(job *batchv1.Job, restarts, limit int32) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	if limit == 0 {
		return restarts > 0
	}
	return restarts >= limit
}

// indexedActive splits an Indexed Job's active pods into those to keep
// (one per open index, the oldest) and those to delete (no valid index,
// index done or out of range, or a second pod for an index).
func indexedActive(active []*corev1.Pod, completed indexSet, completions int) (keep, drop []*corev1.Pod) {
	sorted := slices.Clone(active)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
	seen := map[int]bool{}
	for _, pod := range sorted {
		ix := podIndex(pod)
		if ix < 0 || ix >= completions || completed[ix] || seen[ix] {
			drop = append(drop, pod)
			continue
		}
		seen[ix] = true
		keep = append(keep, pod)
	}
	return keep, drop
}

// consecutiveFailures counts the failed pods since the last succeeded one
// (by finish time) and when the latest of them failed.
func consecutiveFailures(finished []*corev1.Pod) (int, time.Time) {
	sorted := slices.Clone(finished)
	sort.SliceStable(sorted, func(i, j int) bool { return finishTime(sorted[i]).After(finishTime(sorted[j])) })
	n := 0
	var last time.Time
	for _, pod := range sorted {
		if pod.Status.Phase == corev1.PodSucceeded {
			break
		}
		if n == 0 {
			last = finishTime(pod)
		}
		n++
	}
	return n, last
}

// anyFinalizer: some pod still carries the tracking finalizer and is not
// being released by this plan without a count.
func anyFinalizer(pods []*corev1.Pod, releasing []*corev1.Pod) bool {
	for _, pod := range pods {
		if hasFinalizer(pod) && !slices.Contains(releasing, pod) {
			return true
		}
	}
	return false
}

func conditionTrue(st *batchv1.JobStatus, t batchv1.JobConditionType) bool {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// targetCondition is the SuccessCriteriaMet or FailureTarget condition
// when one is true.
func targetCondition(st *batchv1.JobStatus) *batchv1.JobCondition {
	for i, c := range st.Conditions {
		if (c.Type == batchv1.JobFailureTarget || c.Type == batchv1.JobSuccessCriteriaMet) && c.Status == corev1.ConditionTrue {
			return &st.Conditions[i]
		}
	}
	return nil
}

// setCondition sets a condition, keeping its transition time when only
// the message changes, and returns a copy of it.
func setCondition(st *batchv1.JobStatus, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, msg string, now time.Time) *batchv1.JobCondition {
	ts := metav1.Time{Time: now}
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != status {
			c.Status, c.LastTransitionTime = status, ts
		}
		c.Reason, c.Message, c.LastProbeTime = reason, msg, ts
		cp := *c
		return &cp
	}
	st.Conditions = append(st.Conditions, batchv1.JobCondition{
		Type: t, Status: status, Reason: reason, Message: msg, LastProbeTime: ts, LastTransitionTime: ts,
	})
	cp := st.Conditions[len(st.Conditions)-1]
	return &cp
}
