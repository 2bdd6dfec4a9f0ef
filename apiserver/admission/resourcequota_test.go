package admission

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// quota is a synced quota: status.hard = hard, status.used = used.
func quota(name string, hard, used corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", ResourceVersion: "1"},
		Spec: corev1.ResourceQuotaSpec{Hard: hard}, Status: corev1.ResourceQuotaStatus{Hard: hard, Used: used}}
}

func TestQuotaCharge(t *testing.T) {
	pods := schema.GroupResource{Resource: "pods"}
	svcs := schema.GroupResource{Resource: "services"}
	pvcs := schema.GroupResource{Resource: "persistentvolumeclaims"}
	cms := schema.GroupResource{Resource: "configmaps"}
	deps := schema.GroupResource{Group: "apps", Resource: "deployments"}
	sized := podWith(ctr("a", rl("cpu", "500m", "memory", "128Mi"), rl("cpu", "1", "memory", "256Mi")))
	bare := podWith(ctr("a", nil, nil), ctr("b", rl("cpu", "100m"), nil))
	nodePort := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}, {Port: 443}}}}
	clusterIP := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{Port: 80}}}}
	claim := func(size string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr("fast"),
			Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", size)}}}
	}
	terminating := podWith(ctr("a", nil, nil))
	terminating.Spec.ActiveDeadlineSeconds = ptr(int64(60))
	for _, tc := range []struct {
		name    string
		q       *corev1.ResourceQuota
		gr      schema.GroupResource
		obj     runtime.Object
		old     runtime.Object
		used    corev1.ResourceList // nil: not charged
		refusal string
	}{
		{"pod within", quota("q", rl("pods", "2"), rl("pods", "1")), pods, sized, nil, rl("pods", "2"), ""},
		{"pod over", quota("q", rl("pods", "2"), rl("pods", "2")), pods, sized, nil, nil,
			"exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"},
		{"count/pods", quota("q", rl("count/pods", "5"), rl("count/pods", "0")), pods, sized, nil, rl("count/pods", "1"), ""},
		{"compute within", quota("q", rl("requests.cpu", "1", "limits.memory", "1Gi", "memory", "1Gi"), rl("requests.cpu", "250m", "limits.memory", "0", "memory", "0")),
			pods, sized, nil, rl("requests.cpu", "750m", "limits.memory", "256Mi", "memory", "128Mi"), ""},
		{"compute over, only the exceeded named", quota("q", rl("requests.cpu", "1", "pods", "10", "limits.cpu", "1"), rl("requests.cpu", "600m", "pods", "0", "limits.cpu", "500m")),
			pods, sized, nil, nil, "exceeded quota: q, requested: limits.cpu=1,requests.cpu=500m, used: limits.cpu=500m,requests.cpu=600m, limited: limits.cpu=1,requests.cpu=1"},
		{"must specify", quota("compute", rl("requests.cpu", "10", "limits.memory", "10Gi", "pods", "10"), rl("requests.cpu", "0", "limits.memory", "0", "pods", "0")),
			pods, bare, nil, nil, "failed quota: compute: must specify limits.memory for: a,b; requests.cpu for: a"},
		{"status unknown", quota("q", rl("pods", "10", "services", "1"), rl("services", "0")), pods, sized, nil, nil,
			"status unknown for quota: q, resources: pods"},
		{"not synced yet: constrains nothing", &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q"}, Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "0")}},
			pods, sized, nil, nil, ""},
		{"other resources untouched", quota("q", rl("services", "1"), rl("services", "1")), pods, sized, nil, nil, ""},
		{"service and node ports", quota("q", rl("services", "5", "services.nodeports", "2"), rl("services", "1", "services.nodeports", "0")),
			svcs, nodePort, nil, rl("services", "2", "services.nodeports", "2"), ""},
		{"node ports over", quota("q", rl("services.nodeports", "1"), rl("services.nodeports", "0")), svcs, nodePort, nil, nil,
			"exceeded quota: q, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1"},
		{"service update growing node ports", quota("q", rl("services", "1", "services.nodeports", "5"), rl("services", "1", "services.nodeports", "0")),
			svcs, nodePort, clusterIP, rl("services", "1", "services.nodeports", "2"), ""},
		{"service update shrinking", quota("q", rl("services.nodeports", "5"), rl("services.nodeports", "2")), svcs, clusterIP, nodePort, nil, ""},
		{"claim storage per class", quota("q", rl("requests.storage", "10Gi", "fast.storageclass.storage.k8s.io/requests.storage", "5Gi", "persistentvolumeclaims", "3"),
			rl("requests.storage", "1Gi", "fast.storageclass.storage.k8s.io/requests.storage", "1Gi", "persistentvolumeclaims", "1")),
			pvcs, claim("6Gi"), nil, nil, "exceeded quota: q, requested: fast.storageclass.storage.k8s.io/requests.storage=6Gi, used: fast.storageclass.storage.k8s.io/requests.storage=1Gi, limited: fast.storageclass.storage.k8s.io/requests.storage=5Gi"},
		{"claim resize", quota("q", rl("requests.storage", "10Gi"), rl("requests.storage", "2Gi")), pvcs, claim("5Gi"), claim("2Gi"), rl("requests.storage", "5Gi"), ""},
		{"configmaps legacy name", quota("q", rl("configmaps", "1"), rl("configmaps", "1")), cms, &corev1.ConfigMap{}, nil, nil,
			"exceeded quota: q, requested: configmaps=1, used: configmaps=1, limited: configmaps=1"},
		{"count of a group's resource", quota("q", rl("count/deployments.apps", "1"), rl("count/deployments.apps", "0")), deps, &corev1.ConfigMap{}, nil, rl("count/deployments.apps", "1"), ""},
		{"scope matches", func() *corev1.ResourceQuota {
			q := quota("q", rl("pods", "1"), rl("pods", "1"))
			q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating}
			return q
		}(), pods, terminating, nil, nil, "exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1"},
		{"scope does not match", func() *corev1.ResourceQuota {
			q := quota("q", rl("pods", "1"), rl("pods", "1"))
			q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopeBestEffort}
			return q
		}(), pods, terminating, nil, nil, ""},
		{"scoped quota ignores services", func() *corev1.ResourceQuota {
			q := quota("q", rl("services", "0"), rl("services", "0"))
			q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}
			return q
		}(), svcs, clusterIP, nil, nil, ""},
		{"priority class selector", func() *corev1.ResourceQuota {
			q := quota("q", rl("pods", "0"), rl("pods", "0"))
			q.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
				{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}}}}
			return q
		}(), pods, func() *corev1.Pod { p := podWith(ctr("a", nil, nil)); p.Spec.PriorityClassName = "high"; return p }(), nil, nil,
			"exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			used, charged, refusal := QuotaCharge(tc.q, tc.gr, tc.obj, tc.old)
			if refusal != tc.refusal {
				t.Fatalf("refusal %q\nwant    %q", refusal, tc.refusal)
			}
			if charged != (tc.used != nil) {
				t.Fatalf("charged %v (used %v), want %v", charged, used, tc.used)
			}
			for n, want := range tc.used {
				if got := used[n]; got.Cmp(want) != 0 {
					t.Errorf("used %s = %s, want %s", n, got.String(), want.String())
				}
			}
		})
	}
}

func TestResourceQuotaPlugin(t *testing.T) {
	ctx := context.Background()
	pod := podWith(ctr("a", nil, nil))
	t.Run("charges", func(t *testing.T) {
		f := newFakes()
		f.quotas = []*corev1.ResourceQuota{quota("a", rl("pods", "5"), rl("pods", "1")), quota("b", rl("configmaps", "5"), rl("configmaps", "0"))}
		if err := (&ResourceQuota{Quotas: f}).Validate(ctx, attrs(Create, "pods", "", "ns", "p", pod, nil)); err != nil {
			t.Fatal(err)
		}
		if u := f.quotas[0].Status.Used["pods"]; u.Value() != 2 || f.updates != 1 {
			t.Fatalf("used %s after %d updates", u.String(), f.updates)
		}
	})
	t.Run("dry run charges nothing", func(t *testing.T) {
		f := newFakes()
		f.quotas = []*corev1.ResourceQuota{quota("a", rl("pods", "5"), rl("pods", "1"))}
		a := attrs(Create, "pods", "", "ns", "p", pod, nil)
		a.DryRun = true
		if err := (&ResourceQuota{Quotas: f}).Validate(ctx, a); err != nil || f.updates != 0 {
			t.Fatalf("err %v, %d updates", err, f.updates)
		}
		a.Object = podWith(ctr("a", nil, nil))
		f.quotas[0] = quota("a", rl("pods", "1"), rl("pods", "1"))
		if err := (&ResourceQuota{Quotas: f}).Validate(ctx, a); err == nil {
			t.Fatal("a dry run over quota was admitted")
		}
	})
	t.Run("conflict decides again on fresh usage", func(t *testing.T) {
		f := newFakes()
		f.quotas = []*corev1.ResourceQuota{quota("a", rl("pods", "3"), rl("pods", "1"))}
		f.conflicts = 1 // another pod is charged meanwhile: used 2
		if err := (&ResourceQuota{Quotas: f}).Validate(ctx, attrs(Create, "pods", "", "ns", "p", pod, nil)); err != nil {
			t.Fatal(err)
		}
		if u := f.quotas[0].Status.Used["pods"]; u.Value() != 3 {
			t.Fatalf("used %s, want 3", u.String())
		}
		f.quotas[0] = quota("a", rl("pods", "3"), rl("pods", "2"))
		f.conflicts = 1 // and now the last slot goes to the other writer
		err := (&ResourceQuota{Quotas: f}).Validate(ctx, attrs(Create, "pods", "", "ns", "q", pod, nil))
		want := `pods "q" is forbidden: exceeded quota: a, requested: pods=1, used: pods=3, limited: pods=3`
		if err == nil || err.Error() != want {
			t.Fatalf("got %v\nwant %s", err, want)
		}
	})
	t.Run("pod updates are not charged", func(t *testing.T) {
		f := newFakes()
		f.quotas = []*corev1.ResourceQuota{quota("a", rl("pods", "0"), rl("pods", "1"))}
		if err := (&ResourceQuota{Quotas: f}).Validate(ctx, attrs(Update, "pods", "", "ns", "p", pod, pod)); err != nil {
			t.Fatal(err)
		}
	})
}
