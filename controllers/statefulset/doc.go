// Package statefulset is the StatefulSet controller: pods with stable
// names, stable storage and an order.
//
// # Model
//
// A set with replicas n and spec.ordinals.start s owns the pods
// <set>-<s> .. <set>-<s+n-1> (PodName, Ordinal). Each pod carries the
// labels statefulset.kubernetes.io/pod-name (its name),
// apps.kubernetes.io/pod-index (its ordinal) and controller-revision-hash
// (the ControllerRevision it was made from), hostname = its name and
// subdomain = spec.serviceName; for each volumeClaimTemplate t it mounts
// the claim <t>-<set>-<ordinal>, created (labelled with the selector's
// labels) before the pod. Claims outlive pods; the retention policy only
// sets owner references for the garbage collector: the set, for
// whenDeleted Delete; the pod being scaled away, for whenScaled Delete.
//
// Revisions: each template the set has run is a ControllerRevision
// <set>-<hash> (package history). The update revision holds spec.template;
// the current revision is the one pods below the partition keep,
// status.currentRevision, which becomes the update revision once every
// pod runs it and is Ready.
//
// # Pipeline
//
//	informers ──► sync(key) ── claim pods named <set>-<n> (adopt, release)
//	                         ── update revision for the template; current revision
//	                         ── Decide(Input) ──► Plan{Actions, Status, Waiting}
//	                         ── if expectations are met: the actions in order,
//	                            stopping at the first failure
//	                         ── prune history, write status
//
// Decide is pure: a snapshot in, ordered actions out, tested with
// data-driven scripts (testdata/decide). It works in three passes:
//
//  1. ordinals in range, lowest first: create what is missing (claims,
//     then the pod, at the current revision below the partition and the
//     update revision from it), delete what failed (it comes back with
//     the same name once gone);
//  2. ordinals beyond the range, highest first: delete (handing claims to
//     the pod first under whenScaled Delete);
//  3. RollingUpdate: delete pods of an old revision from the highest
//     ordinal down to the partition, while fewer than maxUnavailable
//     (default 1) of those ordinals are unavailable.
//
// Under OrderedReady (the default) each pass stops at the first pod that
// is not Running and Ready (and available for minReadySeconds), missing,
// or terminating, and at most one pod is created or deleted per sync: pod
// k is created only after k-1 is Ready, and pod k is deleted only after
// k+1 is gone. Parallel does not wait in passes 1 and 2.
//
// Events, with Kubernetes' wording, source statefulset-controller:
// SuccessfulCreate ("create Pod web-0 in StatefulSet web successful",
// "create Claim www-web-0 Pod web-0 in StatefulSet web success"),
// SuccessfulDelete ("delete Pod web-2 in StatefulSet web successful"),
// RecreatingFailedPod, FailedCreate, FailedDelete.
//
// # Invariants
//
//   - Never two pods of one ordinal: names are unique, and expectations
//     (creations by count, deletions by UID, 5-minute timeout) keep a
//     sync from acting on a cache that misses the previous sync's writes.
//   - status: replicas (live pods), readyReplicas, availableReplicas,
//     currentReplicas, updatedReplicas, currentRevision, updateRevision,
//     collisionCount, observedGeneration; so `kubectl rollout status
//     sts/x` follows a rollout, partitioned or not.
//
// # Example
//
// web with 3 replicas, OrderedReady, web-0 Running and Ready:
//
//	plan := Decide(Input{Set: web, Pods: []*corev1.Pod{web0}, CurrentRevision: "web-a", UpdateRevision: "web-a"})
//	// plan.Actions == [create-pod web-1 rev=web-a]
//	// plan.Waiting == "waiting for web-1 to be created"
package statefulset
