package deployment

import (
	"fmt"
	"math"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var kindDeployment = appsv1.SchemeGroupVersion.WithKind("Deployment")

func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func rsReplicas(rs *appsv1.ReplicaSet) int32 {
	if rs == nil || rs.Spec.Replicas == nil {
		return 0
	}
	return *rs.Spec.Replicas
}

func isRolling(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType
}

// Fenceposts resolves a rolling update's maxSurge and maxUnavailable
// against replicas: a percentage of surge rounds up, of unavailability
// down; when both come to 0, maxUnavailable is 1 (validation refuses two
// explicit zeros, but rounding can produce them); maxUnavailable is at
// most replicas. Recreate has neither.
func Fenceposts(d *appsv1.Deployment) (surge, unavailable int32, err error) {
	if !isRolling(d) {
		return 0, 0, nil
	}
	ru := d.Spec.Strategy.RollingUpdate
	def := intstr.FromString("25%")
	s, u := &def, &def
	if ru != nil {
		if ru.MaxSurge != nil {
			s = ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			u = ru.MaxUnavailable
		}
	}
	n := int(replicas(d))
	sv, err := intstr.GetScaledValueFromIntOrPercent(s, n, true)
	if err != nil {
		return 0, 0, fmt.Errorf("deployment: maxSurge: %w", err)
	}
	uv, err := intstr.GetScaledValueFromIntOrPercent(u, n, false)
	if err != nil {
		return 0, 0, fmt.Errorf("deployment: maxUnavailable: %w", err)
	}
	if sv < 0 || uv < 0 {
		return 0, 0, fmt.Errorf("deployment: maxSurge %d and maxUnavailable %d may not be negative", sv, uv)
	}
	if sv == 0 && uv == 0 {
		uv = 1
	}
	uv = min(uv, n)
	return int32(min(sv, math.MaxInt32)), int32(min(uv, math.MaxInt32)), nil
}

// activeRSes are those with replicas > 0.
func activeRSes(rses []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rses {
		if rs != nil && rsReplicas(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

func withNew(olds []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	all := append([]*appsv1.ReplicaSet(nil), olds...)
	if newRS != nil {
		all = append(all, newRS)
	}
	return all
}

func sumSpec(rses []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rses {
		n += rsReplicas(rs)
	}
	return n
}

func sumStatus(rses []*appsv1.ReplicaSet, f func(*appsv1.ReplicaSetStatus) int32) int32 {
	var n int32
	for _, rs := range rses {
		if rs != nil {
			n += f(&rs.Status)
		}
	}
	return n
}

// byCreation sorts oldest first (name breaks ties).
func byCreation(rses []*appsv1.ReplicaSet) {
	sort.SliceStable(rses, func(i, j int) bool {
		a, b := rses[i], rses[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

// byRevision sorts lowest revision first (creation breaks ties).
func byRevision(rses []*appsv1.ReplicaSet) {
	byCreation(rses)
	sort.SliceStable(rses, func(i, j int) bool { return Revision(rses[i]) < Revision(rses[j]) })
}
