package core

import "slices"

// topologyPair is one topology domain: a node label and its value.
type topologyPair struct{ key, value string }

// affinityState counts, per topology domain, the existing pods that the
// pod's required terms select, and the existing pods whose required
// anti-affinity selects the pod:
//
//	affinity[i][v]  pods matching ALL the pod's required affinity terms,
//	                on nodes where term i's key has value v
//	anti[i][v]      pods matching anti-affinity term i, in domain v
//	existing[p]     pods whose required anti-affinity term (key k) selects
//	                the pod, on nodes in domain p = (k, value)
//
// A node passes when, for every affinity term, its domain has a pod (or
// no pod in the cluster matches and the pod matches its own terms: the
// first of a group), no anti-affinity term's domain has one, and it is in
// no "existing" domain.
type affinityState struct {
	active        bool
	affinity      []map[string]int
	affinityTotal int
	anti          []map[string]int
	existing      map[topologyPair]int
	selfMatch     bool
}

// interPodAffinity is the required inter-pod (anti-)affinity filter and
// the preferred inter-pod (anti-)affinity scorer.
type interPodAffinity struct{}

func (interPodAffinity) Name() string { return InterPodAffinity }

func (interPodAffinity) PreFilter(st *CycleState) Status {
	p, snap := st.Pod, st.Snap
	s := &st.affinity
	*s = affinityState{}
	if len(p.RequiredAffinity) == 0 && len(p.RequiredAntiAffinity) == 0 && len(snap.withRequiredAnti) == 0 {
		return Status{}
	}
	s.active = true
	s.affinity = make([]map[string]int, len(p.RequiredAffinity))
	for i := range s.affinity {
		s.affinity[i] = map[string]int{}
	}
	s.anti = make([]map[string]int, len(p.RequiredAntiAffinity))
	for i := range s.anti {
		s.anti[i] = map[string]int{}
	}
	s.existing = map[topologyPair]int{}
	s.selfMatch = true
	for i := range p.RequiredAffinity {
		if !p.RequiredAffinity[i].Matches(p.Pod, snap.Namespaces) {
			s.selfMatch = false
		}
	}
	if len(p.RequiredAffinity)+len(p.RequiredAntiAffinity) > 0 {
		for _, n := range snap.nodes {
			for _, q := range n.Pods {
				s.updateIncoming(st, q, n, 1)
			}
		}
	}
	for _, n := range snap.withRequiredAnti {
		for _, q := range n.Pods {
			s.updateExisting(st, q, n, 1)
		}
	}
	return Status{}
}

// updateIncoming counts (delta +1) or uncounts (-1) existing pod q on n
// against the pod's own required terms.
func (s *affinityState) updateIncoming(st *CycleState, q *PodInfo, n *NodeInfo, delta int) {
	p, labels := st.Pod, n.Labels()
	if len(p.RequiredAffinity) > 0 {
		all := true
		for i := range p.RequiredAffinity {
			if !p.RequiredAffinity[i].Matches(q.Pod, st.Snap.Namespaces) {
				all = false
				break
			}
		}
		if all {
			for i := range p.RequiredAffinity {
				if v, ok := labels[p.RequiredAffinity[i].TopologyKey]; ok {
					s.affinity[i][v] += delta
					s.affinityTotal += delta
				}
			}
		}
	}
	for i := range p.RequiredAntiAffinity {
		t := &p.RequiredAntiAffinity[i]
		if v, ok := labels[t.TopologyKey]; ok && t.Matches(q.Pod, st.Snap.Namespaces) {
			s.anti[i][v] += delta
		}
	}
}

// updateExisting counts q's required anti-affinity terms that select the
// pod.
func (s *affinityState) updateExisting(st *CycleState, q *PodInfo, n *NodeInfo, delta int) {
	labels := n.Labels()
	for i := range q.RequiredAntiAffinity {
		t := &q.RequiredAntiAffinity[i]
		if v, ok := labels[t.TopologyKey]; ok && t.Matches(st.Pod.Pod, st.Snap.Namespaces) {
			s.existing[topologyPair{t.TopologyKey, v}] += delta
		}
	}
}

// update counts q on n in or out of every part of the state (preemption's
// what-if removal of victims).
func (s *affinityState) update(st *CycleState, q *PodInfo, n *NodeInfo, delta int) {
	if !s.active {
		return
	}
	s.updateIncoming(st, q, n, delta)
	s.updateExisting(st, q, n, delta)
}

func (interPodAffinity) relevant(st *CycleState) bool { return st.affinity.active }

func (interPodAffinity) Filter(st *CycleState, n *NodeInfo) Status {
	s := &st.affinity
	if !s.active {
		return Status{}
	}
	p, labels := st.Pod, n.NodeLabels
	if len(p.RequiredAffinity) > 0 {
		found := true
		for i := range p.RequiredAffinity {
			v, ok := labels[p.RequiredAffinity[i].TopologyKey]
			if !ok {
				return failUnresolvable(InterPodAffinity, ReasonAffinityNotMatch)
			}
			if s.affinity[i][v] <= 0 {
				found = false
			}
		}
		if !found && (s.affinityTotal > 0 || !s.selfMatch) {
			return failUnresolvable(InterPodAffinity, ReasonAffinityNotMatch)
		}
	}
	for i := range p.RequiredAntiAffinity {
		if v, ok := labels[p.RequiredAntiAffinity[i].TopologyKey]; ok && s.anti[i][v] > 0 {
			return fail(InterPodAffinity, ReasonAntiAffinityNotMatch)
		}
	}
	if len(s.existing) > 0 {
		for k, v := range labels {
			if s.existing[topologyPair{k, v}] > 0 {
				return fail(InterPodAffinity, ReasonExistingAntiAff)
			}
		}
	}
	return Status{}
}

// affinityScoreState sums, per topology domain, the weights of preferred
// terms between the pod and the pods in that domain: the pod's preferred
// affinity (+weight) and anti-affinity (-weight) selecting existing pods,
// and existing pods' required affinity (+hardPodAffinityWeight),
// preferred affinity (+weight) and anti-affinity (-weight) selecting the
// pod. A node's raw score is the sum over its domains.
type affinityScoreState struct {
	active bool
	scores map[topologyPair]int64
	keys   []string
}

func (s *affinityScoreState) add(key string, labels map[string]string, w int64) {
	v, ok := labels[key]
	if !ok || w == 0 {
		return
	}
	s.scores[topologyPair{key, v}] += w
	if !slices.Contains(s.keys, key) {
		s.keys = append(s.keys, key)
	}
}

func (interPodAffinity) PreScore(st *CycleState, _ []*NodeInfo) {
	p, snap := st.Pod, st.Snap
	s := &st.scoreAffinity
	*s = affinityScoreState{}
	preferred := len(p.PreferredAffinity)+len(p.PreferredAntiAffinity) > 0
	if !preferred && len(snap.withAffinity) == 0 {
		return
	}
	s.scores = map[topologyPair]int64{}
	nodes := snap.withAffinity
	if preferred {
		nodes = snap.nodes
	}
	ns := snap.Namespaces
	for _, n := range nodes {
		labels := n.Labels()
		for _, q := range n.Pods {
			for i := range p.PreferredAffinity {
				if t := &p.PreferredAffinity[i]; t.Matches(q.Pod, ns) {
					s.add(t.TopologyKey, labels, t.Weight)
				}
			}
			for i := range p.PreferredAntiAffinity {
				if t := &p.PreferredAntiAffinity[i]; t.Matches(q.Pod, ns) {
					s.add(t.TopologyKey, labels, -t.Weight)
				}
			}
			if !q.HasAffinity() {
				continue
			}
			for i := range q.RequiredAffinity {
				if t := &q.RequiredAffinity[i]; st.hardPodAffinityWeight > 0 && t.Matches(p.Pod, ns) {
					s.add(t.TopologyKey, labels, st.hardPodAffinityWeight)
				}
			}
			for i := range q.PreferredAffinity {
				if t := &q.PreferredAffinity[i]; t.Matches(p.Pod, ns) {
					s.add(t.TopologyKey, labels, t.Weight)
				}
			}
			for i := range q.PreferredAntiAffinity {
				if t := &q.PreferredAntiAffinity[i]; t.Matches(p.Pod, ns) {
					s.add(t.TopologyKey, labels, -t.Weight)
				}
			}
		}
	}
	s.active = len(s.scores) > 0
}

func (interPodAffinity) Score(st *CycleState, n *NodeInfo) int64 {
	s := &st.scoreAffinity
	if !s.active {
		return 0
	}
	var score int64
	labels := n.NodeLabels
	for _, k := range s.keys {
		if v, ok := labels[k]; ok {
			score += s.scores[topologyPair{k, v}]
		}
	}
	return score
}

// Normalize maps [min, max] to [0, MaxScore]; all equal scores are 0.
func (interPodAffinity) Normalize(st *CycleState, scores []int64) {
	if !st.scoreAffinity.active {
		return
	}
	normalizeMinMax(scores)
}

// normalizeMinMax maps scores from [min, max] onto [0, MaxScore]; when all
// are equal they become 0.
func normalizeMinMax(scores []int64) {
	if len(scores) == 0 {
		return
	}
	lo, hi := slices.Min(scores), slices.Max(scores)
	for i, s := range scores {
		if hi > lo {
			scores[i] = MaxScore * (s - lo) / (hi - lo)
		} else {
			scores[i] = 0
		}
	}
}
