package podautoscaler

import (
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/utils/ptr"
)

func TestNormalize(t *testing.T) {
	now := time.Unix(1700000000, 0)
	ago := func(s int) time.Time { return now.Add(-time.Duration(s) * time.Second) }
	up, down := Behavior(nil)
	fastDown := &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To(int32(0))}}
	noUp := &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{SelectPolicy: ptr.To(autoscalingv2.DisabledPolicySelect)}}
	slowUp := &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{
		SelectPolicy: ptr.To(autoscalingv2.MinChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 50, PeriodSeconds: 60}}}}
	for _, tc := range []struct {
		name             string
		behavior         *autoscalingv2.HorizontalPodAutoscalerBehavior
		min, max         int32
		current, desired int32
		h                History
		want             int32
		able, limited    string
	}{
		{name: "steady", min: 1, max: 10, current: 3, desired: 3, want: 3, able: "ReadyForNewScale", limited: "DesiredWithinRange"},
		{name: "up at once", min: 1, max: 10, current: 3, desired: 6, want: 6, able: "ReadyForNewScale", limited: "DesiredWithinRange"},
		{name: "up limited by 4 pods or 100%", min: 1, max: 100, current: 3, desired: 20, want: 7, limited: "ScaleUpLimit", able: "ReadyForNewScale"},
		{name: "up limited by max", min: 1, max: 5, current: 3, desired: 20, want: 5, limited: "TooManyReplicas", able: "ReadyForNewScale"},
		{name: "recent rescales count against the rate", min: 1, max: 100, current: 10, desired: 40,
			h: History{Events: []ScaleEvent{{At: ago(5), Change: 5}}}, want: 10, limited: "ScaleUpLimit", able: "ReadyForNewScale"},
		{name: "older rescales do not", min: 1, max: 100, current: 10, desired: 40,
			h: History{Events: []ScaleEvent{{At: ago(20), Change: 5}}}, want: 20, limited: "ScaleUpLimit", able: "ReadyForNewScale"},
		{name: "down held by the window", min: 1, max: 10, current: 6, desired: 2,
			h: History{Recommendations: []Timed{{At: ago(100), Replicas: 6}, {At: ago(50), Replicas: 4}}}, want: 6, able: "ScaleDownStabilized", limited: "DesiredWithinRange"},
		{name: "down to the highest recent", min: 1, max: 10, current: 6, desired: 2,
			h: History{Recommendations: []Timed{{At: ago(400), Replicas: 6}, {At: ago(50), Replicas: 4}}}, want: 4, able: "ScaleDownStabilized", limited: "DesiredWithinRange"},
		{name: "down without a window", behavior: fastDown, min: 1, max: 10, current: 6, desired: 2,
			h: History{Recommendations: []Timed{{At: ago(50), Replicas: 6}}}, want: 2, able: "ReadyForNewScale", limited: "DesiredWithinRange"},
		{name: "down limited by min", behavior: fastDown, min: 3, max: 10, current: 6, desired: 1, want: 3, able: "ReadyForNewScale", limited: "TooFewReplicas"},
		{name: "up disabled", behavior: noUp, min: 1, max: 10, current: 2, desired: 8, want: 2, able: "ReadyForNewScale", limited: "ScaleUpLimit"},
		{name: "min change policy", behavior: slowUp, min: 1, max: 100, current: 10, desired: 30, want: 11, able: "ReadyForNewScale", limited: "ScaleUpLimit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, d := up, down
			if tc.behavior != nil {
				u, d = Behavior(tc.behavior)
			}
			out := Normalize(u, d, tc.min, tc.max, tc.current, tc.desired, tc.h, now)
			if out.Replicas != tc.want || out.Able.Reason != tc.able || out.Limited.Reason != tc.limited ||
				out.Limiting != (tc.limited != "DesiredWithinRange") {
				t.Fatalf("got %+v, want %d (%s, %s)", out, tc.want, tc.able, tc.limited)
			}
		})
	}
}

func TestPrune(t *testing.T) {
	now := time.Unix(1700000000, 0)
	up, down := Behavior(nil)
	h := History{
		Recommendations: []Timed{{At: now.Add(-400 * time.Second)}, {At: now.Add(-200 * time.Second)}},
		Events:          []ScaleEvent{{At: now.Add(-20 * time.Second)}, {At: now.Add(-5 * time.Second)}},
	}
	h.Prune(up, down, now)
	if len(h.Recommendations) != 1 || len(h.Events) != 1 {
		t.Fatalf("after prune %+v", h)
	}
}
