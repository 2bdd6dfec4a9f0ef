package podautoscaler

import (
	"errors"
	"testing"
)

func used(m int64) *int64 { return &m }

func TestReplicas(t *testing.T) {
	pct := func(p int32) Target { return Target{Utilization: &p} }
	avg := func(v int64) Target { return Target{AverageValue: &v} }
	ready := func(name string, req int64, u *int64) Pod {
		return Pod{Name: name, Ready: true, Request: req, Usage: u}
	}
	tol := Tolerances{Down: 0.1, Up: 0.1}
	for _, tc := range []struct {
		name    string
		current int32
		pods    []Pod
		target  Target
		want    int32
		util    int32
		wantErr error
	}{
		{"at target", 2, []Pod{ready("a", 100, used(50)), ready("b", 100, used(50))}, pct(50), 2, 50, nil},
		{"within tolerance", 2, []Pod{ready("a", 100, used(54)), ready("b", 100, used(54))}, pct(50), 2, 54, nil},
		{"double the target", 2, []Pod{ready("a", 100, used(100)), ready("b", 100, used(100))}, pct(50), 4, 100, nil},
		{"rounds up", 3, []Pod{ready("a", 100, used(60)), ready("b", 100, used(60)), ready("c", 100, used(60))}, pct(50), 4, 60, nil},
		{"scale down", 4, []Pod{ready("a", 100, used(10)), ready("b", 100, used(10)), ready("c", 100, used(10)), ready("d", 100, used(10))}, pct(50), 1, 10, nil},
		{"average value", 2, []Pod{ready("a", 1000, used(300)), ready("b", 1000, used(500))}, avg(200), 4, 40, nil},
		// Missing metrics on a scale-up count as using nothing: (200+0)/(100+100) = 100% of 50% → ceil(2*2) = 4.
		{"missing metrics, scale up", 2, []Pod{ready("a", 100, used(200)), ready("b", 100, nil)}, pct(50), 4, 200, nil},
		// On a scale-down as using their request: (10+100)/(200) = 55% of 50%: within reach of 1.1 → stays.
		{"missing metrics, scale down held", 2, []Pod{ready("a", 100, used(10)), ready("b", 100, nil)}, pct(50), 2, 10, nil},
		// Unready pods count as using nothing on a scale-up: 300/(100+100+100)=100% of 50% → 6.
		{"unready pods on scale up", 3, []Pod{ready("a", 100, used(300)), {Name: "b", Request: 100}, {Name: "c", Request: 100, Usage: used(900)}}, pct(50), 6, 300, nil},
		// ...and are ignored on a scale-down.
		{"unready pods on scale down", 3, []Pod{ready("a", 100, used(10)), {Name: "b", Request: 100}}, pct(50), 1, 10, nil},
		{"no metrics at all", 3, []Pod{ready("a", 100, nil)}, pct(50), 3, 0, ErrNoMetrics},
		{"no requests", 1, []Pod{ready("a", 0, used(10))}, pct(50), 1, 0, errors.New("missing request")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := Replicas(tc.current, tc.pods, tc.target, tol)
			if tc.wantErr != nil {
				if err == nil || errors.Is(tc.wantErr, ErrNoMetrics) && !errors.Is(err, ErrNoMetrics) {
					t.Fatalf("want error %v, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec.Replicas != tc.want || tc.target.Utilization != nil && rec.Utilization != tc.util {
				t.Fatalf("got %+v, want %d replicas at %d%%", rec, tc.want, tc.util)
			}
		})
	}
}
