package core

import (
	"fmt"
	"slices"
)

// Config configures a Profile. The zero value is kube-scheduler's
// defaults.
type Config struct {
	// PercentageOfNodesToScore: the search for feasible nodes stops once
	// this share of all nodes (at least MinFeasibleNodesToFind) is
	// feasible; 1-100. Default 0: adaptive, 50% minus 1% per 125 nodes,
	// at least 5% (10% of 5,000 nodes: 500).
	PercentageOfNodesToScore int32
	// MinFeasibleNodesToFind: the floor of that count; default 100.
	// Clusters with fewer nodes are searched whole.
	MinFeasibleNodesToFind int
	// HardPodAffinityWeight: the score an existing pod's required
	// affinity toward the pod adds to its domain; default 1, negative: 0.
	HardPodAffinityWeight int64
	// Weights of the scorers by name; a missing name has its default:
	// NodeResourcesFit 1, NodeResourcesBalancedAllocation 1,
	// InterPodAffinity 2, NodeAffinity 2, PodTopologySpread 2,
	// TaintToleration 3. Weight 0 disables a scorer.
	Weights map[string]int64
}

// ScorerInfo names a scorer and its weight, for explanations.
type ScorerInfo struct {
	Name   string
	Weight int64
}

// Profile is the chain of filters and weighted scorers, and the scratch
// buffers its decisions reuse. A Profile is not safe for concurrent use;
// a Decision it returns is valid until its next Schedule or Preempt
// (Clone keeps one).
type Profile struct {
	cfg        Config
	filters    []Filter
	preFilters []PreFilter
	scorers    []WeightedScorer
	preScorers []PreScorer
	info       []ScorerInfo

	st       CycleState
	active   []Filter // the filters relevant to this cycle's pod
	d        Decision
	feasible []*NodeInfo
	col      []int64
}

// NewProfile builds the default chain: filters in kube-scheduler's order
//
//	NodeUnschedulable → NodeName → TaintToleration → NodeAffinity →
//	NodePorts → NodeResourcesFit → VolumeBinding → PodTopologySpread →
//	InterPodAffinity
//
// and the scorers NodeResourcesFit (least allocated),
// NodeResourcesBalancedAllocation, TaintToleration, NodeAffinity,
// InterPodAffinity, PodTopologySpread.
func NewProfile(cfg Config) *Profile {
	if cfg.MinFeasibleNodesToFind <= 0 {
		cfg.MinFeasibleNodesToFind = 100
	}
	if cfg.HardPodAffinityWeight == 0 {
		cfg.HardPodAffinityWeight = 1
	} else if cfg.HardPodAffinityWeight < 0 {
		cfg.HardPodAffinityWeight = 0
	}
	p := &Profile{cfg: cfg}
	p.filters = []Filter{nodeUnschedulable{}, nodeName{}, taintToleration{}, nodeAffinity{}, nodePorts{},
		nodeResourcesFit{}, volumeBinding{}, podTopologySpread{}, interPodAffinity{}}
	for _, f := range p.filters {
		if pf, ok := f.(PreFilter); ok {
			p.preFilters = append(p.preFilters, pf)
		}
	}
	defaults := []WeightedScorer{
		{nodeResourcesFit{}, 1}, {balancedAllocation{}, 1}, {taintToleration{}, 3},
		{nodeAffinity{}, 2}, {interPodAffinity{}, 2}, {podTopologySpread{}, 2},
	}
	for _, s := range defaults {
		if w, ok := cfg.Weights[s.Name()]; ok {
			s.Weight = w
		}
		if s.Weight <= 0 {
			continue
		}
		p.scorers = append(p.scorers, s)
		p.info = append(p.info, ScorerInfo{Name: s.Name(), Weight: s.Weight})
		if ps, ok := s.Scorer.(PreScorer); ok {
			p.preScorers = append(p.preScorers, ps)
		}
	}
	return p
}

// Filters names the filters in order.
func (p *Profile) Filters() []string {
	out := make([]string, len(p.filters))
	for i, f := range p.filters {
		out[i] = f.Name()
	}
	return out
}

// Scorers names the scorers with their weights.
func (p *Profile) Scorers() []ScorerInfo { return p.info }

// NumFeasibleNodesToFind is how many feasible nodes the search stops at
// in a cluster of n nodes.
func (p *Profile) NumFeasibleNodesToFind(n int) int {
	minFind := p.cfg.MinFeasibleNodesToFind
	if n < minFind {
		return n
	}
	pct := int(p.cfg.PercentageOfNodesToScore)
	if pct <= 0 {
		pct = max(50-n/125, 5)
	}
	if pct >= 100 {
		return n
	}
	return max(n*pct/100, minFind)
}

// Options are a decision's inputs besides the pod and the snapshot.
type Options struct {
	// Start is the index (in the snapshot's node order) where the search
	// for feasible nodes begins; the scheduler passes the previous
	// decision's NextStart so successive pods look at different nodes.
	Start int
	// Rand picks among equally scored best nodes (the Rand mod n-th).
	Rand uint64
	// Explain evaluates every node (no sampling), runs every filter on
	// every node (not only up to the first failure) and scores even a
	// single feasible node.
	Explain bool
	// Nominated are pods that preemption nominated to a node (by node
	// name) and that are not placed yet: on that node, those with at least
	// the pod's priority count as placed.
	Nominated map[string][]*PodInfo
}

// Verdict is one node's filter result.
type Verdict struct {
	Node *NodeInfo
	// Status is the first failing filter's, or Success.
	Status Status
	// Failures are every failing filter's statuses, in filter order
	// (Explain only).
	Failures []Status
}

// Decision is the outcome of scheduling one pod on a snapshot: the chosen
// node (or none), every evaluated node's verdict and every feasible node's
// scores.
type Decision struct {
	Pod *PodInfo
	// Node is the chosen node's name; "" when the pod fits no node.
	Node string
	// NumNodes counts the snapshot's nodes.
	NumNodes int
	// PreFilter, when not OK, failed the pod before any node was checked
	// (an unbound claim, a selector that does not parse).
	PreFilter Status
	// Verdicts of the evaluated nodes, in evaluation order.
	Verdicts []Verdict
	// Feasible indexes Verdicts: the nodes that passed, in order.
	Feasible []int
	// Scorers name the columns of Scores.
	Scorers []ScorerInfo
	// Scores[i*len(Scorers)+s] is scorer s's normalized score (0..100) of
	// the i-th feasible node; Totals[i] the weighted sum. Empty when one
	// node was feasible (nothing to rank) outside Explain.
	Scores []int64
	Totals []int64
	// NextStart is where the next decision's search should begin.
	NextStart int
}

// Score is scorer s's normalized score of the i-th feasible node.
func (d *Decision) Score(i, s int) int64 { return d.Scores[i*len(d.Scorers)+s] }

// Clone is a copy that the Profile's next decision does not overwrite.
func (d *Decision) Clone() *Decision {
	c := *d
	c.Verdicts = slices.Clone(d.Verdicts)
	c.Feasible = slices.Clone(d.Feasible)
	c.Scores = slices.Clone(d.Scores)
	c.Totals = slices.Clone(d.Totals)
	return &c
}

// Schedule decides where pod goes on snap: the filters find feasible
// nodes, starting at opt.Start and stopping once NumFeasibleNodesToFind
// are found; the scorers rank them; the best total wins (ties broken by
// opt.Rand). A pod nominated to a node (status.nominatedNodeName) that
// still fits there goes there without a search. Schedule is a pure
// function of its arguments; it does not change pod or snap.
func (p *Profile) Schedule(pod *PodInfo, snap *Snapshot, opt Options) *Decision {
	d := &p.d
	*d = Decision{Pod: pod, NumNodes: len(snap.nodes), Scorers: p.info,
		Verdicts: d.Verdicts[:0], Feasible: d.Feasible[:0], Scores: d.Scores[:0], Totals: d.Totals[:0], NextStart: opt.Start}
	if pod.Err != nil {
		d.PreFilter = failUnresolvable("", pod.Err.Error())
		return d
	}
	if d.NumNodes == 0 {
		return d
	}
	st := p.beginCycle(pod, snap)
	for _, pf := range p.preFilters {
		if s := pf.PreFilter(st); !s.OK() {
			d.PreFilter = s
			return d
		}
	}
	p.selectFilters(st)
	if nn := pod.Pod.Status.NominatedNodeName; nn != "" && !opt.Explain {
		if ni := snap.Node(nn); ni != nil {
			if s := p.filter(st, ni, opt.Nominated, nil); s.OK() {
				d.Node = nn
				d.Verdicts = append(d.Verdicts, Verdict{Node: ni})
				d.Feasible = append(d.Feasible, 0)
				return d
			}
		}
	}
	nodes := snap.nodes
	toFind := len(nodes)
	if !opt.Explain {
		toFind = p.NumFeasibleNodesToFind(len(nodes))
	}
	start := opt.Start % len(nodes)
	if start < 0 {
		start += len(nodes)
	}
	evaluated := 0
	for evaluated < len(nodes) && len(d.Feasible) < toFind {
		ni := nodes[(start+evaluated)%len(nodes)]
		evaluated++
		v := Verdict{Node: ni}
		if opt.Explain {
			v.Status = p.filter(st, ni, opt.Nominated, &v.Failures)
		} else {
			v.Status = p.filter(st, ni, opt.Nominated, nil)
		}
		if v.Status.OK() {
			d.Feasible = append(d.Feasible, len(d.Verdicts))
		}
		d.Verdicts = append(d.Verdicts, v)
	}
	d.NextStart = (start + evaluated) % len(nodes)
	switch {
	case len(d.Feasible) == 0:
		return d
	case len(d.Feasible) == 1 && !opt.Explain:
		d.Node = d.Verdicts[d.Feasible[0]].Node.Name
		return d
	}
	p.score(st, d)
	d.Node = d.Verdicts[d.Feasible[pickBest(d.Totals, opt.Rand)]].Node.Name
	return d
}

func (p *Profile) beginCycle(pod *PodInfo, snap *Snapshot) *CycleState {
	st := &p.st
	*st = CycleState{Pod: pod, Snap: snap, hardPodAffinityWeight: p.cfg.HardPodAffinityWeight}
	p.active = p.active[:0]
	return st
}

// selectFilters keeps, after the pre-filters ran, the filters that may
// fail a node for this pod.
func (p *Profile) selectFilters(st *CycleState) {
	p.active = p.active[:0]
	for _, f := range p.filters {
		if r, ok := f.(relevant); !ok || r.relevant(st) {
			p.active = append(p.active, f)
		}
	}
}

// filter runs the filters on n (with the nominated pods that outrank the
// pod counted as placed). With all != nil it runs every filter and
// appends each failure to *all; it returns the first failure.
func (p *Profile) filter(st *CycleState, n *NodeInfo, nominated map[string][]*PodInfo, all *[]Status) Status {
	n = withNominated(n, st.Pod, nominated)
	var first Status
	for _, f := range p.active {
		s := f.Filter(st, n)
		if s.OK() {
			continue
		}
		if all == nil {
			return s
		}
		if first.OK() {
			first = s
		}
		*all = append(*all, s)
	}
	return first
}

// withNominated is n, or a clone of it with the pods nominated to it that
// have at least pod's priority.
func withNominated(n *NodeInfo, pod *PodInfo, nominated map[string][]*PodInfo) *NodeInfo {
	if len(nominated) == 0 {
		return n
	}
	noms := nominated[n.Name]
	if len(noms) == 0 {
		return n
	}
	var c *NodeInfo
	for _, q := range noms {
		if q.Key == pod.Key || q.Priority < pod.Priority {
			continue
		}
		if c == nil {
			c = n.Clone()
		}
		c.AddPod(q)
	}
	if c == nil {
		return n
	}
	return c
}

// score fills d.Scores and d.Totals for the feasible nodes.
func (p *Profile) score(st *CycleState, d *Decision) {
	nf, ns := len(d.Feasible), len(p.scorers)
	p.feasible = p.feasible[:0]
	for _, i := range d.Feasible {
		p.feasible = append(p.feasible, d.Verdicts[i].Node)
	}
	for _, ps := range p.preScorers {
		ps.PreScore(st, p.feasible)
	}
	d.Scores = slices.Grow(d.Scores[:0], nf*ns)[:nf*ns]
	d.Totals = slices.Grow(d.Totals[:0], nf)[:nf]
	clear(d.Totals)
	p.col = slices.Grow(p.col[:0], nf)[:nf]
	for s, sc := range p.scorers {
		for i, n := range p.feasible {
			p.col[i] = sc.Score(st, n)
		}
		sc.Normalize(st, p.col)
		for i, v := range p.col {
			d.Scores[i*ns+s] = v
			d.Totals[i] += v * sc.Weight
		}
	}
}

// pickBest is the index of the highest total; among ties the (r mod
// ties)-th.
func pickBest(totals []int64, r uint64) int {
	best := slices.Max(totals)
	ties := 0
	for _, t := range totals {
		if t == best {
			ties++
		}
	}
	k := int(r % uint64(ties))
	for i, t := range totals {
		if t == best {
			if k == 0 {
				return i
			}
			k--
		}
	}
	return 0
}

// String summarizes the decision in one line, for logs.
func (d *Decision) String() string {
	if d.Node != "" {
		return fmt.Sprintf("%s -> %s (%d of %d nodes evaluated, %d feasible)", d.Pod.Key, d.Node, len(d.Verdicts), d.NumNodes, len(d.Feasible))
	}
	return fmt.Sprintf("%s: %s", d.Pod.Key, d.Message())
}
