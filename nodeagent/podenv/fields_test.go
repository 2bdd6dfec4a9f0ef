package podenv

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "alpha", "B": "beta", "EMPTY": ""}
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$(A)", "alpha"},
		{"x$(A)y$(B)z", "xalphaybetaz"},
		{"$(MISSING)", "$(MISSING)"},
		{"$(EMPTY)!", "!"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$alpha"},
		{"$$", "$"},
		{"$", "$"},
		{"a$b", "a$b"},
		{"$(A", "$(A"},
		{"$()", "$()"},
		{"$(A)$(B", "alpha$(B"},
		{"100$", "100$"},
	} {
		if got := Expand(tc.in, MapLookup(vars)); got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", UID: "u-1",
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"note": "say \"hi\""}},
		Spec: corev1.PodSpec{NodeName: "n1", ServiceAccountName: "sa",
			Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
			}}, {Name: "bare"}},
		},
		Status: corev1.PodStatus{HostIP: "192.168.1.5", PodIP: "10.42.0.7",
			PodIPs: []corev1.PodIP{{IP: "10.42.0.7"}, {IP: "fd00::7"}}},
	}
}

func TestFieldValue(t *testing.T) {
	pod := testPod()
	for _, tc := range []struct{ path, want, err string }{
		{path: "metadata.name", want: "web-1"},
		{path: "metadata.namespace", want: "shop"},
		{path: "metadata.uid", want: "u-1"},
		{path: "metadata.labels['app']", want: "web"},
		{path: `metadata.labels["tier"]`, want: "front"},
		{path: "metadata.labels['nope']", want: ""},
		{path: "metadata.labels", want: "app=\"web\"\ntier=\"front\""},
		{path: "metadata.annotations", want: `note="say \"hi\""`},
		{path: "metadata.annotations['note']", want: `say "hi"`},
		{path: "spec.nodeName", want: "n1"},
		{path: "spec.serviceAccountName", want: "sa"},
		{path: "status.hostIP", want: "192.168.1.5"},
		{path: "status.hostIPs", want: "192.168.1.5"},
		{path: "status.podIP", want: "10.42.0.7"},
		{path: "status.podIPs", want: "10.42.0.7,fd00::7"},
		{path: "spec.containers", err: "unsupported fieldPath"},
		{path: "metadata.labels[app]", err: "unsupported fieldPath"},
	} {
		got, err := FieldValue(pod, tc.path)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("FieldValue(%s) err = %v, want %q", tc.path, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("FieldValue(%s) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
}

func TestResourceValue(t *testing.T) {
	pod := testPod()
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")}
	for _, tc := range []struct {
		container, res, divisor, want, err string
	}{
		{container: "c", res: "limits.cpu", want: "1"},
		{container: "c", res: "limits.cpu", divisor: "1m", want: "250"},
		{container: "c", res: "requests.cpu", divisor: "1m", want: "100"},
		{container: "c", res: "requests.cpu", want: "1"},
		{container: "c", res: "limits.memory", want: "67108864"},
		{container: "c", res: "limits.memory", divisor: "1Mi", want: "64"},
		{container: "c", res: "limits.memory", divisor: "1Gi", want: "1"},
		{container: "c", res: "requests.memory", want: "0"},
		{container: "bare", res: "limits.cpu", want: "4"},
		{container: "bare", res: "limits.memory", divisor: "1Mi", want: "8192"},
		{container: "bare", res: "limits.ephemeral-storage", want: "0"},
		{container: "nope", res: "limits.cpu", err: "no container"},
		{container: "c", res: "limits.gpu", err: "unsupported"},
		{container: "c", res: "cpu", err: "unsupported"},
	} {
		ref := &corev1.ResourceFieldSelector{Resource: tc.res}
		if tc.divisor != "" {
			ref.Divisor = resource.MustParse(tc.divisor)
		}
		got, err := ResourceValue(pod, tc.container, ref, alloc)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %s: err = %v, want %q", tc.container, tc.res, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s %s /%s = %q, %v; want %q", tc.container, tc.res, tc.divisor, got, err, tc.want)
		}
	}
}
