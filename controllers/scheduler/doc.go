// Package scheduler is Kelson's kube-scheduler: it binds pending pods
// (spec.schedulerName "default-scheduler") to nodes. The decision is
// core.Profile.Schedule, a pure function of the pod and a snapshot (package
// core); this package is the thin loop of IO around it.
//
// # Pipeline
//
//	pod informer ──┬─ bound pods ──────────▶ cache (NodeInfos, assumed pods)
//	node informer ─┘                            │ UpdateSnapshot: clones of
//	                                            │ the changed nodes only
//	pod informer ── pending pods ─▶ queue       ▼
//	                 active (priority, age) ─▶ loop: Pop → Schedule(pod, snapshot)
//	                 backoff (1 s → 10 s)        │                     │
//	                 unschedulable (until a      │ node                │ none
//	                 node/pod/volume event,      ▼                     ▼
//	                 or 60 s)             cache.Assume          Preempt? → evict victims,
//	                     ▲                binders (32): POST     nominate (status writer)
//	                     │                pods/NAME/binding     FailedScheduling event,
//	                     │                → Scheduled event     PodScheduled=False
//	                     └──── failed binding: Forget, back-off ◀┘ queue.Unschedulable
//
// The loop is one goroutine and owns the snapshot and the Profile; the
// informers' handlers, the binders and the status writers touch only the
// queue, the cache and the nominator, which lock. Nothing waits for the
// API inside the loop: a pod is assumed on its node before its binding is
// written, so the next decision already counts it; the informer's bound
// pod confirms the assumption, a failed binding forgets it.
//
// # Invariants
//
//   - A pod is in the queue (active, backoff, unschedulable or in flight)
//     or in the cache (bound or assumed), never both for long: an assumed
//     pod leaves the queue when its binding succeeds.
//   - An unschedulable pod is retried on a cluster event that may help
//     (node added, node labels/taints/allocatable/cordon changed, a bound
//     pod deleted or relabelled, a volume or claim added), after 60 s
//     regardless, and never sooner than its back-off.
//   - The scheduler's own status writes (PodScheduled=False) do not
//     requeue the pod: only spec, label and annotation changes do.
//   - Priority is resolved here from PriorityClasses (Kelson's API server
//     does not fill spec.priority): spec.priority, else the class's value,
//     else the global default class's, else 0.
//
// # Events and conditions, as kube-scheduler writes them
//
//	Normal   Scheduled         Successfully assigned ns/name to node
//	Warning  FailedScheduling  0/5 nodes are available: 2 node(s) had untolerated taint {k: v},
//	                           3 Insufficient cpu. preemption: 0/5 nodes are available: ...
//	Normal   Preempted         Preempted by pod <uid> on node <node>      (on the victim)
//
// plus PodScheduled=False/Unschedulable with the same message,
// status.nominatedNodeName for a preemptor, and DisruptionTarget
// (PreemptionByScheduler) on victims before they are deleted.
//
// # Explaining
//
// Explain (`kelson explain pod NAME`) reads nodes, pods, namespaces,
// volumes and priority classes through the API and runs the same
// core.Profile on them, every node and every filter, printing each node's
// verdicts and scores and the pod's scheduling events. Keeping each
// decision instead would cost a write per pod (an annotation) or a second
// server; recomputing is exact for the current state and says so.
//
// # Example
//
//	cctx := controllers.NewContext(client, "kelson", log)
//	s := scheduler.New(cctx) // registers informers; no IO
//	cctx.Start(ctx)
//	err := s.Run(ctx) // blocks until ctx ends
//
// Measuring: RunCoreBenchmark (the loop without the API) and
// MeasureThroughput (create pods through the API, wait until all are
// bound) are what `kelson bench scheduler` runs.
package scheduler
