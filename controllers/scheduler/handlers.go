package scheduler

import (
	"github.com/kelson-dev/kelson/controllers/scheduler/core"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	toolscache "k8s.io/client-go/tools/cache"
)

// The informers' handlers route each object: a pod bound to a node goes
// to the cache; a pending pod this scheduler serves goes to the queue;
// changes that may let unschedulable pods fit (a node added or changed, a
// pod deleted, a volume added) move them back to the queue.

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// ours: a pending pod this scheduler should place.
func (s *Scheduler) ours(p *corev1.Pod) bool {
	name := p.Spec.SchedulerName
	if name == "" {
		name = DefaultSchedulerName
	}
	return name == s.cfg.SchedulerName && p.Spec.NodeName == "" && !terminal(p) &&
		p.DeletionTimestamp == nil && len(p.Spec.SchedulingGates) == 0
}

func podFrom(obj any) *corev1.Pod {
	switch o := obj.(type) {
	case *corev1.Pod:
		return o
	case toolscache.DeletedFinalStateUnknown:
		p, _ := o.Obj.(*corev1.Pod)
		return p
	}
	return nil
}

func key(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

func (s *Scheduler) podInfo(p *corev1.Pod) (*core.PodInfo, corev1.PreemptionPolicy) {
	prio, policy := s.priority(p)
	return core.NewPodInfo(p, prio), policy
}

func (s *Scheduler) onPodAdd(obj any) {
	p := podFrom(obj)
	if p == nil {
		return
	}
	switch {
	case p.Spec.NodeName != "":
		s.queue.Delete(key(p))
		s.nominator.remove(key(p))
		if terminal(p) {
			s.cache.RemovePod(key(p))
			s.queue.MoveAll(nil)
			return
		}
		info, _ := s.podInfo(p)
		s.cache.SetPod(info)
		// A new pod may satisfy a pending pod's required affinity.
		s.queue.MoveAll(func(q *core.PodInfo) bool { return len(q.RequiredAffinity) > 0 })
	case s.ours(p):
		info, policy := s.podInfo(p)
		s.queue.Add(info, policy)
		s.trackNomination(info)
	}
}

func (s *Scheduler) onPodUpdate(oldObj, newObj any) {
	old, p := podFrom(oldObj), podFrom(newObj)
	if p == nil {
		return
	}
	if p.Spec.NodeName == "" {
		if s.ours(p) {
			info, policy := s.podInfo(p)
			s.queue.Update(info, policy)
			s.trackNomination(info)
			return
		}
		// Deleting, finished, gated or another scheduler's.
		s.queue.Delete(key(p))
		s.nominator.remove(key(p))
		return
	}
	if old == nil || old.Spec.NodeName == "" || terminal(p) {
		s.onPodAdd(p)
		return
	}
	info, _ := s.podInfo(p)
	s.cache.SetPod(info)
	if !equality.Semantic.DeepEqual(old.Labels, p.Labels) {
		s.queue.MoveAll(nil)
	}
}

func (s *Scheduler) onPodDelete(obj any) {
	p := podFrom(obj)
	if p == nil {
		return
	}
	k := key(p)
	s.queue.Delete(k)
	s.nominator.remove(k)
	if s.cache.Has(k) {
		s.cache.RemovePod(k)
		s.queue.MoveAll(nil)
	}
}

// trackNomination follows status.nominatedNodeName of pending pods.
func (s *Scheduler) trackNomination(info *core.PodInfo) {
	if n := info.Pod.Status.NominatedNodeName; n != "" {
		s.nominator.add(info, n)
	} else {
		s.nominator.remove(info.Key)
	}
}

func nodeFrom(obj any) *corev1.Node {
	switch o := obj.(type) {
	case *corev1.Node:
		return o
	case toolscache.DeletedFinalStateUnknown:
		n, _ := o.Obj.(*corev1.Node)
		return n
	}
	return nil
}

func (s *Scheduler) onNodeAdd(obj any) {
	if n := nodeFrom(obj); n != nil {
		s.cache.SetNode(n)
		s.queue.MoveAll(nil)
	}
}

func (s *Scheduler) onNodeUpdate(oldObj, newObj any) {
	old, n := nodeFrom(oldObj), nodeFrom(newObj)
	if n == nil {
		return
	}
	s.cache.SetNode(n)
	if old == nil || nodeSchedulingChanged(old, n) {
		s.queue.MoveAll(nil)
	}
}

// nodeSchedulingChanged: a change a filter looks at (not heartbeats).
func nodeSchedulingChanged(a, b *corev1.Node) bool {
	return a.Spec.Unschedulable != b.Spec.Unschedulable ||
		!equality.Semantic.DeepEqual(a.Labels, b.Labels) ||
		!equality.Semantic.DeepEqual(a.Spec.Taints, b.Spec.Taints) ||
		!equality.Semantic.DeepEqual(a.Status.Allocatable, b.Status.Allocatable)
}

func (s *Scheduler) onNodeDelete(obj any) {
	if n := nodeFrom(obj); n != nil {
		s.cache.RemoveNode(n.Name)
	}
}

func (s *Scheduler) onNamespace(obj any, deleted bool) {
	var ns *corev1.Namespace
	switch o := obj.(type) {
	case *corev1.Namespace:
		ns = o
	case toolscache.DeletedFinalStateUnknown:
		ns, _ = o.Obj.(*corev1.Namespace)
	}
	if ns == nil {
		return
	}
	if deleted {
		s.cache.RemoveNamespace(ns.Name)
		return
	}
	s.cache.SetNamespace(ns.Name, ns.Labels)
}
