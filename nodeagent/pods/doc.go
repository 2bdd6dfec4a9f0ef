// Package pods is the pod worker: Kelson's kubelet pod lifecycle. A
// Manager watches the pods bound to its node (its own informer, field
// selector spec.nodeName=NodeName) and runs each through a
// runtime.Runtime, a podnet.Network, Volumes and Env.
//
// # Model
//
// One sync of a pod is: read the pod (informer), list its container
// instances (runtime), then
//
//	plan := decide(snapshot)          // pure: what to do now
//	carry out the plan, decide again  // until only waiting is left
//	status := computeStatus(snapshot) // pure: kubelet's PodStatus
//	UpdateStatus when it differs; teardown; delete (grace 0, UID precondition)
//
// A snapshot is the pod, its observed instances, the prober's results,
// the back-off streaks, the failed starts, whether the sandbox (network,
// volumes, /etc/hosts and resolv.conf) is set up, and the clock. decide
// and computeStatus share analyze, so what is done and what is reported
// agree. The plan's wake says when the pod changes by itself (a back-off
// or the deadline ends); the pod is queued again then.
//
// Pods are queued by UID on a rate-limited workqueue: by informer events,
// runtime.Exits, prober verdicts, their wake-ups, and every Resync (10 s),
// which also queues every UID the runtime and the Network still hold: a UID the API no longer has is an orphan,
// whose instances are stopped and removed, network and volumes torn down
// and logs removed. Orphans are looked for only after the informer
// synced, so a restarted agent adopts the running instances of pods that
// still exist (it sets their sandbox up again — same IP — and starts no
// container).
//
// # Invariants
//
//   - One pod is synced by one worker at a time (the queue's guarantee);
//     a podState is touched only by that worker.
//   - Instance attempts count restarts: attempt N is restartCount N. The
//     latest two instances of a container are kept (state and lastState,
//     logs --previous); older exited ones are removed.
//   - Init containers run in order, each to success before the next;
//     restartable init containers (sidecars) start and, once started
//     (startup probe passed), let the next one go.
//   - Back-off: the first restart of a streak is immediate, then 10 s
//     doubling to 5 min; a run of 10 min starts a new streak. Streaks are
//     memory: after an agent restart they count from attempt 0 (longer
//     delays, never shorter than kubelet's).
//   - A terminal pod (Succeeded/Failed in the API, or finished now) never
//     runs anything again; a deleted pod is stopped with its
//     deletionGracePeriodSeconds (preStop hooks first), torn down, its
//     final status written, then deleted with grace 0.
//   - Status times are whole seconds; a condition's lastTransitionTime
//     moves only when its status does; so computing twice from what was
//     written writes nothing.
//
// # Example
//
// A pod with init container i1 and container app, restartPolicy Always:
//
//	sync 1: decide → setupSandbox; decide → start i1#0
//	        status Pending, Initialized=False [i1], i1 running, app PodInitializing
//	i1 exits 0 (runtime.Exits queues the pod)
//	sync 2: decide → start app#0; status Running, Ready=True
//	app exits 1: sync 3 → start app#1 at once (restartCount 1)
//	app exits 1 again: sync 4 → wait 10 s: CrashLoopBackOff
//	        "back-off 10s restarting failed container=app pod=web_default(uid)"
//	pod deleted: stop app (grace), tear down, final status Failed, delete
package pods
