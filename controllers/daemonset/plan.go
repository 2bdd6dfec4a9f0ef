package daemonset

// Decide: the pure core. From one snapshot (the DaemonSet, the nodes, the
// daemon pods it controls) it works out which nodes get a new pod, which
// pods go and why, and the status to report.

import (
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Input is the snapshot a sync decides from.
type Input struct {
	DS *appsv1.DaemonSet
	// Hash labels the pods of the current template (LabelRevisionHash);
	// pods with another hash are old.
	Hash string
	// Nodes is every node of the cluster.
	Nodes []*corev1.Node
	// Pods are the pods DS controls, terminating ones included.
	Pods []*corev1.Pod
	// Backoff holds, per node name, the time before which a failed daemon
	// pod there is left alone (it was recreated recently and failed
	// again); absent means no back-off.
	Backoff map[string]time.Time
	Now     time.Time
}

// Reason says why a pod is deleted.
type Reason string

const (
	// ReasonFailed: the pod failed (or exited); it is replaced.
	ReasonFailed Reason = "failed"
	// ReasonExcess: another daemon pod on the same node is kept.
	ReasonExcess Reason = "excess"
	// ReasonIneligible: the node no longer matches the pod's node
	// selector or affinity, or has a NoExecute taint it does not tolerate.
	ReasonIneligible Reason = "ineligible"
	// ReasonNodeGone: the node the pod is for does not exist.
	ReasonNodeGone Reason = "node gone"
	// ReasonUpdate: the pod runs an old template; the rolling update
	// replaces it.
	ReasonUpdate Reason = "update"
)

// Deletion is a pod to delete and why.
type Deletion struct {
	Pod    *corev1.Pod
	Node   string
	Reason Reason
}

// Plan is what a sync does: deletions, then creations (one pod on each
// listed node), and the status from the snapshot.
type Plan struct {
	// Creates lists nodes to give a new pod, sorted by name.
	Creates []string
	Deletes []Deletion
	// Status is the DaemonSet's status in this snapshot (before the plan
	// runs); CollisionCount is left for the caller.
	Status appsv1.DaemonSetStatus
	// RequeueAfter, when positive, is when the snapshot changes by time
	// alone (a pod becoming available after minReadySeconds, a back-off
	// ending): sync again then.
	RequeueAfter time.Duration
}

func (p *Plan) requeue(d time.Duration) {
	if d > 0 && (p.RequeueAfter == 0 || d < p.RequeueAfter) {
		p.RequeueAfter = d
	}
}

func (p *Plan) delete(pod *corev1.Pod, node string, r Reason) {
	p.Deletes = append(p.Deletes, Deletion{Pod: pod, Node: node, Reason: r})
}

// nodeState is one node's daemon pods.
type nodeState struct {
	node *corev1.Node
	fit  Fit
	// active pods: neither terminating nor finished, best first after
	// dedupe (see rank).
	active []*corev1.Pod
	// pending is true while a pod on the node is terminating or failed:
	// no new pod is made until it is gone.
	pending bool
}

// Decide plans one sync of in.DS. Invariants of the plan:
//   - a node that should run the daemon and has no pod at all (not even
//     a terminating or failed one) gets one;
//   - a node ends with at most one pod (two during a surge update: the
//     old and the new);
//   - pods on nodes that should no longer run them, or on nodes that do
//     not exist, are deleted; pods on a node only NoSchedule-tainted
//     since they started stay;
//   - a rolling update never makes more than maxUnavailable eligible
//     nodes lack an available pod (surge: never more than maxSurge nodes
//     run two pods), deleting nothing available beyond that;
//   - a DaemonSet being deleted gets no actions, only its status.
func Decide(in Input) Plan {
	ds := in.DS
	var p Plan
	byNode := map[string][]*corev1.Pod{}
	for _, pod := range in.Pods {
		n := TargetNode(pod)
		byNode[n] = append(byNode[n], pod)
	}
	nodes := append([]*corev1.Node(nil), in.Nodes...)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })

	manage := ds.DeletionTimestamp == nil
	minReady := ds.Spec.MinReadySeconds
	states := make([]*nodeState, 0, len(nodes))
	desired := 0
	for _, node := range nodes {
		s := &nodeState{node: node, fit: NodeFit(&ds.Spec.Template.Spec, node)}
		if s.fit.ShouldRun {
			desired++
		}
		for _, pod := range byNode[node.Name] {
			switch {
			case terminating(pod):
				s.pending = true
			case finished(pod):
				s.pending = true
				switch until, ok := in.Backoff[node.Name]; {
				case !manage:
				case !s.fit.ShouldContinueRunning:
					p.delete(pod, node.Name, ReasonIneligible)
				case ok && in.Now.Before(until):
					p.requeue(until.Sub(in.Now))
				default:
					p.delete(pod, node.Name, ReasonFailed)
				}
			default:
				s.active = append(s.active, pod)
			}
		}
		delete(byNode, node.Name)
		states = append(states, s)
	}
	p.Status = status(ds, in.Hash, states, desired, in.Now, &p)
	if !manage {
		return p
	}
	gone := make([]string, 0, len(byNode))
	for n := range byNode {
		gone = append(gone, n)
	}
	sort.Strings(gone)
	for _, n := range gone {
		for _, pod := range byNode[n] {
			if !terminating(pod) {
				p.delete(pod, n, ReasonNodeGone)
			}
		}
	}

	rolling := ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType
	maxSurge, maxUnavailable := 0, 0
	if rolling {
		maxSurge, maxUnavailable = rollingLimits(ds.Spec.UpdateStrategy.RollingUpdate, desired)
	}
	for _, s := range states {
		name := s.node.Name
		if !s.fit.ShouldContinueRunning {
			for _, pod := range s.active {
				p.delete(pod, name, ReasonIneligible)
			}
			s.active = nil
			continue
		}
		if len(s.active) == 0 {
			if s.fit.ShouldRun && !s.pending {
				p.Creates = append(p.Creates, name)
			}
			continue
		}
		rank(s.active, in.Hash, minReady, in.Now)
		keep := 1
		if maxSurge > 0 {
			keep = 2 // the best old and the best new pod
		}
		s.active = dedupe(&p, s, in.Hash, keep)
	}
	if rolling {
		rollingUpdate(&p, states, in.Hash, minReady, in.Now, maxSurge, maxUnavailable)
	}
	sort.Strings(p.Creates)
	return p
}

// rank orders a node's pods best first: of the current template, then
// available, then ready, then oldest, then by name.
func rank(pods []*corev1.Pod, hash string, minReady int32, now time.Time) {
	score := func(pod *corev1.Pod) int {
		ready, available, _ := availability(pod, minReady, now)
		s := 0
		if pod.Labels[LabelRevisionHash] == hash {
			s += 4
		}
		if available {
			s += 2
		}
		if ready {
			s++
		}
		return s
	}
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if sa, sb := score(a), score(b); sa != sb {
			return sa > sb
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

// dedupe keeps the best pod (keep 1), or the best new and the best old pod
// (keep 2, a surge update), and plans the deletion of the rest.
func dedupe(p *Plan, s *nodeState, hash string, keep int) []*corev1.Pod {
	var kept []*corev1.Pod
	var haveNew, haveOld bool
	for _, pod := range s.active {
		isNew := pod.Labels[LabelRevisionHash] == hash
		switch {
		case len(kept) == 0:
		case keep == 2 && isNew && !haveNew:
		case keep == 2 && !isNew && !haveOld:
		default:
			p.delete(pod, s.node.Name, ReasonExcess)
			continue
		}
		kept = append(kept, pod)
		if isNew {
			haveNew = true
		} else {
			haveOld = true
		}
	}
	return kept
}

// rollingLimits resolves maxSurge and maxUnavailable against desired
// nodes; percentages round up. Both zero (refused by validation) means
// maxUnavailable 1.
func rollingLimits(ru *appsv1.RollingUpdateDaemonSet, desired int) (surge, unavailable int) {
	if ru != nil {
		surge = scaled(ru.MaxSurge, desired)
		unavailable = scaled(ru.MaxUnavailable, desired)
	} else {
		unavailable = 1
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

func scaled(v *intstr.IntOrString, total int) int {
	if v == nil {
		return 0
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, total, true)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// rollingUpdate replaces old pods on nodes that should run the daemon.
// Without surge, an old pod is deleted (and a new one made on the next
// sync) while fewer than maxUnavailable nodes lack an available pod;
// unavailable old pods go at once, costing nothing. With surge, a new pod
// is made beside an available old one on up to maxSurge nodes at a time,
// and the old one is deleted when the new one is available.
func rollingUpdate(p *Plan, states []*nodeState, hash string, minReady int32, now time.Time, maxSurge, maxUnavailable int) {
	isNew := func(pod *corev1.Pod) bool { return pod.Labels[LabelRevisionHash] == hash }
	avail := func(pod *corev1.Pod) bool { _, a, _ := availability(pod, minReady, now); return a }
	type pair struct {
		s        *nodeState
		old, new *corev1.Pod
	}
	var pairs []pair
	unavailable, surging := 0, 0
	for _, s := range states {
		if !s.fit.ShouldRun {
			continue
		}
		var pr pair
		pr.s = s
		for _, pod := range s.active {
			if isNew(pod) {
				pr.new = pod
			} else if pr.old == nil {
				pr.old = pod
			}
		}
		anyAvailable := (pr.new != nil && avail(pr.new)) || (pr.old != nil && avail(pr.old))
		if !anyAvailable {
			unavailable++
		}
		if pr.old != nil && pr.new != nil {
			surging++
		}
		if pr.old != nil {
			pairs = append(pairs, pr)
		}
	}
	if maxSurge == 0 {
		var candidates []pair
		for _, pr := range pairs {
			if pr.new != nil {
				continue // two pods without surge were deduped already
			}
			if !avail(pr.old) {
				p.delete(pr.old, pr.s.node.Name, ReasonUpdate)
				continue
			}
			candidates = append(candidates, pr)
		}
		for _, pr := range candidates {
			if unavailable >= maxUnavailable {
				break
			}
			p.delete(pr.old, pr.s.node.Name, ReasonUpdate)
			unavailable++
		}
		return
	}
	for _, pr := range pairs {
		name := pr.s.node.Name
		switch {
		case pr.new != nil && avail(pr.new):
			p.delete(pr.old, name, ReasonUpdate)
		case pr.new != nil:
			// the surge pod is not available yet: wait
		case !avail(pr.old):
			p.delete(pr.old, name, ReasonUpdate)
		case surging < maxSurge && !pr.s.pending:
			p.Creates = append(p.Creates, name)
			surging++
		}
	}
}

// status counts, over nodes that should run the daemon: desired, those
// with a pod (current), with a ready, available or up-to-date pod; and
// nodes with a pod that should not run it (misscheduled). Terminating
// and finished pods count for nothing.
func status(ds *appsv1.DaemonSet, hash string, states []*nodeState, desired int, now time.Time, p *Plan) appsv1.DaemonSetStatus {
	st := appsv1.DaemonSetStatus{
		ObservedGeneration:     ds.Generation,
		DesiredNumberScheduled: int32(desired),
	}
	for _, s := range states {
		if len(s.active) == 0 {
			continue
		}
		if !s.fit.ShouldRun {
			st.NumberMisscheduled++
			continue
		}
		st.CurrentNumberScheduled++
		var ready, available, updated bool
		for _, pod := range s.active {
			r, a, wait := availability(pod, ds.Spec.MinReadySeconds, now)
			ready = ready || r
			available = available || a
			updated = updated || pod.Labels[LabelRevisionHash] == hash
			p.requeue(wait)
		}
		if ready {
			st.NumberReady++
		}
		if available {
			st.NumberAvailable++
		}
		if updated {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	return st
}
