// Package cronjob is the batch/v1 CronJob controller ("cronjob"): it
// starts a Job from spec.jobTemplate at each time spec.schedule names
// (internal/cron syntax) in spec.timeZone (the controller's local zone
// when unset, as in Kubernetes), and keeps status.active,
// lastScheduleTime and lastSuccessfulTime.
//
// # Model
//
// Decide(cronJob, itsJobs, now) is the whole decision and is pure; sync
// reads the informers, applies the Plan and requeues the CronJob for its
// next schedule time (a delaying queue, AddAfter). Time comes from
// controllers.Context.Now.
//
//   - The schedule times due are those in (lastScheduleTime or
//     creationTimestamp, now]; with spec.startingDeadlineSeconds only
//     those no older than that. Only the latest due time is started;
//     more than 100 due times records TooManyMissedTimes, and a due time
//     older than the starting deadline with none newer records
//     MissSchedule.
//   - The Job for scheduled time T is named <cronjob>-<T in minutes since
//     the epoch> and annotated batch.kubernetes.io/cronjob-scheduled-timestamp
//     (RFC 3339 in the zone). The name is the invariant that keeps a
//     schedule from running twice: a second create of it — after a lost
//     status write, or from a new leader with an older cache — is refused
//     with AlreadyExists, and the sync then only records it.
//   - concurrencyPolicy: Allow starts the Job whatever runs; Forbid skips
//     while a Job of the CronJob is active (JobAlreadyActive) — the time
//     stays due, so it starts when the active Job finishes if still within
//     the starting deadline; Replace deletes the active Jobs first.
//   - Finished Jobs beyond successfulJobsHistoryLimit (3) and
//     failedJobsHistoryLimit (1), oldest by start time first, are deleted
//     with propagationPolicy Background.
//   - spec.suspend stops new Jobs; running ones go on.
//
// Events (source "cronjob-controller"): SuccessfulCreate ("Created job
// X"), SuccessfulDelete, SawCompletedJob, MissingJob, JobAlreadyActive,
// MissSchedule, TooManyMissedTimes, UnknownTimeZone, UnparseableSchedule,
// FailedCreate, FailedDelete. Events about a standing situation
// (JobAlreadyActive, MissSchedule, ...) are recorded when their message
// changes, not at every sync.
//
// # Example
//
//	cctx := controllers.NewContext(client, "kube-controller-manager", log)
//	c := cronjob.New(cctx)
//	cctx.Start(ctx)
//	c.Run(ctx) // blocks until ctx ends
//
// With schedule "*/5 * * * *", timeZone "Europe/Berlin", a CronJob
// "report" created at 10:02 Berlin time gets Job report-<minutes> at
// 10:05, 10:10, ...; if the controller was down from 10:07 to 10:31 it
// starts one Job, for 10:30, when it comes back (or none and a
// MissSchedule Event if startingDeadlineSeconds is under 60).
package cronjob
