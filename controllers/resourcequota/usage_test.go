package resourcequota

import (
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/quota"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func rl(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func container(requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func podWith(name string, cs ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: cs},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
}

func quotaOf(hard corev1.ResourceList, scopes ...corev1.ResourceQuotaScope) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: hard, Scopes: scopes}}
}

func TestUsage(t *testing.T) {
	now := time.Unix(1700000000, 0)
	small := podWith("small", container(rl("cpu", "100m", "memory", "64Mi"), rl("cpu", "200m", "memory", "128Mi")))
	big := podWith("big", container(rl("cpu", "1", "memory", "1Gi"), nil), container(rl("cpu", "500m"), rl("nvidia.com/gpu", "1")))
	besteffort := podWith("be", container(nil, nil))
	done := podWith("done", container(rl("cpu", "4"), nil))
	done.Status.Phase = corev1.PodSucceeded
	gone := podWith("gone", container(rl("cpu", "4"), nil))
	gone.DeletionTimestamp = ptr.To(metav1.NewTime(now.Add(-time.Minute)))
	gone.DeletionGracePeriodSeconds = ptr.To(int64(30))
	stopping := podWith("stopping", container(rl("cpu", "2"), nil))
	stopping.DeletionTimestamp = ptr.To(metav1.NewTime(now))
	stopping.DeletionGracePeriodSeconds = ptr.To(int64(30))
	priority := podWith("prio", container(rl("cpu", "1"), nil))
	priority.Spec.PriorityClassName = "high"

	fast, slow := "fast", "slow"
	claims := []*corev1.PersistentVolumeClaim{
		{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &fast, Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "1Gi")}}},
		{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &slow, Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "2Gi")}},
			Status: corev1.PersistentVolumeClaimStatus{AllocatedResources: rl("storage", "5Gi")}},
		{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{quota.BetaStorageClassAnnotation: "fast"}},
			Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "500Mi")}}},
	}
	services := []*corev1.Service{
		{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{Port: 80}}}},
		{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80, NodePort: 30001}, {Port: 443, NodePort: 30002}}}},
		{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80, NodePort: 30003}}}},
	}
	objs := func(pods ...*corev1.Pod) Objects {
		return Objects{Pods: pods, Services: services, Claims: claims,
			Counts: map[string]int64{"configmaps": 3, "secrets": 2, "deployments.apps": 1, "resourcequotas": 1}}
	}
	for _, tc := range []struct {
		name  string
		quota *corev1.ResourceQuota
		objs  Objects
		want  corev1.ResourceList
	}{
		{name: "compute",
			quota: quotaOf(rl("pods", "10", "requests.cpu", "10", "requests.memory", "10Gi", "limits.cpu", "10", "limits.memory", "10Gi", "cpu", "10", "memory", "10Gi", "count/pods", "10", "requests.nvidia.com/gpu", "4", "limits.nvidia.com/gpu", "4")),
			objs:  objs(small, big, besteffort),
			want:  rl("pods", "3", "requests.cpu", "1600m", "requests.memory", "1088Mi", "limits.cpu", "200m", "limits.memory", "128Mi", "cpu", "1600m", "memory", "1088Mi", "count/pods", "3", "requests.nvidia.com/gpu", "0", "limits.nvidia.com/gpu", "1")},
		{name: "terminal and expired pods do not count", quota: quotaOf(rl("pods", "10", "requests.cpu", "10")),
			objs: objs(done, gone, stopping), want: rl("pods", "1", "requests.cpu", "2")},
		{name: "BestEffort scope", quota: quotaOf(rl("pods", "10"), corev1.ResourceQuotaScopeBestEffort),
			objs: objs(small, besteffort), want: rl("pods", "1")},
		{name: "PriorityClass In",
			quota: &corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "10", "requests.cpu", "10"),
				ScopeSelector: &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
					{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}}}}}},
			objs: objs(small, priority), want: rl("pods", "1", "requests.cpu", "1")},
		{name: "scoped quota ignores other resources", quota: quotaOf(rl("pods", "10", "configmaps", "5"), corev1.ResourceQuotaScopeBestEffort),
			objs: objs(besteffort), want: rl("pods", "1")},
		{name: "services", quota: quotaOf(rl("services", "10", "services.nodeports", "10", "services.loadbalancers", "10", "count/services", "10")),
			objs: objs(), want: rl("services", "3", "services.nodeports", "3", "services.loadbalancers", "1", "count/services", "3")},
		{name: "claims and storage",
			quota: quotaOf(rl("persistentvolumeclaims", "10", "requests.storage", "100Gi", "fast.storageclass.storage.k8s.io/requests.storage", "10Gi",
				"fast.storageclass.storage.k8s.io/persistentvolumeclaims", "5", "slow.storageclass.storage.k8s.io/requests.storage", "10Gi", "count/persistentvolumeclaims", "10")),
			objs: objs(),
			want: rl("persistentvolumeclaims", "3", "requests.storage", "6644Mi", "fast.storageclass.storage.k8s.io/requests.storage", "1524Mi",
				"fast.storageclass.storage.k8s.io/persistentvolumeclaims", "2", "slow.storageclass.storage.k8s.io/requests.storage", "5Gi", "count/persistentvolumeclaims", "3")},
		{name: "object counts",
			quota: quotaOf(rl("configmaps", "10", "secrets", "10", "count/deployments.apps", "5", "resourcequotas", "1", "replicationcontrollers", "1", "count/widgets.example.com", "1")),
			objs:  objs(), want: rl("configmaps", "3", "secrets", "2", "count/deployments.apps", "1", "resourcequotas", "1", "replicationcontrollers", "0")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Usage(tc.quota, tc.objs, now)
			if len(got) != len(tc.want) {
				t.Fatalf("used %v, want %v", got, tc.want)
			}
			for name, want := range tc.want {
				if g, ok := got[name]; !ok || g.Cmp(want) != 0 {
					t.Errorf("%s = %v, want %v", name, g.String(), want.String())
				}
			}
		})
	}
}
