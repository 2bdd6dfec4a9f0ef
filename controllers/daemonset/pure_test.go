package daemonset

import (
	"errors"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testDS() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns", UID: "ds-uid",
			Annotations: map[string]string{annotationTemplateGeneration: "4"}},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "c", Image: "agent:1"}},
					Tolerations: []corev1.Toleration{
						{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(30))},
					},
					Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
							MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpExists}},
						}}},
					}},
				},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }

func TestNewPod(t *testing.T) {
	ds := testDS()
	pod := NewPod(ds, "h1", "n7")
	if pod.GenerateName != "agent-" || pod.Namespace != "ns" {
		t.Errorf("name %q namespace %q", pod.GenerateName, pod.Namespace)
	}
	if pod.Labels["app"] != "agent" || pod.Labels[LabelRevisionHash] != "h1" || pod.Labels[labelTemplateGeneration] != "4" {
		t.Errorf("labels %v", pod.Labels)
	}
	if ref := metav1.GetControllerOf(pod); ref == nil || ref.UID != "ds-uid" || ref.Kind != "DaemonSet" || ref.APIVersion != "apps/v1" {
		t.Errorf("controller ref %+v", ref)
	}
	if got := TargetNode(pod); got != "n7" {
		t.Errorf("TargetNode = %q, want n7", got)
	}
	terms := pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchExpressions) != 0 {
		t.Errorf("the template's affinity was not replaced: %+v", terms)
	}
	// The template's own not-ready toleration (with seconds) is kept, not
	// doubled; the rest are added.
	byKey := map[string]corev1.Toleration{}
	for _, tol := range pod.Spec.Tolerations {
		if _, dup := byKey[tol.Key+string(tol.Effect)]; dup {
			t.Errorf("toleration %s:%s twice", tol.Key, tol.Effect)
		}
		byKey[tol.Key+string(tol.Effect)] = tol
	}
	if tol := byKey[corev1.TaintNodeNotReady+"NoExecute"]; tol.TolerationSeconds == nil || *tol.TolerationSeconds != 30 {
		t.Errorf("template toleration lost: %+v", tol)
	}
	for _, k := range []string{corev1.TaintNodeUnreachable + "NoExecute", corev1.TaintNodeDiskPressure + "NoSchedule",
		corev1.TaintNodeMemoryPressure + "NoSchedule", corev1.TaintNodePIDPressure + "NoSchedule", corev1.TaintNodeUnschedulable + "NoSchedule"} {
		if tol, ok := byKey[k]; !ok || tol.TolerationSeconds != nil {
			t.Errorf("missing default toleration %s: %+v", k, tol)
		}
	}
	if _, ok := byKey[corev1.TaintNodeNetworkUnavailable+"NoSchedule"]; ok {
		t.Error("network-unavailable toleration on a pod off the host network")
	}
	// The DaemonSet's template is not modified.
	if len(ds.Spec.Template.Spec.Tolerations) != 1 || len(ds.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions) != 1 {
		t.Error("NewPod changed the template")
	}
}

func TestTargetNode(t *testing.T) {
	field := func(op corev1.NodeSelectorOperator, vals ...string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: nodeNameField, Operator: op, Values: vals}}}
	}
	withTerms := func(terms ...corev1.NodeSelectorTerm) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}}}
	}
	bound := withTerms(field(corev1.NodeSelectorOpIn, "a"))
	bound.Spec.NodeName = "b"
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"no affinity", &corev1.Pod{}, ""},
		{"bound wins", bound, "b"},
		{"one name", withTerms(field(corev1.NodeSelectorOpIn, "a")), "a"},
		{"two names", withTerms(field(corev1.NodeSelectorOpIn, "a", "b")), ""},
		{"NotIn", withTerms(field(corev1.NodeSelectorOpNotIn, "a")), ""},
		{"terms disagree", withTerms(field(corev1.NodeSelectorOpIn, "a"), field(corev1.NodeSelectorOpIn, "b")), ""},
		{"terms agree", withTerms(field(corev1.NodeSelectorOpIn, "a"), field(corev1.NodeSelectorOpIn, "a")), "a"},
	} {
		if got := TargetNode(tc.pod); got != tc.want {
			t.Errorf("%s: TargetNode = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestTolerates(t *testing.T) {
	taint := corev1.Taint{Key: "k", Value: "v", Effect: corev1.TaintEffectNoSchedule}
	for _, tc := range []struct {
		tol  corev1.Toleration
		want bool
	}{
		{corev1.Toleration{Key: "k", Operator: corev1.TolerationOpEqual, Value: "v", Effect: corev1.TaintEffectNoSchedule}, true},
		{corev1.Toleration{Key: "k", Value: "v"}, true}, // Equal by default, any effect
		{corev1.Toleration{Key: "k", Value: "w"}, false},
		{corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists}, true},
		{corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}, false},
		{corev1.Toleration{Operator: corev1.TolerationOpExists}, true},
		{corev1.Toleration{Key: "j", Operator: corev1.TolerationOpExists}, false},
		{corev1.Toleration{Key: "k", Operator: "Bogus"}, false},
	} {
		if got := tolerates(&tc.tol, &taint); got != tc.want {
			t.Errorf("tolerates(%+v) = %v, want %v", tc.tol, got, tc.want)
		}
	}
}

func TestSlowStart(t *testing.T) {
	var calls atomic.Int32
	done, err := slowStart(10, func(int) error { calls.Add(1); return nil })
	if done != 10 || err != nil || calls.Load() != 10 {
		t.Fatalf("all succeed: done %d err %v calls %d", done, err, calls.Load())
	}
	calls.Store(0)
	boom := errors.New("quota")
	// Batches 1, 2, 4: the call with index 2 (second batch) fails, so the
	// third batch is never sent.
	done, err = slowStart(10, func(i int) error {
		calls.Add(1)
		if i == 2 {
			return boom
		}
		return nil
	})
	if done != 3 || !errors.Is(err, boom) || calls.Load() != 3 {
		t.Fatalf("failure: done %d err %v calls %d", done, err, calls.Load())
	}
}
