// Package job is the batch/v1 Job controller ("job") and the
// TTL-after-finished controller ("ttl-after-finished").
//
// # Model
//
// A Job runs pods from its template until enough succeed
// (spec.completions; nil means a work queue: done when one pod succeeded
// and none still runs) or it fails: more failed pods than
// spec.backoffLimit (default 6; with restartPolicy OnFailure container
// restarts count), or spec.activeDeadlineSeconds passed since
// status.startTime. At most spec.parallelism pods are active, and never
// more than the completions still missing. In Indexed mode each index in
// [0, completions) needs one succeeded pod; pods carry the index in the
// batch.kubernetes.io/job-completion-index annotation and label, are named
// <job>-<index>-<random> with hostname <job>-<index>, and
// status.completedIndexes lists the done indexes ("0-3,5").
//
// Decide(job, pods, now) is the whole decision and is pure; sync reads
// the snapshot from the informers and applies the Plan: status first,
// then finalizer removals, deletions, creations. After a failed pod,
// creations wait 10 s, doubling per consecutive failure up to 6 min
// (Config.BackoffBase, BackoffMax), measured from the last failure's
// finish time in the pods themselves, so a restart does not reset it.
// spec.suspend deletes the active pods (not counted as failures) and sets
// the Suspended condition; resuming resets startTime.
//
// Conditions follow Kubernetes 1.31: success or failure is first recorded
// as SuccessCriteriaMet or FailureTarget (active pods are then deleted),
// and Complete or Failed is added once every pod is counted. Events
// (source "job-controller"): SuccessfulCreate, FailedCreate,
// SuccessfulDelete (with the reason), Suspended, Resumed,
// BackoffLimitExceeded, DeadlineExceeded, Completed, and BackOff once per
// back-off wait.
//
// # Counting exactly once
//
// Pods are created with the batch.kubernetes.io/job-tracking finalizer,
// so a finished pod stays until it is counted. Counting is two writes,
// each safe to repeat and to interrupt:
//
//  1. status update: the finished pod's UID is added to
//     status.uncountedTerminatedPods.succeeded (or .failed), and for an
//     Indexed Job its index to completedIndexes;
//  2. the finalizer is removed from the pod;
//  3. a later status update moves UIDs whose pod has no finalizer (or is
//     gone) from uncountedTerminatedPods into status.succeeded/failed.
//
// A pod with the finalizer and not listed in uncountedTerminatedPods is
// uncounted; a pod without it and not listed is counted. Status updates
// carry the Job's resourceVersion, so one made from a stale Job fails.
// The remaining hazard is a pod cache older than the Job cache: it could
// show a finalizer that was removed and counted since. So before step 1
// the sync re-reads the Job's pods from the API: any pod counted before
// the Job version in hand shows no finalizer there, and any counted after
// it makes the status update conflict. A controller that restarts between
// any two steps (or a new leader) picks up from the API alone.
//
// Pods whose Job is gone (checked against the API) lose the finalizer
// without being counted, so the garbage collector can delete them.
//
// # TTL after finished
//
// TTLController deletes a Job whose Complete or Failed condition is older
// than spec.ttlSecondsAfterFinished, with propagationPolicy Background,
// after re-reading the Job (the TTL may have changed) and with its
// resourceVersion as a precondition; it records SuccessfulDelete on the
// Job.
//
// # Example
//
//	cctx := controllers.NewContext(client, "kube-controller-manager", log)
//	jobs := job.New(cctx)
//	ttl := job.NewTTLAfterFinished(cctx)
//	cctx.Start(ctx)
//	go ttl.Run(ctx)
//	jobs.Run(ctx) // blocks until ctx ends
//
// Not implemented: podFailurePolicy, backoffLimitPerIndex, successPolicy,
// adopting pods that have no controller.
package job
