// Package replicaset is the ReplicaSet controller: it keeps the number of
// a ReplicaSet's active pods equal to spec.replicas, and reports them in
// status, as kube-controller-manager's replicaset-controller does.
//
// Model. A sync of one ReplicaSet reads the informers' snapshot and
// calls Decide, a pure function of (ReplicaSet, namespace's pods):
//
//	claim    owned+matching pods are kept; orphans matching the selector
//	         are adopted; owned pods that stopped matching are released
//	         (package ownerref)
//	count    active = owned, not being deleted, not Succeeded/Failed
//	create   replicas - active pods from the template (generateName
//	         "<rs>-", a controller reference), at most BurstReplicas
//	delete   active - replicas pods, the most expendable first: unscheduled,
//	         Pending < Unknown < Running, not ready, crowded node, ready for
//	         less time, more restarts, newer
//
// The sync then does the IO: patches for adoption and release; creations
// in slow-start batches (1, 2, 4, ... stopping at the first batch with a
// failure, so a quota refusal costs a few calls, not hundreds); deletions
// in parallel; Events SuccessfulCreate / FailedCreate / SuccessfulDelete /
// FailedDelete from "replicaset-controller"; and ComputeStatus, another
// pure function, written through /status.
//
// Invariants.
//
//   - No duplicate creations: before creating or deleting, a sync records
//     its expectations (n creations, these UIDs deleted); the next sync of
//     that ReplicaSet acts only once the informer has shown all of them (or
//     after DefaultExpectationsTTL), so it never decides from a cache that
//     does not yet contain its own writes.
//   - status.replicas never under-reports: it counts the active pods seen
//     plus the creations issued but not yet seen. status.observedGeneration
//     is written only with a status computed against that generation (the
//     write carries the cached resourceVersion). A Deployment relies on
//     both to bound its surge: status.replicas == spec.replicas at the
//     current generation means no more pods than that exist or are coming.
//   - A pod controlled by another owner is never touched.
//
// Example: a ReplicaSet of 3 with two matching orphans adopts both and
// creates one pod; scaled to 1, it deletes the two least useful.
//
//	c := replicaset.New(cctx)
//	cctx.Start(ctx)
//	go c.Run(ctx)
package replicaset
