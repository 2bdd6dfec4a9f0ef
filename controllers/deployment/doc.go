// Package deployment is the Deployment controller: it rolls a
// Deployment's pod template out through ReplicaSets, one ReplicaSet per
// template, as kube-controller-manager's deployment-controller does, so
// that kubectl rollout status|history|undo|pause|resume|restart and
// kubectl scale work unchanged.
//
// Model. A sync reads the informers' snapshot: the Deployment, the
// ReplicaSets it controls (adopting orphans that match its selector and
// releasing its own that stopped matching, package ownerref) and their
// pods. Reconcile, a pure function of that snapshot, plans one step:
//
//	being deleted   status only (the garbage collector removes the ReplicaSets)
//	paused          Progressing=Unknown DeploymentPaused; scale; clean up
//	scaling event   an active ReplicaSet's desired-replicas annotation differs
//	                from spec.replicas: spread the change over the active
//	                ReplicaSets in proportion to their size
//	Recreate        old ReplicaSets to 0; once none of their pods is left,
//	                the new one to replicas
//	RollingUpdate   new ReplicaSet up while all of them want at most
//	                replicas + maxSurge; else old ones down while at least
//	                replicas - maxUnavailable stay available (unavailable
//	                old replicas first, oldest ReplicaSet first); else,
//	                complete, delete old ReplicaSets beyond
//	                revisionHistoryLimit
//
// and the status: replicas, updated, ready, available, unavailable,
// observedGeneration; Available (MinimumReplicasAvailable /
// MinimumReplicasUnavailable); Progressing (NewReplicaSetCreated,
// FoundNewReplicaSet, ReplicaSetUpdated, NewReplicaSetAvailable, and
// False ProgressDeadlineExceeded when progressDeadlineSeconds pass with no
// progress). The sync then writes the plan in order (create, updates,
// deletes, the Deployment's status) and records the Events that explain it
// (ScalingReplicaSet "Scaled up replica set X to B from A", as Kubernetes 1.27+ words it,
// ProgressDeadlineExceeded, ReplicaSetCreateError) from
// "deployment-controller".
//
// ReplicaSets. The new ReplicaSet is the oldest whose template equals the
// Deployment's but for the pod-template-hash label; one is created as
// "<deployment>-<hash>" (TemplateHash: FNV over the template, and the
// collision count when a name was taken) with the hash in its selector
// and labels. It gets revision max(old revisions)+1, also when a rollback
// makes an old ReplicaSet current again (its previous revision then goes
// to deployment.kubernetes.io/revision-history), and the Deployment's
// annotations (kubernetes.io/change-cause among them). Every scale
// records desired-replicas and max-replicas, the base of proportional
// scaling.
//
// Invariants.
//
//   - A rollout with a constant replicas count never has more than
//     replicas + maxSurge pods nor fewer than replicas - maxUnavailable
//     available ones, counting real pods, not just ReplicaSet specs. Three
//     things make that hold although the ReplicaSet controller acts later
//     than this one: a sync waits until the informer shows its own last
//     ReplicaSet writes (writes); a ReplicaSet scaled down counts with the
//     most replicas it has had until its status shows it settled (bounds);
//     and availability counts no more than a ReplicaSet's replicas, since
//     it deletes its least available pods first.
//   - Rollout history is only in the ReplicaSets: kubectl rollout history
//     and undo read their controller references and revision annotations.
//
// Example: replicas 4, maxSurge 1, maxUnavailable 0, image v1 -> v2:
//
//	v1:4          create v2 at 1     (5 wanted, 4 available)
//	v1:4 v2:1     v2 ready: v1 -> 3
//	v1:3 v2:1     v2 -> 2 ... until v1:0 v2:4, NewReplicaSetAvailable
package deployment
