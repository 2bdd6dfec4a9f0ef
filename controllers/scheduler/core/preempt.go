package core

import (
	"fmt"
	"math"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Preemption's reasons, as kube-scheduler words them.
const (
	ReasonPreemptionNotHelpful = "Preemption is not helpful for scheduling"
	ReasonNoPreemptionVictims  = "No preemption victims found for incoming pod"
)

// Preemption is the outcome of trying to make room for a pod that fits
// no node by evicting pods of lower priority.
type Preemption struct {
	// Node is the nominated node; "" when preemption cannot help.
	Node string
	// Victims are the pods to evict from Node, least important first.
	Victims []*PodInfo
	// Message is appended to FailedScheduling's when Node is "":
	// "preemption: 0/5 nodes are available: 5 No preemption victims found
	// for incoming pod." or "preemption: not eligible due to
	// preemptionPolicy=Never."
	Message string
}

// Preempt decides which pods to evict so that pod, which d found fitting
// no node of snap, fits one. A node is a candidate when its filter failure
// may be resolved (resources, ports, anti-affinity, spread skew); on it,
// every pod of lower priority is removed, and if the pod then fits, the
// removed pods are put back one by one, most important first (higher
// priority, then earlier start), keeping each that still lets the pod fit.
// The rest are the node's victims. Among candidates the winner has, in
// order: the lowest highest victim priority, the lowest sum of victim
// priorities, the fewest victims, the latest start of its most important
// victim, the first in node order. PodDisruptionBudgets are not consulted.
//
// policy is the pod's preemption policy (PreemptNever refuses).
func (p *Profile) Preempt(pod *PodInfo, snap *Snapshot, d *Decision, policy corev1.PreemptionPolicy, opt Options) Preemption {
	if policy == corev1.PreemptNever {
		return Preemption{Message: "preemption: not eligible due to preemptionPolicy=Never."}
	}
	if nn := pod.Pod.Status.NominatedNodeName; nn != "" {
		if ni := snap.Node(nn); ni != nil {
			for _, q := range ni.Pods {
				if q.Terminating() && q.Priority < pod.Priority {
					return Preemption{Message: "preemption: not eligible due to a terminating pod on the nominated node."}
				}
			}
		}
	}
	n := d.NumNodes
	notHelpful := func() Preemption {
		return Preemption{Message: fmt.Sprintf("preemption: 0/%d nodes are available: %d %s.", n, n, ReasonPreemptionNotHelpful)}
	}
	if !d.PreFilter.OK() || pod.Err != nil {
		return notHelpful()
	}
	st := p.beginCycle(pod, snap)
	for _, pf := range p.preFilters {
		if s := pf.PreFilter(st); !s.OK() {
			return notHelpful()
		}
	}
	p.selectFilters(st)
	hist := map[string]int{}
	var best *candidate
	for _, v := range d.Verdicts {
		if v.Status.Code != Unschedulable {
			hist[ReasonPreemptionNotHelpful]++
			continue
		}
		c := p.victimsOn(st, v.Node, opt.Nominated)
		if c == nil {
			hist[ReasonNoPreemptionVictims]++
			continue
		}
		if best == nil || c.better(best) {
			best = c
		}
	}
	if best == nil {
		return Preemption{Message: fmt.Sprintf("preemption: 0/%d nodes are available: %s.", n, histogram(hist))}
	}
	return Preemption{Node: best.node.Name, Victims: best.victims}
}

// candidate is a node and the victims that make room on it.
type candidate struct {
	node    *NodeInfo
	victims []*PodInfo // least important first
	// highest is the highest victim priority; sum the sum of victim
	// priorities each shifted by 2^31 (so more victims weigh more).
	highest int32
	sum     int64
	start   time.Time // start of the most important victim
}

func (c *candidate) better(o *candidate) bool {
	if c.highest != o.highest {
		return c.highest < o.highest
	}
	if c.sum != o.sum {
		return c.sum < o.sum
	}
	if len(c.victims) != len(o.victims) {
		return len(c.victims) < len(o.victims)
	}
	return c.start.After(o.start)
}

// victimsOn finds the fewest, least important victims on n; nil when
// removing every lower-priority pod does not make the pod fit. The cycle
// state is the same after as before.
func (p *Profile) victimsOn(st *CycleState, n *NodeInfo, nominated map[string][]*PodInfo) *candidate {
	var lower []*PodInfo
	for _, q := range n.Pods {
		if q.Priority < st.Pod.Priority {
			lower = append(lower, q)
		}
	}
	if len(lower) == 0 {
		return nil
	}
	// Most important first: higher priority, then earlier start.
	slices.SortStableFunc(lower, func(a, b *PodInfo) int {
		if a.Priority != b.Priority {
			return int(b.Priority) - int(a.Priority)
		}
		return podStart(a).Compare(podStart(b))
	})
	c := n.Clone()
	for _, q := range lower {
		c.RemovePod(q.Key)
		st.update(q, n, -1)
	}
	if !p.filter(st, c, nominated, nil).OK() {
		for _, q := range lower {
			st.update(q, n, 1)
		}
		return nil
	}
	var victims []*PodInfo
	for _, q := range lower {
		c.AddPod(q)
		st.update(q, n, 1)
		if p.filter(st, c, nominated, nil).OK() {
			continue // reprieved
		}
		c.RemovePod(q.Key)
		st.update(q, n, -1)
		victims = append(victims, q)
	}
	for _, q := range victims {
		st.update(q, n, 1)
	}
	cand := &candidate{node: n, highest: math.MinInt32}
	for _, q := range victims {
		cand.sum += int64(q.Priority) + math.MaxInt32 + 1
	}
	if len(victims) > 0 {
		cand.highest = victims[0].Priority
		cand.start = podStart(victims[0])
	}
	slices.Reverse(victims)
	cand.victims = victims
	return cand
}

// update counts q on n in or out of the cycle's cluster-wide state.
func (st *CycleState) update(q *PodInfo, n *NodeInfo, delta int) {
	st.affinity.update(st, q, n, delta)
	st.spread.update(st, q, n, delta)
}

func podStart(p *PodInfo) time.Time {
	if p.Pod.Status.StartTime != nil {
		return p.Pod.Status.StartTime.Time
	}
	return p.Pod.CreationTimestamp.Time
}
