package core

// Plugin names, as kube-scheduler names the plugins that do the same
// checks, so a user who knows one reads the other.
const (
	NodeUnschedulable               = "NodeUnschedulable"
	NodeName                        = "NodeName"
	TaintToleration                 = "TaintToleration"
	NodeAffinity                    = "NodeAffinity"
	NodePorts                       = "NodePorts"
	NodeResourcesFit                = "NodeResourcesFit"
	VolumeBinding                   = "VolumeBinding"
	PodTopologySpread               = "PodTopologySpread"
	InterPodAffinity                = "InterPodAffinity"
	NodeResourcesBalancedAllocation = "NodeResourcesBalancedAllocation"
)

// MaxScore is the highest score a scorer gives a node (after Normalize).
const MaxScore int64 = 100

// Code classifies a filter's verdict.
type Code uint8

const (
	// Success: the node passes.
	Success Code = iota
	// Unschedulable: the node fails, but evicting lower-priority pods
	// could make it pass (resources, ports, anti-affinity, spread skew).
	Unschedulable
	// UnschedulableAndUnresolvable: the node fails whatever runs on it
	// (labels, taints, node name, volume topology).
	UnschedulableAndUnresolvable
)

// Status is a filter's verdict on one node: Success, or why not, in
// kube-scheduler's words (one reason per line of FailedScheduling's
// histogram; a node short of cpu and memory has two).
type Status struct {
	Code    Code
	Plugin  string
	Reasons []string
}

// OK reports whether the node passed.
func (s Status) OK() bool { return s.Code == Success }

func fail(plugin string, reasons ...string) Status {
	return Status{Code: Unschedulable, Plugin: plugin, Reasons: reasons}
}

func failUnresolvable(plugin string, reasons ...string) Status {
	return Status{Code: UnschedulableAndUnresolvable, Plugin: plugin, Reasons: reasons}
}

// Filter decides whether the pod of a cycle can run on a node. Filters
// are pure: they read the cycle state and the node, and allocate only to
// explain a failure.
type Filter interface {
	Name() string
	Filter(st *CycleState, n *NodeInfo) Status
}

// relevant is a filter that can tell, once per cycle, that it passes every
// node for this pod (no host ports, no selector...), so the per-node loop
// skips it.
type relevant interface {
	relevant(st *CycleState) bool
}

// PreFilter is a filter that computes cluster-wide state once per cycle
// (counts by topology domain) before the per-node checks. A non-OK
// status fails the pod on every node.
type PreFilter interface {
	Filter
	PreFilter(st *CycleState) Status
}

// Scorer ranks feasible nodes. Score returns a raw score of one node;
// Normalize maps the raw scores of all feasible nodes (in place) to
// 0..MaxScore, higher is better.
type Scorer interface {
	Name() string
	Score(st *CycleState, n *NodeInfo) int64
	Normalize(st *CycleState, scores []int64)
}

// PreScorer is a scorer that computes state once per cycle from the
// feasible nodes.
type PreScorer interface {
	Scorer
	PreScore(st *CycleState, feasible []*NodeInfo)
}

// WeightedScorer is a scorer and its weight in the total.
type WeightedScorer struct {
	Scorer
	Weight int64
}

// CycleState is what one decision computes about its pod: the pod, the
// snapshot, and each plugin's precomputed state. It lives for one cycle
// (and is reused by preemption's what-if checks).
type CycleState struct {
	Pod  *PodInfo
	Snap *Snapshot

	hardPodAffinityWeight int64

	affinity      affinityState
	spread        spreadState
	volumes       volumeState
	scoreAffinity affinityScoreState
	scoreSpread   spreadScoreState
	taintScore    bool
}
