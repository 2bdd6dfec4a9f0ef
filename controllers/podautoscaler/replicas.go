package podautoscaler

import (
	"errors"
	"fmt"
	"math"
)

// DefaultTolerance: a usage ratio within 10% of the target changes
// nothing (kube-controller-manager's
// --horizontal-pod-autoscaler-tolerance).
const DefaultTolerance = 0.1

// ErrNoMetrics: no ready pod has metrics, so no replica count can be
// computed.
var ErrNoMetrics = errors.New("podautoscaler: no metrics returned for any ready pod")

// Pod is what the replica calculation knows of one pod of the target.
type Pod struct {
	Name string
	// Ready: the pod's Ready condition is True. Pods that are not ready
	// are left out of the average, and counted as using nothing when the
	// average says to scale up.
	Ready bool
	// Request is the pod's request of the metric's resource, in milli-units
	// (millicores for cpu); 0 if a container requests none.
	Request int64
	// Usage is the pod's usage in milli-units, if the metrics API has it.
	Usage *int64
}

// Target is a Resource metric's target: a utilization of the requests
// (percent) or an average value per pod (milli-units); one is set.
type Target struct {
	Utilization  *int32
	AverageValue *int64
}

// Tolerances are how far the usage ratio may be from 1 before scaling
// down or up.
type Tolerances struct{ Down, Up float64 }

// Recommendation is the replica count one metric asks for.
type Recommendation struct {
	Replicas int32
	// Utilization is the ready pods' average usage as a percentage of
	// their requests (for a Utilization target), AverageValue their
	// average usage in milli-units: what status.currentMetrics reports.
	Utilization  int32
	AverageValue int64
}

// Replicas computes the replicas a Resource metric asks for, as
// Kubernetes' horizontal pod autoscaler does: the ratio of the ready
// pods' usage to the target, applied to the pods counted; when some pods
// have no metrics or are not ready, the ratio is computed again assuming
// the missing ones use their whole request (scaling down) or nothing
// (scaling up; not-ready pods too), and the scale is left alone if that
// changes the direction or lands within tolerance.
func Replicas(current int32, pods []Pod, t Target, tol Tolerances) (Recommendation, error) {
	var usage, requests int64
	var counted, missing, unready []Pod
	for _, p := range pods {
		switch {
		case !p.Ready:
			unready = append(unready, p)
		case p.Usage == nil:
			missing = append(missing, p)
		default:
			counted = append(counted, p)
			usage += *p.Usage
			requests += p.Request
		}
	}
	if len(counted) == 0 {
		return Recommendation{Replicas: current}, ErrNoMetrics
	}
	var rec Recommendation
	ratio := func(usage, requests int64, n int) float64 {
		if t.Utilization != nil {
			return float64(usage) * 100 / float64(requests) / float64(*t.Utilization)
		}
		return float64(usage) / float64(n) / float64(*t.AverageValue)
	}
	if t.Utilization != nil {
		if requests == 0 {
			return Recommendation{Replicas: current}, fmt.Errorf("podautoscaler: missing request for the resource in pods %s", names(counted))
		}
		rec.Utilization = int32(usage * 100 / requests)
	} else if t.AverageValue == nil || *t.AverageValue <= 0 {
		return Recommendation{Replicas: current}, errors.New("podautoscaler: the metric has no target")
	}
	rec.AverageValue = usage / int64(len(counted))

	within := func(r float64) bool { return r < 1 && 1-r <= tol.Down || r >= 1 && r-1 <= tol.Up }
	r := ratio(usage, requests, len(counted))
	if len(missing) == 0 && len(unready) == 0 {
		rec.Replicas = current
		if !within(r) {
			rec.Replicas = int32(math.Ceil(r * float64(len(counted))))
		}
		return rec, nil
	}
	n := len(counted)
	for _, p := range missing {
		switch {
		case r < 1: // scaling down: a pod without metrics uses its whole request (or the target if higher)
			if t.Utilization != nil {
				usage += p.Request * max(100, int64(*t.Utilization)) / 100
			} else {
				usage += *t.AverageValue
			}
		case r == 1:
			continue
		} // scaling up: it uses nothing
		requests += p.Request
		n++
	}
	if r > 1 { // scaling up: pods not ready use nothing
		for _, p := range unready {
			requests += p.Request
			n++
		}
	}
	r2 := ratio(usage, requests, n)
	if within(r2) || r < 1 && r2 > 1 || r > 1 && r2 < 1 {
		rec.Replicas = current
		return rec, nil
	}
	desired := int32(math.Ceil(r2 * float64(n)))
	if r2 < 1 && desired > current || r2 > 1 && desired < current {
		desired = current
	}
	rec.Replicas = desired
	return rec, nil
}

func names(pods []Pod) string {
	s := ""
	for i, p := range pods {
		if i > 0 {
			s += ", "
		}
		s += p.Name
	}
	return s
}
