// Package core is the scheduler's decision: a pure function from a pod and
// a snapshot of the cluster to a Decision — the chosen node, or none and
// why, with every evaluated node's filter verdict and every feasible
// node's per-scorer scores. No IO, no clock, no goroutines: the loop in
// package scheduler feeds it and acts on its result; `kelson explain pod`
// runs the same function on a snapshot read through the API.
//
// # Model
//
//	PodInfo    a pod compiled once: effective requests (init containers,
//	           sidecars, overhead), host ports, node selector, affinity
//	           terms, spread constraints, resolved priority
//	NodeInfo   a node with its pods and their summed requests and ports
//	Snapshot   the nodes sorted by name, namespaces' labels, PVs and PVCs
//	Profile    the filter chain and the weighted scorers, plus scratch
//	           buffers reused across decisions (no allocation per node)
//
// # Pipeline
//
//	                ┌──────────── PreFilter (once per pod) ────────────┐
//	pod, snapshot ─▶│ VolumeBinding  PodTopologySpread  InterPodAffinity│─ fails? ─▶ "0/N nodes are available: <reason>."
//	                └───────────────────────────────────────────────────┘
//	                         │ for nodes from opt.Start, round robin, until
//	                         ▼ NumFeasibleNodesToFind feasible (adaptive %)
//	Filter: NodeUnschedulable → NodeName → TaintToleration → NodeAffinity →
//	        NodePorts → NodeResourcesFit → VolumeBinding → PodTopologySpread →
//	        InterPodAffinity            (first failure is the node's reason)
//	                         │ feasible nodes
//	                         ▼
//	Score:  NodeResourcesFit×1 (least allocated), BalancedAllocation×1,
//	        TaintToleration×3, NodeAffinity×2, InterPodAffinity×2,
//	        PodTopologySpread×2       raw → Normalize (0..100) → × weight
//	                         │
//	                         ▼
//	best total (ties: opt.Rand) ─▶ Decision{Node, Verdicts, Scores, NextStart}
//
// A pod that fits no node can ask Preempt for a node where evicting
// lower-priority pods makes it fit, and the fewest, least important
// victims.
//
// # Invariants
//
//   - Schedule and Preempt do not modify the pod, the snapshot or any
//     NodeInfo; the snapshot's owner replaces NodeInfos copy-on-write
//     (Snapshot.Apply) between decisions.
//   - Given the same pod, snapshot and Options, the Decision is the same.
//   - A Decision is valid until its Profile's next call (Clone to keep).
//   - A pod that fits no node was checked against every node, so its
//     Message counts every node.
//
// # Example
//
//	snap := core.NewSnapshot(nodes, podInfos) // or the cache's incremental one
//	p := core.NewProfile(core.Config{})
//	d := p.Schedule(core.NewPodInfo(pod, 0), snap, core.Options{})
//	if d.Node == "" {
//		pre := p.Preempt(d.Pod, snap, d, corev1.PreemptLowerPriority, core.Options{})
//		fmt.Println(d.Message(), pre.Message)
//		// 0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes
//		// are available: 3 No preemption victims found for incoming pod.
//	}
//
// Differences from kube-scheduler, on purpose or not yet: filtering is
// sequential (deterministic; no 16 goroutines); no default spreading
// constraints for pods without their own; no image locality; no volume
// binding or provisioning (an unbound claim waits); PodDisruptionBudgets
// are not consulted by preemption; nominated pods count on their node for
// the node-local checks (resources, ports) only. The inter-pod affinity
// pre-filter scans every placed pod (O(pods) per decision) when the pod
// has required terms or any placed pod has required anti-affinity; pods
// without either skip it.
package core
