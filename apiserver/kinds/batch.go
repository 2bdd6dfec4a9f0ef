package kinds

// Jobs and CronJobs: batch/v1 defaults, the server-generated selector of
// a Job (PrepareForCreate), validation, tables and selectable fields.

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/kelson-dev/kelson/internal/cron"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Labels a Job's pods carry when the server generates its selector.
const (
	labelControllerUID       = "batch.kubernetes.io/controller-uid"
	labelJobName             = "batch.kubernetes.io/job-name"
	labelLegacyControllerUID = "controller-uid"
	labelLegacyJobName       = "job-name"
)

func jobKind() *Kind {
	k := base(batchGV, "Job", "jobs", "job", true, obj[batchv1.Job](), obj[batchv1.JobList]())
	k.Categories, k.HasStatus = []string{"all"}, true
	k.Default = func(o runtime.Object) { defaultJob(o.(*batchv1.Job)) }
	k.PrepareForCreate = func(o runtime.Object) { prepareJob(o.(*batchv1.Job)) }
	k.Validate = func(o runtime.Object) field.ErrorList { return validateJob(o.(*batchv1.Job)) }
	k.ValidateUpdate = func(o, old runtime.Object) field.ErrorList {
		return validateJobUpdate(o.(*batchv1.Job), old.(*batchv1.Job))
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Status", "string", "Status of the job.", false),
		col("Completions", "string", "The completed job replicas of the total desired.", false),
		col("Duration", "string", "Time required to complete the job.", false),
		colAge,
		colContainers, colImages, colSelector,
	}
	k.Cells = func(o runtime.Object) []interface{} { return jobCells(o.(*batchv1.Job), time.Now()) }
	k.Fields = func(o runtime.Object) fields.Set {
		return fields.Set{"status.successful": strconv.Itoa(int(o.(*batchv1.Job).Status.Succeeded))}
	}
	return k
}

// defaultJob sets batch/v1 Job defaults.
func defaultJob(j *batchv1.Job) {
	s := &j.Spec
	if s.Completions == nil && s.Parallelism == nil {
		s.Completions, s.Parallelism = ptr[int32](1), ptr[int32](1)
	}
	setDefault(&s.Parallelism, 1)
	if s.BackoffLimit == nil {
		if s.BackoffLimitPerIndex != nil {
			s.BackoffLimit = ptr[int32](math.MaxInt32)
		} else {
			s.BackoffLimit = ptr[int32](6)
		}
	}
	setDefault(&s.CompletionMode, batchv1.NonIndexedCompletion)
	setDefault(&s.Suspend, false)
	if s.PodFailurePolicy != nil {
		for i := range s.PodFailurePolicy.Rules {
			for j := range s.PodFailurePolicy.Rules[i].OnPodConditions {
				setDefaultString(&s.PodFailurePolicy.Rules[i].OnPodConditions[j].Status, corev1.ConditionTrue)
			}
		}
	}
	if s.PodReplacementPolicy == nil {
		if s.PodFailurePolicy != nil {
			s.PodReplacementPolicy = ptr(batchv1.Failed)
		} else {
			s.PodReplacementPolicy = ptr(batchv1.TerminatingOrFailed)
		}
	}
	defaultPodTemplate(&s.Template)
}

// prepareJob clears a new Job's status and, unless spec.manualSelector
// is true, generates its selector: the template gets the controller-uid
// and job-name labels (both the batch.kubernetes.io and the legacy
// keys), the selector matches batch.kubernetes.io/controller-uid. The
// uid is the object's metadata.uid, set by the caller before.
func prepareJob(j *batchv1.Job) {
	j.Status = batchv1.JobStatus{}
	if j.Spec.ManualSelector != nil && *j.Spec.ManualSelector {
		return
	}
	if j.Spec.Template.Labels == nil {
		j.Spec.Template.Labels = map[string]string{}
	}
	uid, name := string(j.UID), j.Name
	for key, value := range map[string]string{
		labelJobName: name, labelLegacyJobName: name,
		labelControllerUID: uid, labelLegacyControllerUID: uid,
	} {
		if _, set := j.Spec.Template.Labels[key]; !set {
			j.Spec.Template.Labels[key] = value
		}
	}
	if j.Spec.Selector == nil {
		j.Spec.Selector = &metav1.LabelSelector{}
	}
	if j.Spec.Selector.MatchLabels == nil {
		j.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, set := j.Spec.Selector.MatchLabels[labelControllerUID]; !set {
		j.Spec.Selector.MatchLabels[labelControllerUID] = uid
	}
}

func validateJob(j *batchv1.Job) field.ErrorList {
	fld := field.NewPath("spec")
	s := &j.Spec
	errs := validateJobSpec(s, fld)
	if s.Selector == nil {
		errs = append(errs, field.Required(fld.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(s.Selector, metav1validation.LabelSelectorValidationOptions{}, fld.Child("selector"))...)
	}
	// A missing selector selects nothing: the labels do not match it.
	if sel, err := metav1.LabelSelectorAsSelector(s.Selector); err == nil && !sel.Matches(labels.Set(s.Template.Labels)) {
		errs = append(errs, field.Invalid(fld.Child("template", "metadata", "labels"), s.Template.Labels, "`selector` does not match template `labels`"))
	}
	if s.ManualSelector == nil || !*s.ManualSelector {
		errs = append(errs, validateGeneratedSelector(j)...)
	}
	return errs
}

// validateGeneratedSelector checks a Job whose selector the server
// generated still carries it.
func validateGeneratedSelector(j *batchv1.Job) field.ErrorList {
	var errs field.ErrorList
	if j.Spec.Template.Labels == nil {
		return nil
	}
	meta := field.NewPath("spec", "template", "metadata")
	for _, key := range []string{labelControllerUID, labelJobName} {
		want := map[string]string{labelControllerUID: string(j.UID), labelJobName: j.Name}[key]
		got, ok := j.Spec.Template.Labels[key]
		if !ok {
			errs = append(errs, field.Required(meta.Child("labels").Key(key), fmt.Sprintf("must be '%s'", want)))
		} else if got != want {
			errs = append(errs, field.Invalid(meta.Child("labels").Key(key), j.Spec.Template.Labels, fmt.Sprintf("must be '%s'", want)))
		}
	}
	if j.Spec.Selector != nil {
		want := labels.Set{labelControllerUID: string(j.UID)}
		sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
		if err == nil && !sel.Matches(want) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), j.Spec.Selector, "`selector` not auto-generated"))
		}
	}
	return errs
}

var completionModes = []batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}

// validateJobSpec validates the parts of a Job spec shared with a
// CronJob's job template.
func validateJobSpec(s *batchv1.JobSpec, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for name, v := range map[string]*int32{"parallelism": s.Parallelism, "completions": s.Completions, "backoffLimit": s.BackoffLimit, "ttlSecondsAfterFinished": s.TTLSecondsAfterFinished} {
		if v != nil {
			errs = append(errs, nonNegative(int64(*v), fld.Child(name))...)
		}
	}
	if s.ActiveDeadlineSeconds != nil {
		errs = append(errs, nonNegative(*s.ActiveDeadlineSeconds, fld.Child("activeDeadlineSeconds"))...)
	}
	if s.CompletionMode != nil {
		if !contains(completionModes, *s.CompletionMode) {
			errs = append(errs, field.NotSupported(fld.Child("completionMode"), *s.CompletionMode, completionModes))
		} else if *s.CompletionMode == batchv1.IndexedCompletion && s.Completions == nil {
			errs = append(errs, field.Required(fld.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
		}
	}
	tp := fld.Child("template")
	errs = append(errs, validatePodTemplate(&s.Template, tp)...)
	if rp := s.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever {
		errs = append(errs, field.Required(tp.Child("spec", "restartPolicy"), `valid values: "OnFailure", "Never"`))
	}
	sortErrors(errs)
	return errs
}

// sortErrors orders errors by field path, for output that does not
// depend on map iteration.
func sortErrors(errs field.ErrorList) {
	for i := 1; i < len(errs); i++ {
		for j := i; j > 0 && errs[j].Field < errs[j-1].Field; j-- {
			errs[j], errs[j-1] = errs[j-1], errs[j]
		}
	}
}

// validateJobUpdate: selector, completion mode, pod failure policy and
// the template are immutable (a suspended Job that never started may
// change its template's labels, annotations, node selector, tolerations,
// affinity and scheduling gates).
func validateJobUpdate(j, old *batchv1.Job) field.ErrorList {
	fld := field.NewPath("spec")
	s, o := &j.Spec, &old.Spec
	errs := immutable(s.Selector, o.Selector, fld.Child("selector"))
	errs = append(errs, immutable(s.CompletionMode, o.CompletionMode, fld.Child("completionMode"))...)
	errs = append(errs, immutable(s.PodFailurePolicy, o.PodFailurePolicy, fld.Child("podFailurePolicy"))...)
	errs = append(errs, immutable(s.BackoffLimitPerIndex, o.BackoffLimitPerIndex, fld.Child("backoffLimitPerIndex"))...)
	errs = append(errs, immutable(s.ManagedBy, o.ManagedBy, fld.Child("managedBy"))...)
	errs = append(errs, immutable(s.SuccessPolicy, o.SuccessPolicy, fld.Child("successPolicy"))...)
	indexedScale := s.CompletionMode != nil && *s.CompletionMode == batchv1.IndexedCompletion &&
		s.Completions != nil && s.Parallelism != nil && *s.Completions == *s.Parallelism
	if !indexedScale {
		errs = append(errs, immutable(s.Completions, o.Completions, fld.Child("completions"))...)
	}
	tmpl := s.Template.DeepCopy()
	if o.Suspend != nil && *o.Suspend && old.Status.StartTime == nil {
		tmpl.Labels, tmpl.Annotations = o.Template.Labels, o.Template.Annotations
		tmpl.Spec.NodeSelector, tmpl.Spec.Tolerations = o.Template.Spec.NodeSelector, o.Template.Spec.Tolerations
		tmpl.Spec.Affinity, tmpl.Spec.SchedulingGates = o.Template.Spec.Affinity, o.Template.Spec.SchedulingGates
	}
	if e := immutable(*tmpl, o.Template, fld.Child("template")); e != nil {
		errs = append(errs, field.Invalid(fld.Child("template"), s.Template, "field is immutable"))
	}
	return errs
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func jobCells(j *batchv1.Job, now time.Time) []interface{} {
	status := "Running"
	switch {
	case jobCondition(j, batchv1.JobComplete):
		status = "Complete"
	case jobCondition(j, batchv1.JobFailed):
		status = "Failed"
	case j.DeletionTimestamp != nil:
		status = "Terminating"
	case jobCondition(j, batchv1.JobSuspended):
		status = "Suspended"
	case jobCondition(j, batchv1.JobFailureTarget):
		status = "FailureTarget"
	case jobCondition(j, batchv1.JobSuccessCriteriaMet):
		status = "SuccessCriteriaMet"
	}
	var completions string
	switch {
	case j.Spec.Completions != nil:
		completions = fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	case j.Spec.Parallelism != nil && *j.Spec.Parallelism > 1:
		completions = fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, *j.Spec.Parallelism)
	default:
		completions = fmt.Sprintf("%d/1", j.Status.Succeeded)
	}
	var dur string
	switch {
	case j.Status.StartTime == nil:
	case j.Status.CompletionTime == nil:
		dur = humanAge(now.Sub(j.Status.StartTime.Time))
	default:
		dur = humanAge(j.Status.CompletionTime.Sub(j.Status.StartTime.Time))
	}
	names, images := containersAndImages(&j.Spec.Template.Spec)
	return []interface{}{j.Name, status, completions, dur, ageAt(j.CreationTimestamp, now), names, images, selectorString(j.Spec.Selector)}
}

func cronJobKind() *Kind {
	k := base(batchGV, "CronJob", "cronjobs", "cronjob", true, obj[batchv1.CronJob](), obj[batchv1.CronJobList]())
	k.ShortNames, k.Categories, k.HasStatus = []string{"cj"}, []string{"all"}, true
	k.Default = func(o runtime.Object) { defaultCronJob(o.(*batchv1.CronJob)) }
	k.PrepareForCreate = func(o runtime.Object) { o.(*batchv1.CronJob).Status = batchv1.CronJobStatus{} }
	k.Validate = func(o runtime.Object) field.ErrorList { return validateCronJob(o.(*batchv1.CronJob)) }
	k.ValidateName = func(name string, prefix bool) []string {
		msgs := apivalidation.NameIsDNSSubdomain(name, prefix)
		if len(name) > 52 {
			msgs = append(msgs, "must be no more than 52 characters")
		}
		return msgs
	}
	k.Columns = []metav1.TableColumnDefinition{
		colName,
		col("Schedule", "string", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.", false),
		col("Timezone", "string", "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.", false),
		col("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.", false),
		col("Active", "integer", "A list of pointers to currently running jobs.", false),
		col("Last Schedule", "string", "Information when was the last time the job was successfully scheduled.", false),
		colAge,
		colContainers, colImages, colSelector,
	}
	k.Cells = func(o runtime.Object) []interface{} { return cronJobCells(o.(*batchv1.CronJob)) }
	return k
}

// defaultCronJob sets batch/v1 CronJob defaults. The job template's
// Job-level fields are not defaulted (as in Kubernetes); its pod
// template is.
func defaultCronJob(cj *batchv1.CronJob) {
	s := &cj.Spec
	setDefaultString(&s.ConcurrencyPolicy, batchv1.AllowConcurrent)
	setDefault(&s.Suspend, false)
	setDefault(&s.SuccessfulJobsHistoryLimit, 3)
	setDefault(&s.FailedJobsHistoryLimit, 1)
	defaultPodTemplate(&s.JobTemplate.Spec.Template)
}

var concurrencyPolicies = []batchv1.ConcurrencyPolicy{batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent}

func validateCronJob(cj *batchv1.CronJob) field.ErrorList {
	fld := field.NewPath("spec")
	s := &cj.Spec
	var errs field.ErrorList
	if s.Schedule == "" {
		errs = append(errs, field.Required(fld.Child("schedule"), ""))
	} else if strings.Contains(s.Schedule, "TZ") {
		errs = append(errs, field.Invalid(fld.Child("schedule"), s.Schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	} else if msg := cronScheduleError(s.Schedule); msg != "" {
		errs = append(errs, field.Invalid(fld.Child("schedule"), s.Schedule, msg))
	}
	if s.TimeZone != nil {
		if _, err := cron.LoadLocation(*s.TimeZone); err != nil {
			errs = append(errs, field.Invalid(fld.Child("timeZone"), *s.TimeZone, strings.TrimPrefix(err.Error(), cron.ErrTimeZone.Error()+": ")))
		}
	}
	if s.ConcurrencyPolicy == "" {
		errs = append(errs, field.Required(fld.Child("concurrencyPolicy"), ""))
	} else if !contains(concurrencyPolicies, s.ConcurrencyPolicy) {
		errs = append(errs, field.NotSupported(fld.Child("concurrencyPolicy"), s.ConcurrencyPolicy, concurrencyPolicies))
	}
	if s.StartingDeadlineSeconds != nil {
		errs = append(errs, nonNegative(*s.StartingDeadlineSeconds, fld.Child("startingDeadlineSeconds"))...)
	}
	if s.SuccessfulJobsHistoryLimit != nil {
		errs = append(errs, nonNegative(int64(*s.SuccessfulJobsHistoryLimit), fld.Child("successfulJobsHistoryLimit"))...)
	}
	if s.FailedJobsHistoryLimit != nil {
		errs = append(errs, nonNegative(int64(*s.FailedJobsHistoryLimit), fld.Child("failedJobsHistoryLimit"))...)
	}
	jt := fld.Child("jobTemplate", "spec")
	errs = append(errs, metav1validation.ValidateLabels(s.JobTemplate.Labels, fld.Child("jobTemplate", "metadata", "labels"))...)
	errs = append(errs, validateJobSpec(&s.JobTemplate.Spec, jt)...)
	if s.JobTemplate.Spec.Selector != nil {
		errs = append(errs, field.Invalid(jt.Child("selector"), s.JobTemplate.Spec.Selector, "`selector` will be auto-generated"))
	}
	if m := s.JobTemplate.Spec.ManualSelector; m != nil && *m {
		errs = append(errs, field.NotSupported(jt.Child("manualSelector"), m, []string{"nil", "false"}))
	}
	return errs
}

// cronScheduleError checks a schedule with the parser the CronJob
// controller uses (five fields or a macro; see internal/cron) and returns
// what is wrong, or "".
func cronScheduleError(sched string) string {
	if _, err := cron.Parse(sched, nil); err != nil {
		return strings.TrimPrefix(err.Error(), cron.ErrSyntax.Error()+": ")
	}
	return ""
}

func cronJobCells(cj *batchv1.CronJob) []interface{} {
	tz := "<none>"
	if cj.Spec.TimeZone != nil {
		tz = *cj.Spec.TimeZone
	}
	last := "<none>"
	if cj.Status.LastScheduleTime != nil {
		last = age(*cj.Status.LastScheduleTime)
	}
	names, images := containersAndImages(&cj.Spec.JobTemplate.Spec.Template.Spec)
	return []interface{}{
		cj.Name, cj.Spec.Schedule, tz, boolPtrCell(cj.Spec.Suspend), int64(len(cj.Status.Active)), last,
		age(cj.CreationTimestamp), names, images, selectorString(cj.Spec.JobTemplate.Spec.Selector),
	}
}

// boolPtrCell renders an optional bool as kubectl does.
func boolPtrCell(b *bool) string {
	if b == nil {
		return "<unset>"
	}
	if *b {
		return "True"
	}
	return "False"
}
