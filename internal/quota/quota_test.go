package quota

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

func rl(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func ctr(requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func sidecar(requests, limits corev1.ResourceList) corev1.Container {
	c := ctr(requests, limits)
	c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	return c
}

func pod(containers []corev1.Container, inits ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{Spec: corev1.PodSpec{Containers: containers, InitContainers: inits}}
}

// sameList compares by value: every name in both, equal quantities.
func sameList(t *testing.T, what string, got, want corev1.ResourceList) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
	for n, w := range want {
		if g, ok := got[n]; !ok || g.Cmp(w) != 0 {
			t.Errorf("%s[%s] = %s, want %s", what, n, g.String(), w.String())
		}
	}
}

func TestPodResources(t *testing.T) {
	for _, tc := range []struct {
		name             string
		pod              *corev1.Pod
		requests, limits corev1.ResourceList
	}{
		{name: "no containers", pod: pod(nil), requests: rl(), limits: rl()},
		{name: "containers are summed",
			pod: pod([]corev1.Container{
				ctr(rl("cpu", "100m", "memory", "64Mi"), rl("cpu", "200m", "memory", "128Mi")),
				ctr(rl("cpu", "1", "memory", "1Gi"), nil),
				ctr(rl("cpu", "500m"), rl("nvidia.com/gpu", "1"))}),
			requests: rl("cpu", "1600m", "memory", "1088Mi"), limits: rl("cpu", "200m", "memory", "128Mi", "nvidia.com/gpu", "1")},
		{name: "the largest init container wins over the sum",
			pod:      pod([]corev1.Container{ctr(rl("cpu", "250m", "memory", "1Gi"), nil)}, ctr(rl("cpu", "2"), nil), ctr(rl("cpu", "1", "memory", "64Mi"), nil)),
			requests: rl("cpu", "2", "memory", "1Gi"), limits: rl()},
		// init: 2 cpu alone; the 100m sidecar after it runs beside the 250m
		// app: max(2, 0.1+0.25) = 2, plus 10m overhead
		{name: "init step, then sidecar, plus overhead",
			pod: func() *corev1.Pod {
				p := pod([]corev1.Container{ctr(rl("cpu", "250m"), nil)}, ctr(rl("cpu", "2"), nil), sidecar(rl("cpu", "100m"), nil))
				p.Spec.Overhead = rl("cpu", "10m")
				return p
			}(),
			// overhead is added to a limit only where one is set
			requests: rl("cpu", "2010m"), limits: rl()},
		// a sidecar started before an init step runs with it: max(0.1+0.25, 0.1+2)
		{name: "sidecar, then init step",
			pod:      pod([]corev1.Container{ctr(rl("cpu", "250m"), nil)}, sidecar(rl("cpu", "100m"), nil), ctr(rl("cpu", "2"), nil)),
			requests: rl("cpu", "2100m"), limits: rl()},
		{name: "sidecars only add to the sum",
			pod:      pod([]corev1.Container{ctr(rl("memory", "1Gi"), rl("memory", "2Gi"))}, sidecar(rl("memory", "128Mi"), rl("memory", "256Mi"))),
			requests: rl("memory", "1152Mi"), limits: rl("memory", "2304Mi")},
		{name: "pod-level resources replace the containers' for what they name",
			pod: func() *corev1.Pod {
				p := pod([]corev1.Container{ctr(rl("cpu", "100m", "memory", "64Mi"), rl("cpu", "1"))})
				p.Spec.Resources = &corev1.ResourceRequirements{Requests: rl("cpu", "3")}
				p.Spec.Overhead = rl("cpu", "10m", "memory", "1Mi")
				return p
			}(),
			requests: rl("cpu", "3010m", "memory", "65Mi"), limits: rl("cpu", "1010m")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.pod.DeepCopy()
			sameList(t, "requests", PodRequests(tc.pod), tc.requests)
			sameList(t, "limits", PodLimits(tc.pod), tc.limits)
			if !equality.Semantic.DeepEqual(before, tc.pod) {
				t.Fatal("the pod was modified")
			}
		})
	}
}

func TestAddToMaxInto(t *testing.T) {
	dst, src := rl("cpu", "1"), rl("cpu", "500m", "memory", "1Gi")
	AddTo(dst, src)
	sameList(t, "sum", dst, rl("cpu", "1500m", "memory", "1Gi"))
	AddTo(dst, src) // dst's memory came from src: adding again must not change src
	sameList(t, "src", src, rl("cpu", "500m", "memory", "1Gi"))
	sameList(t, "sum again", dst, rl("cpu", "2", "memory", "2Gi"))
	AddTo(dst, nil)
	sameList(t, "plus nothing", dst, rl("cpu", "2", "memory", "2Gi"))

	m := rl("cpu", "1", "memory", "1Gi")
	MaxInto(m, rl("cpu", "2", "memory", "512Mi", "ephemeral-storage", "1Gi"))
	sameList(t, "max", m, rl("cpu", "2", "memory", "1Gi", "ephemeral-storage", "1Gi"))
}

func TestNames(t *testing.T) {
	for gr, want := range map[schema.GroupResource]corev1.ResourceName{
		{Resource: "pods"}:                          "count/pods",
		{Group: "apps", Resource: "deployments"}:    "count/deployments.apps",
		{Group: "example.com", Resource: "widgets"}: "count/widgets.example.com",
	} {
		if got := CountName(gr); got != want {
			t.Errorf("CountName(%v) = %s, want %s", gr, got, want)
		}
	}
	for n, want := range map[corev1.ResourceName]bool{
		"pods": true, "services": true, "configmaps": true, "secrets": true, "resourcequotas": true,
		"replicationcontrollers": true, "persistentvolumeclaims": true,
		"deployments": false, "serviceaccounts": false, "count/pods": false, "services.nodeports": false,
	} {
		if got := LegacyCount(n); got != want {
			t.Errorf("LegacyCount(%s) = %v", n, got)
		}
	}
	type pr struct {
		of     corev1.ResourceName
		limits bool
		ok     bool
	}
	for n, want := range map[corev1.ResourceName]pr{
		"requests.cpu":            {"cpu", false, true},
		"requests.nvidia.com/gpu": {"nvidia.com/gpu", false, true},
		"limits.memory":           {"memory", true, true},
		"limits.hugepages-2Mi":    {"hugepages-2Mi", true, true},
		"cpu":                     {"cpu", false, true},
		"memory":                  {"memory", false, true},
		"ephemeral-storage":       {"ephemeral-storage", false, true},
		"hugepages-1Gi":           {"hugepages-1Gi", false, true},
		"requests.storage":        {},
		"gold.storageclass.storage.k8s.io/requests.storage":       {},
		"requests.x.storageclass.storage.k8s.io/requests.storage": {}, // a class named requests.x
		"pods":               {},
		"count/pods":         {},
		"services.nodeports": {},
		"nvidia.com/gpu":     {},
	} {
		of, limits, ok := PodResource(n)
		if (pr{of, limits, ok}) != want {
			t.Errorf("PodResource(%s) = %v, want %v", n, pr{of, limits, ok}, want)
		}
	}
	n := ClassName("gold", corev1.ResourceRequestsStorage)
	if n != "gold.storageclass.storage.k8s.io/requests.storage" {
		t.Fatalf("ClassName = %s", n)
	}
	if class, what, ok := SplitClassName(n); class != "gold" || what != corev1.ResourceRequestsStorage || !ok {
		t.Errorf("SplitClassName(%s) = %q %q %v", n, class, what, ok)
	}
	if _, _, ok := SplitClassName("requests.storage"); ok {
		t.Error("requests.storage split as a class name")
	}
}

func TestPodCounts(t *testing.T) {
	now := time.Unix(1700000000, 0)
	deleted := func(ago time.Duration, grace int64) *corev1.Pod {
		p := pod(nil)
		p.DeletionTimestamp = ptr.To(metav1.NewTime(now.Add(-ago)))
		p.DeletionGracePeriodSeconds = ptr.To(grace)
		return p
	}
	phase := func(ph corev1.PodPhase) *corev1.Pod { p := pod(nil); p.Status.Phase = ph; return p }
	for _, tc := range []struct {
		name           string
		pod            *corev1.Pod
		terminal, uses bool
	}{
		{"pending", phase(corev1.PodPending), false, true},
		{"running", phase(corev1.PodRunning), false, true},
		{"no phase", pod(nil), false, true},
		{"succeeded", phase(corev1.PodSucceeded), true, false},
		{"failed", phase(corev1.PodFailed), true, false},
		{"deleting, within grace", deleted(10*time.Second, 30), false, true},
		{"deleting, past grace", deleted(time.Minute, 30), false, false},
		{"deleting, no grace period", func() *corev1.Pod { p := deleted(time.Hour, 0); p.DeletionGracePeriodSeconds = nil; return p }(), false, true},
	} {
		if got := Terminal(tc.pod); got != tc.terminal {
			t.Errorf("%s: Terminal = %v", tc.name, got)
		}
		if got := PodCounts(tc.pod, now); got != tc.uses {
			t.Errorf("%s: PodCounts = %v", tc.name, got)
		}
	}
}

func TestClaims(t *testing.T) {
	claim := func(class *string, ann string, request, allocated string) *corev1.PersistentVolumeClaim {
		c := &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: class,
			Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", request)}}}
		if ann != "" {
			c.Annotations = map[string]string{BetaStorageClassAnnotation: ann}
		}
		if allocated != "" {
			c.Status.AllocatedResources = rl("storage", allocated)
		}
		return c
	}
	for _, tc := range []struct {
		name    string
		claim   *corev1.PersistentVolumeClaim
		class   string
		storage string
	}{
		{"class field", claim(ptr.To("fast"), "", "1Gi", ""), "fast", "1Gi"},
		{"beta annotation", claim(nil, "slow", "500Mi", ""), "slow", "500Mi"},
		{"the field wins over the annotation", claim(ptr.To("fast"), "slow", "1Gi", ""), "fast", "1Gi"},
		{"explicitly no class", claim(ptr.To(""), "slow", "1Gi", ""), "", "1Gi"},
		{"no class", claim(nil, "", "1Gi", ""), "", "1Gi"},
		{"allocated more than requested", claim(nil, "", "2Gi", "5Gi"), "", "5Gi"},
		{"allocated less than requested (resize pending)", claim(nil, "", "5Gi", "2Gi"), "", "5Gi"},
	} {
		if got := ClaimClass(tc.claim); got != tc.class {
			t.Errorf("%s: class %q, want %q", tc.name, got, tc.class)
		}
		if got := ClaimStorage(tc.claim); got.Cmp(resource.MustParse(tc.storage)) != 0 {
			t.Errorf("%s: storage %s, want %s", tc.name, got.String(), tc.storage)
		}
	}
	if got := ClaimStorage(&corev1.PersistentVolumeClaim{}); !got.IsZero() {
		t.Errorf("a claim without a request uses %s", got.String())
	}
}

func TestNodePorts(t *testing.T) {
	svc := func(typ corev1.ServiceType, alloc *bool, nodePorts ...int32) *corev1.Service {
		s := &corev1.Service{Spec: corev1.ServiceSpec{Type: typ, AllocateLoadBalancerNodePorts: alloc}}
		for i, n := range nodePorts {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: int32(80 + i), NodePort: n})
		}
		return s
	}
	for _, tc := range []struct {
		name string
		svc  *corev1.Service
		want int64
	}{
		{"ClusterIP", svc(corev1.ServiceTypeClusterIP, nil, 0, 0), 0},
		{"ExternalName", svc(corev1.ServiceTypeExternalName, nil), 0},
		{"NodePort, not yet allocated", svc(corev1.ServiceTypeNodePort, nil, 0, 0), 2},
		{"NodePort, allocated", svc(corev1.ServiceTypeNodePort, nil, 30001, 30002), 2},
		{"LoadBalancer, default allocation", svc(corev1.ServiceTypeLoadBalancer, nil, 0, 0, 0), 3},
		{"LoadBalancer, allocation on", svc(corev1.ServiceTypeLoadBalancer, ptr.To(true), 30001, 0), 2},
		{"LoadBalancer, allocation off", svc(corev1.ServiceTypeLoadBalancer, ptr.To(false), 0, 0), 0},
		{"LoadBalancer, allocation off, one port named", svc(corev1.ServiceTypeLoadBalancer, ptr.To(false), 30001, 0), 1},
	} {
		if got := NodePorts(tc.svc); got != tc.want {
			t.Errorf("%s: %d node ports, want %d", tc.name, got, tc.want)
		}
	}
}
