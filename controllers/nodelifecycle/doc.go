// Package nodelifecycle notices nodes that stop reporting and clears
// them of pods (kube-controller-manager's "nodelifecycle" and
// "taint-eviction-controller").
//
// Controller (controller.go) checks every node each MonitorPeriod (5 s)
// and whenever the node changes:
//
//  1. Health (health.go, assess). A node's heartbeat is the newer of its
//     Lease's renewTime (kube-node-lease/<node>) and its Ready condition's
//     lastHeartbeatTime. The grace period (40 s) runs on the controller's
//     clock from when a newer heartbeat was last observed, so a node's
//     clock skew does not matter; a node never heard from gets
//     StartupGracePeriod (60 s) from its creation. Past it, the kubelet
//     conditions (Ready, MemoryPressure, DiskPressure, PIDPressure)
//     become Unknown, reason NodeStatusUnknown, "Kubelet stopped posting
//     node status." A node seen Ready that no longer is gets the Event
//     NodeNotReady ("Node n1 status is now: NodeNotReady") and its pods'
//     Ready condition set to False (Event NodeNotReady "Node is not
//     ready" on each), so Services drop them before any eviction.
//  2. Taints (taints.go, desiredTaints). Ready=False brings
//     node.kubernetes.io/not-ready, Ready=Unknown .../unreachable, both as
//     NoSchedule and NoExecute; MemoryPressure, DiskPressure, PIDPressure,
//     NetworkUnavailable and spec.unschedulable bring their NoSchedule
//     taints. Taints of a condition that cleared are removed; a taint
//     that stays keeps its timeAdded; other taints are left alone.
//
// TaintEviction (taintevict.go, eviction.go) deletes the pods of a node
// with NoExecute taints: a pod that does not tolerate one of them at once;
// a pod that does, when its tolerationSeconds run out counted from the
// taint's timeAdded (node.kubernetes.io/unreachable added at 12:00:00, a
// toleration of 300 s: deleted at 12:05:00); a pod tolerating without
// tolerationSeconds stays. The API server gives every new pod 300 s
// tolerations for not-ready and unreachable unless it has its own. An
// evicted pod gets the condition DisruptionTarget (reason
// DeletionByTaintManager) and the Event TaintManagerEviction "Marking for
// deletion Pod ns/name"; a pod whose wait ends without eviction (the
// taint went) gets "Cancelling deletion of Pod ns/name".
//
// Safety valves, simpler than Kubernetes' per-zone states:
//   - new NoExecute taints are paced by one token bucket for the whole
//     cluster, NodeEvictionRate nodes per second (0.1, burst 1:
//     a node at once, then one every 10 s); Kubernetes keeps one bucket
//     per zone and slows further in a partial zone outage;
//   - when no node is Ready at all, the control plane is more likely cut
//     off than every node dead: NoExecute taints are removed and withheld
//     (NoSchedule ones stay) until a node is Ready again.
//
// Every decision is a pure function of a snapshot and a time (cctx.Now),
// tested on a fake clock; the loops around them write conditions, taints
// and deletions with resourceVersion preconditions. A new leader starts
// with no observations, so every node gets a fresh grace period.
package nodelifecycle
