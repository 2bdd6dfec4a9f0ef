package podautoscaler

import (
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// Timed is a replica recommendation made at a time.
type Timed struct {
	At       time.Time
	Replicas int32
}

// ScaleEvent is a rescale: Change replicas (negative when scaling down)
// at a time.
type ScaleEvent struct {
	At     time.Time
	Change int32
}

// History is what an autoscaler remembers between syncs (in memory, for
// as long as the controller leads): recent recommendations for the
// stabilization windows and recent rescales for the rate policies.
type History struct {
	Recommendations []Timed
	Events          []ScaleEvent
}

// Reason is a condition reason with its message.
type Reason struct{ Reason, Message string }

// Condition reasons, worded as Kubernetes' autoscaler words them.
var (
	reasonReady           = Reason{"ReadyForNewScale", "recommended size matches current size"}
	reasonUpStabilized    = Reason{"ScaleUpStabilized", "recent recommendations were lower than current one, applying the lowest recent recommendation"}
	reasonDownStabilized  = Reason{"ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation"}
	reasonWithinRange     = Reason{"DesiredWithinRange", "the desired count is within the acceptable range"}
	reasonTooMany         = Reason{"TooManyReplicas", "the desired replica count is more than the maximum replica count"}
	reasonTooFew          = Reason{"TooFewReplicas", "the desired replica count is less than the minimum replica count"}
	reasonUpLimit         = Reason{"ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"}
	reasonDownLimit       = Reason{"ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate"}
	defaultScaleDownDelay = int32(300)
)

// Rules are one direction's resolved scaling rules.
type Rules struct {
	Window   time.Duration
	Select   autoscalingv2.ScalingPolicySelect
	Policies []autoscalingv2.HPAScalingPolicy
	// Tolerance of the usage ratio in this direction.
	Tolerance float64
}

// Behavior resolves spec.behavior with Kubernetes' defaults: scale up at
// once by up to 4 pods or 100% per 15 s (the larger), scale down to the
// highest recommendation of the last 5 minutes by up to 100% per 15 s.
func Behavior(b *autoscalingv2.HorizontalPodAutoscalerBehavior) (up, down Rules) {
	up = Rules{Select: autoscalingv2.MaxChangePolicySelect, Tolerance: DefaultTolerance, Policies: []autoscalingv2.HPAScalingPolicy{
		{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
		{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
	}}
	down = Rules{Window: time.Duration(defaultScaleDownDelay) * time.Second, Select: autoscalingv2.MaxChangePolicySelect, Tolerance: DefaultTolerance,
		Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}}
	if b == nil {
		return up, down
	}
	merge := func(r *Rules, s *autoscalingv2.HPAScalingRules) {
		if s == nil {
			return
		}
		if s.StabilizationWindowSeconds != nil {
			r.Window = time.Duration(*s.StabilizationWindowSeconds) * time.Second
		}
		if s.SelectPolicy != nil {
			r.Select = *s.SelectPolicy
		}
		if s.Policies != nil {
			r.Policies = s.Policies
		}
		if s.Tolerance != nil {
			r.Tolerance = s.Tolerance.AsApproximateFloat64()
		}
	}
	merge(&up, b.ScaleUp)
	merge(&down, b.ScaleDown)
	return up, down
}

// Outcome is Normalize's decision.
type Outcome struct {
	// Replicas to scale to.
	Replicas int32
	// Able is the AbleToScale condition's reason (stabilized or ready).
	Able Reason
	// Limited is the ScalingLimited condition's reason; Limiting says
	// whether it is True.
	Limited  Reason
	Limiting bool
}

// Normalize turns the metrics' desired count into the count to scale to:
// stabilized over the windows (the lowest recommendation of the scale-up
// window, the highest of the scale-down window, bounding the current
// count), then limited by the rate policies and by min/max replicas. h
// holds the earlier recommendations and rescales.
func Normalize(up, down Rules, minReplicas, maxReplicas, current, desired int32, h History, now time.Time) Outcome {
	upRec, downRec := desired, desired
	for _, r := range h.Recommendations {
		if r.At.After(now.Add(-up.Window)) {
			upRec = min(upRec, r.Replicas)
		}
		if r.At.After(now.Add(-down.Window)) {
			downRec = max(downRec, r.Replicas)
		}
	}
	stable := max(current, upRec)
	stable = min(stable, downRec)
	out := Outcome{Replicas: stable, Able: reasonReady, Limited: reasonWithinRange}
	switch {
	case stable < desired:
		out.Able = reasonUpStabilized
	case stable > desired:
		out.Able = reasonDownStabilized
	}
	switch {
	case stable > current:
		limit := max(scaleUpLimit(current, h.Events, up, now), current)
		allowed, why := maxReplicas, reasonTooMany
		if limit < maxReplicas {
			allowed, why = limit, reasonUpLimit
		}
		if stable > allowed {
			out.Replicas, out.Limited, out.Limiting = allowed, why, true
		}
	case stable < current:
		limit := min(scaleDownLimit(current, h.Events, down, now), current)
		allowed, why := minReplicas, reasonTooFew
		if limit > minReplicas {
			allowed, why = limit, reasonDownLimit
		}
		if stable < allowed {
			out.Replicas, out.Limited, out.Limiting = allowed, why, true
		}
	}
	return out
}

// changes sums the rescales up and down within period before now.
func changes(events []ScaleEvent, period time.Duration, now time.Time) (added, removed int32) {
	for _, e := range events {
		if !e.At.After(now.Add(-period)) {
			continue
		}
		if e.Change > 0 {
			added += e.Change
		} else {
			removed -= e.Change
		}
	}
	return added, removed
}

func scaleUpLimit(current int32, events []ScaleEvent, r Rules, now time.Time) int32 {
	if r.Select == autoscalingv2.DisabledPolicySelect {
		return current
	}
	result := int32(math.MinInt32)
	if r.Select == autoscalingv2.MinChangePolicySelect {
		result = math.MaxInt32
	}
	for _, p := range r.Policies {
		added, removed := changes(events, time.Duration(p.PeriodSeconds)*time.Second, now)
		start := current - added + removed
		var proposed int32
		if p.Type == autoscalingv2.PodsScalingPolicy {
			proposed = start + p.Value
		} else {
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		if r.Select == autoscalingv2.MinChangePolicySelect {
			result = min(result, proposed)
		} else {
			result = max(result, proposed)
		}
	}
	return result
}

func scaleDownLimit(current int32, events []ScaleEvent, r Rules, now time.Time) int32 {
	if r.Select == autoscalingv2.DisabledPolicySelect {
		return current
	}
	result := int32(math.MaxInt32)
	if r.Select == autoscalingv2.MinChangePolicySelect {
		result = math.MinInt32
	}
	for _, p := range r.Policies {
		added, removed := changes(events, time.Duration(p.PeriodSeconds)*time.Second, now)
		start := current - added + removed
		var proposed int32
		if p.Type == autoscalingv2.PodsScalingPolicy {
			proposed = start - p.Value
		} else {
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		}
		if r.Select == autoscalingv2.MinChangePolicySelect {
			result = max(result, proposed)
		} else {
			result = min(result, proposed)
		}
	}
	return result
}

// Prune drops what no window or policy can look at any more.
func (h *History) Prune(up, down Rules, now time.Time) {
	keep := max(up.Window, down.Window)
	var period time.Duration
	for _, p := range append(append([]autoscalingv2.HPAScalingPolicy(nil), up.Policies...), down.Policies...) {
		period = max(period, time.Duration(p.PeriodSeconds)*time.Second)
	}
	recs := h.Recommendations[:0]
	for _, r := range h.Recommendations {
		if r.At.After(now.Add(-keep)) {
			recs = append(recs, r)
		}
	}
	h.Recommendations = recs
	evs := h.Events[:0]
	for _, e := range h.Events {
		if e.At.After(now.Add(-period)) {
			evs = append(evs, e)
		}
	}
	h.Events = evs
}
