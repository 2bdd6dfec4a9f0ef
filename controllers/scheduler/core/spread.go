package core

import (
	"math"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// spreadCounts counts, for each constraint, the pods its selector matches
// (in the pod's namespace, not terminating) per domain of its topology
// key, over the eligible nodes: nodes with every constraint's key that
// pass the pod's node selector/affinity (nodeAffinityPolicy Honor) and
// whose taints it tolerates (nodeTaintsPolicy Honor). Every eligible
// node's domain is present, with 0 if no pod matches.
type spreadCounts struct {
	constraints []SpreadConstraint
	counts      []map[string]int
}

func (c *spreadCounts) init(st *CycleState, constraints []SpreadConstraint) {
	c.constraints = constraints
	c.counts = make([]map[string]int, len(constraints))
	for i := range c.counts {
		c.counts[i] = map[string]int{}
	}
	for _, n := range st.Snap.nodes {
		if !c.eligible(st, n) {
			continue
		}
		for i := range constraints {
			v := n.NodeLabels[constraints[i].TopologyKey]
			c.counts[i][v] += 0
			for _, q := range n.Pods {
				if c.matches(st, i, q) {
					c.counts[i][v]++
				}
			}
		}
	}
}

func (c *spreadCounts) eligible(st *CycleState, n *NodeInfo) bool {
	if n.Node == nil {
		return false
	}
	for i := range c.constraints {
		k := &c.constraints[i]
		if _, ok := n.NodeLabels[k.TopologyKey]; !ok {
			return false
		}
		if k.HonorAffinity && !st.Pod.NodeSelector.Matches(n.Name, n.NodeLabels) {
			return false
		}
		if k.HonorTaints && !toleratesAll(st.Pod.Pod.Spec.Tolerations, n.Taints) {
			return false
		}
	}
	return true
}

func toleratesAll(tols []corev1.Toleration, taints []corev1.Taint) bool {
	for i := range taints {
		t := &taints[i]
		if (t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute) && !toleratesTaint(tols, t) {
			return false
		}
	}
	return true
}

func (c *spreadCounts) matches(st *CycleState, i int, q *PodInfo) bool {
	return q.Pod.Namespace == st.Pod.Pod.Namespace && !q.Terminating() &&
		c.constraints[i].Selector.Matches(labels.Set(q.Pod.Labels))
}

// update counts q on n in (delta +1) or out (-1).
func (c *spreadCounts) update(st *CycleState, q *PodInfo, n *NodeInfo, delta int) {
	if !c.eligible(st, n) {
		return
	}
	for i := range c.constraints {
		if c.matches(st, i, q) {
			c.counts[i][n.NodeLabels[c.constraints[i].TopologyKey]] += delta
		}
	}
}

// spreadState is the filter's state: the hard constraints' counts, their
// global minimum (0 when fewer domains than minDomains) and whether the
// pod matches its own selector.
//
// A node in domain v passes constraint i when
//
//	counts[i][v] + selfMatch[i] - min[i] <= maxSkew
type spreadState struct {
	active bool
	spreadCounts
	min       []int
	selfMatch []bool
}

func (s *spreadState) computeMin() {
	for i := range s.constraints {
		m, first := 0, true
		for _, n := range s.counts[i] {
			if first || n < m {
				m, first = n, false
			}
		}
		if int32(len(s.counts[i])) < s.constraints[i].MinDomains {
			m = 0
		}
		s.min[i] = m
	}
}

func (s *spreadState) update(st *CycleState, q *PodInfo, n *NodeInfo, delta int) {
	if !s.active {
		return
	}
	s.spreadCounts.update(st, q, n, delta)
	s.computeMin()
}

// podTopologySpread is the topology spread filter (DoNotSchedule) and
// scorer (ScheduleAnyway).
type podTopologySpread struct{}

func (podTopologySpread) Name() string { return PodTopologySpread }

func (podTopologySpread) PreFilter(st *CycleState) Status {
	s := &st.spread
	*s = spreadState{}
	var hard []SpreadConstraint
	for _, c := range st.Pod.Spread {
		if c.Hard {
			hard = append(hard, c)
		}
	}
	if len(hard) == 0 {
		return Status{}
	}
	s.active = true
	s.init(st, hard)
	s.min = make([]int, len(hard))
	s.selfMatch = make([]bool, len(hard))
	for i := range hard {
		s.selfMatch[i] = hard[i].Selector.Matches(labels.Set(st.Pod.Pod.Labels))
	}
	s.computeMin()
	return Status{}
}

func (podTopologySpread) relevant(st *CycleState) bool { return st.spread.active }

func (podTopologySpread) Filter(st *CycleState, n *NodeInfo) Status {
	s := &st.spread
	if !s.active {
		return Status{}
	}
	for i := range s.constraints {
		c := &s.constraints[i]
		v, ok := n.NodeLabels[c.TopologyKey]
		if !ok {
			return failUnresolvable(PodTopologySpread, ReasonSpreadMissingLabel)
		}
		self := 0
		if s.selfMatch[i] {
			self = 1
		}
		if s.counts[i][v]+self-s.min[i] > int(c.MaxSkew) {
			return fail(PodTopologySpread, ReasonSpreadSkew)
		}
	}
	return Status{}
}

// spreadScoreState is the scorer's: the soft constraints' counts, each
// weighted by log(domains+2) so a constraint over more domains weighs
// more. A node's raw score is Σ counts[i][its domain] × weight[i] (×1000,
// as an integer); fewer matching pods is better. A node without a
// constraint's key scores 0.
type spreadScoreState struct {
	active bool
	spreadCounts
	weights []float64
}

func (podTopologySpread) PreScore(st *CycleState, _ []*NodeInfo) {
	s := &st.scoreSpread
	*s = spreadScoreState{}
	var soft []SpreadConstraint
	for _, c := range st.Pod.Spread {
		if !c.Hard {
			soft = append(soft, c)
		}
	}
	if len(soft) == 0 {
		return
	}
	s.active = true
	s.init(st, soft)
	s.weights = make([]float64, len(soft))
	for i := range soft {
		s.weights[i] = math.Log(float64(len(s.counts[i]) + 2))
	}
}

func (podTopologySpread) Score(st *CycleState, n *NodeInfo) int64 {
	s := &st.scoreSpread
	if !s.active {
		return 0
	}
	var raw float64
	for i := range s.constraints {
		v, ok := n.NodeLabels[s.constraints[i].TopologyKey]
		if !ok {
			return -1
		}
		raw += float64(s.counts[i][v]) * s.weights[i]
	}
	return int64(math.Round(raw * 1000))
}

// Normalize: the fewest matching pods score MaxScore, the most 0
// (all equal: MaxScore); nodes without the keys (-1) score 0.
func (podTopologySpread) Normalize(st *CycleState, scores []int64) {
	if !st.scoreSpread.active {
		return
	}
	lo, hi := int64(math.MaxInt64), int64(-1)
	for _, s := range scores {
		if s >= 0 {
			lo, hi = min(lo, s), max(hi, s)
		}
	}
	for i, s := range scores {
		switch {
		case s < 0:
			scores[i] = 0
		case hi == lo:
			scores[i] = MaxScore
		default:
			scores[i] = MaxScore * (hi - s) / (hi - lo)
		}
	}
}
