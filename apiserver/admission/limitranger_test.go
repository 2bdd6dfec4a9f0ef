package admission

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func resourceMust(s string) resource.Quantity { return resource.MustParse(s) }

// rl is a ResourceList of name, value pairs.
func rl(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func limitRange(items ...corev1.LimitRangeItem) *corev1.LimitRange {
	return &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "lr", Namespace: "ns"}, Spec: corev1.LimitRangeSpec{Limits: items}}
}

func podWith(cs ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{Containers: cs}}
}

func ctr(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox", Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func TestLimitRangerDefaults(t *testing.T) {
	f := newFakes()
	f.limits = []*corev1.LimitRange{limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
		Default: rl("cpu", "500m", "memory", "256Mi"), DefaultRequest: rl("cpu", "100m", "memory", "128Mi")})}
	p := &LimitRanger{LimitRanges: f}
	pod := podWith(ctr("a", nil, nil), ctr("b", rl("cpu", "200m"), rl("cpu", "1")))
	if err := p.Admit(context.Background(), attrs(Create, "pods", "", "ns", "p", pod, nil)); err != nil {
		t.Fatal(err)
	}
	a, b := pod.Spec.Containers[0].Resources, pod.Spec.Containers[1].Resources
	for _, c := range []struct {
		got  resource.Quantity
		want string
	}{{a.Limits["cpu"], "500m"}, {a.Limits["memory"], "256Mi"}, {a.Requests["cpu"], "100m"}, {a.Requests["memory"], "128Mi"},
		{b.Limits["cpu"], "1"}, {b.Requests["cpu"], "200m"}, {b.Limits["memory"], "256Mi"}, {b.Requests["memory"], "128Mi"}} {
		if c.got.Cmp(resource.MustParse(c.want)) != 0 {
			t.Errorf("got %s, want %s", c.got.String(), c.want)
		}
	}
	want := "LimitRanger plugin set: cpu, memory request for container a; cpu, memory limit for container a; memory request for container b; memory limit for container b"
	if got := pod.Annotations[limitRangerAnnotation]; got != want {
		t.Errorf("annotation %q\nwant %q", got, want)
	}
	// Updates are left alone.
	pod2 := podWith(ctr("a", nil, nil))
	if err := p.Admit(context.Background(), attrs(Update, "pods", "", "ns", "p", pod2, pod2)); err != nil || pod2.Spec.Containers[0].Resources.Limits != nil {
		t.Fatalf("update defaulted: %v %v", err, pod2.Spec.Containers[0].Resources)
	}
}

func TestLimitRangerValidate(t *testing.T) {
	container := corev1.LimitRangeItem{Type: corev1.LimitTypeContainer,
		Min: rl("cpu", "100m"), Max: rl("cpu", "1", "memory", "1Gi"), MaxLimitRequestRatio: rl("cpu", "2")}
	podItem := corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: rl("memory", "1Gi")}
	pvcItem := corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim, Min: rl("storage", "1Gi"), Max: rl("storage", "10Gi")}
	claim := func(size string) *corev1.PersistentVolumeClaim {
		c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}}
		if size != "" {
			c.Spec.Resources.Requests = rl("storage", size)
		}
		return c
	}
	for _, tc := range []struct {
		name  string
		items []corev1.LimitRangeItem
		a     *Attributes
		want  string
	}{
		{"within", []corev1.LimitRangeItem{container},
			attrs(Create, "pods", "", "ns", "p", podWith(ctr("c", rl("cpu", "500m"), rl("cpu", "1", "memory", "1Gi"))), nil), ""},
		{"over max", []corev1.LimitRangeItem{container},
			attrs(Create, "pods", "", "ns", "p", podWith(ctr("c", rl("cpu", "1"), rl("cpu", "2", "memory", "1Gi"))), nil),
			`pods "p" is forbidden: maximum cpu usage per Container is 1, but limit is 2`},
		{"under min, no memory limit, ratio", []corev1.LimitRangeItem{container},
			attrs(Create, "pods", "", "ns", "p", podWith(ctr("c", rl("cpu", "50m"), rl("cpu", "1"))), nil),
			`pods "p" is forbidden: [minimum cpu usage per Container is 100m, but request is 50m, maximum memory usage per Container is 1Gi.  No limit is specified, cpu max limit to request ratio per Container is 2, but provided ratio is 20.000000]`},
		{"no request", []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, Min: rl("cpu", "100m")}},
			attrs(Create, "pods", "", "ns", "p", podWith(ctr("c", nil, nil)), nil),
			`pods "p" is forbidden: minimum cpu usage per Container is 100m.  No request is specified`},
		{"ratio without limit", []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: rl("memory", "2")}},
			attrs(Create, "pods", "", "ns", "p", podWith(ctr("c", rl("memory", "1Gi"), nil)), nil),
			`pods "p" is forbidden: memory max limit to request ratio per Container is 2, but no limit is specified or limit is 0`},
		{"pod sum over max", []corev1.LimitRangeItem{podItem},
			attrs(Create, "pods", "", "ns", "p", podWith(ctr("a", nil, rl("memory", "600Mi")), ctr("b", nil, rl("memory", "600Mi"))), nil),
			`pods "p" is forbidden: maximum memory usage per Pod is 1Gi, but limit is 1200Mi`},
		{"pod update not checked", []corev1.LimitRangeItem{container},
			attrs(Update, "pods", "", "ns", "p", podWith(ctr("c", nil, nil)), podWith(ctr("c", nil, nil))), ""},
		{"claim ok", []corev1.LimitRangeItem{pvcItem}, attrs(Create, "persistentvolumeclaims", "", "ns", "c", claim("5Gi"), nil), ""},
		{"claim too big", []corev1.LimitRangeItem{pvcItem}, attrs(Create, "persistentvolumeclaims", "", "ns", "c", claim("20Gi"), nil),
			`persistentvolumeclaims "c" is forbidden: maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi`},
		{"claim too small on update", []corev1.LimitRangeItem{pvcItem}, attrs(Update, "persistentvolumeclaims", "", "ns", "c", claim("500Mi"), claim("5Gi")),
			`persistentvolumeclaims "c" is forbidden: minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi`},
		{"claim without request", []corev1.LimitRangeItem{pvcItem}, attrs(Create, "persistentvolumeclaims", "", "ns", "c", claim(""), nil),
			`persistentvolumeclaims "c" is forbidden: [minimum storage usage per PersistentVolumeClaim is 1Gi.  No request is specified, maximum storage usage per PersistentVolumeClaim is 10Gi.  No request is specified]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakes()
			f.limits = []*corev1.LimitRange{limitRange(tc.items...)}
			err := (&LimitRanger{LimitRanges: f}).Validate(context.Background(), tc.a)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}
