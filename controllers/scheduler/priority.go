package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
)

// The built-in priority classes kube-apiserver creates; a pod may name
// them even where no such object exists.
const (
	systemClusterCritical      = "system-cluster-critical"
	systemNodeCritical         = "system-node-critical"
	systemClusterCriticalValue = 2000000000
	systemNodeCriticalValue    = 2000001000
)

// resolvePriority is a pod's priority and preemption policy. Kelson's API
// server does not resolve priorityClassName into spec.priority (the
// Priority admission plugin's job), so the scheduler does: spec.priority
// if set; else the named PriorityClass's value (the built-in system
// classes are known by name); else the global default class's; else 0.
// The policy is spec.preemptionPolicy, else the class's, else
// PreemptLowerPriority. classes lists the PriorityClasses.
func resolvePriority(pod *corev1.Pod, class func(name string) *schedulingv1.PriorityClass, classes func() []*schedulingv1.PriorityClass) (int32, corev1.PreemptionPolicy) {
	var pc *schedulingv1.PriorityClass
	if name := pod.Spec.PriorityClassName; name != "" {
		pc = class(name)
		if pc == nil {
			switch name {
			case systemClusterCritical:
				pc = &schedulingv1.PriorityClass{Value: systemClusterCriticalValue}
			case systemNodeCritical:
				pc = &schedulingv1.PriorityClass{Value: systemNodeCriticalValue}
			}
		}
	} else if pod.Spec.Priority == nil {
		for _, c := range classes() {
			if c.GlobalDefault && (pc == nil || c.Value > pc.Value) {
				pc = c
			}
		}
	}
	var prio int32
	switch {
	case pod.Spec.Priority != nil:
		prio = *pod.Spec.Priority
	case pc != nil:
		prio = pc.Value
	}
	policy := corev1.PreemptLowerPriority
	switch {
	case pod.Spec.PreemptionPolicy != nil:
		policy = *pod.Spec.PreemptionPolicy
	case pc != nil && pc.PreemptionPolicy != nil:
		policy = *pc.PreemptionPolicy
	}
	return prio, policy
}
