// Package daemonset is the DaemonSet controller: one daemon pod on every
// node that should run it.
//
// # Model
//
// A node should run a DaemonSet's pod when the template's nodeName (if
// any), nodeSelector and required node affinity match it, and the pod
// tolerates its NoSchedule and NoExecute taints (NodeFit). Every daemon
// pod tolerates, besides its own tolerations, the taints a node gets when
// it is not ready, unreachable, under disk, memory or pid pressure,
// cordoned, or (host-network pods) without a network: a daemon keeps
// running where ordinary pods are kept off. A NoSchedule taint the pod
// does not tolerate keeps new pods off the node but lets a running one
// stay; an untolerated NoExecute taint removes it.
//
// Daemon pods are not bound by the controller: each carries a required
// node affinity selecting exactly its node by name (matchFields
// metadata.name In [node]), replacing the template's affinity, and the
// scheduler binds it. TargetNode reads the node back from a pod, bound or
// not.
//
// Each template the DaemonSet has run is a ControllerRevision
// <ds>-<hash> (package history); pods carry the hash in the
// controller-revision-hash label, so "updated" means "has the current
// template's hash". A return to an older template reuses its revision and
// renumbers it as the newest.
//
// # Pipeline
//
//	informers ──► sync(key) ── claim pods (adopt orphans, release strays)
//	                         ── revision for the template (create/renumber)
//	                         ── Decide(Input) ──► Plan{Deletes, Creates, Status}
//	                         ── if expectations are met: delete, then create
//	                            (slow start: 1, 2, 4, ... stop on failure)
//	                         ── prune history, write status
//
// Decide is pure: a snapshot in, a plan out, tested with data-driven
// scripts (testdata/decide). The sync does only IO around it and records
// Events with Kubernetes' reasons and wording, source daemonset-controller:
// SuccessfulCreate ("Created pod: web-x7k2p"), SuccessfulDelete,
// FailedCreate, FailedDelete, FailedDaemonPod ("Found failed daemon pod
// ns/p on node n, will try to kill it").
//
// # Invariants
//
//   - At most one pod per node (two while a maxSurge update replaces one),
//     and none on nodes that should not run it or no longer exist.
//   - A sync acts only when the informer has shown it the effects of the
//     previous sync's writes (expectations: creations by count, deletions
//     by pod UID, with a 5-minute timeout), so a slow watch never makes a
//     node get two pods.
//   - A failed pod is deleted and replaced; if its replacement fails too,
//     the next replacement waits 1 s, then 2 s, ... up to 15 min.
//   - A rolling update (maxUnavailable, percent of desired nodes rounded
//     up) deletes an available old pod only while fewer than
//     maxUnavailable eligible nodes lack an available pod; with maxSurge a
//     new pod starts beside the old one and the old one goes when the new
//     one is available. OnDelete replaces only pods the user deletes.
//   - status: desiredNumberScheduled (nodes that should run it),
//     currentNumberScheduled (of those, nodes with a pod),
//     numberMisscheduled (nodes with a pod that should not run it),
//     numberReady, numberAvailable (ready for minReadySeconds),
//     updatedNumberScheduled, numberUnavailable, observedGeneration; so
//     `kubectl rollout status ds/x` follows a rollout.
//
// # Example
//
// Three nodes, n3 tainted dedicated=db:NoSchedule; a DaemonSet with no
// toleration for it and its pods on n1 (old template, available) and n2
// (current template):
//
//	plan := Decide(Input{DS: ds, Hash: "new", Nodes: nodes, Pods: pods, Now: now})
//	// plan.Creates == nil            (n3 should not run it)
//	// plan.Deletes == [pod on n1, update]   (maxUnavailable 1, none unavailable)
//	// plan.Status: desired 2, current 2, updated 1, available 2
package daemonset
