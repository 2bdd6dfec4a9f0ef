package kinds

import (
	"reflect"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestHPA(t *testing.T) {
	k := kindByName(t, "HorizontalPodAutoscaler")
	h := &autoscalingv2.HorizontalPodAutoscaler{}
	decodeInto(t, `
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 10
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 60
`, h)
	k.Default(h)
	var want autoscalingv2.HorizontalPodAutoscalerSpec
	decodeInto(t, `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
minReplicas: 1
maxReplicas: 10
metrics:
- type: Resource
  resource:
    name: cpu
    target: {type: Utilization, averageUtilization: 80}
behavior:
  scaleUp:
    stabilizationWindowSeconds: 0
    selectPolicy: Max
    policies:
    - {type: Pods, value: 4, periodSeconds: 15}
    - {type: Percent, value: 100, periodSeconds: 15}
  scaleDown:
    stabilizationWindowSeconds: 60
    selectPolicy: Max
    policies:
    - {type: Percent, value: 100, periodSeconds: 15}
`, &want)
	if got, w := toJSONMap(t, h.Spec), toJSONMap(t, want); !reflect.DeepEqual(got, w) {
		t.Errorf("hpa defaults\n got %v\nwant %v", got, w)
	}
	assertErrors(t, k.Validate(h), nil)
	h.Status.CurrentReplicas = 2
	h.Status.CurrentMetrics = []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr[int32](42)}}}}
	if got := k.Cells(h); got[1] != "Deployment/web" || got[2] != "cpu: 42%/80%" || got[3] != "1" || got[4] != int64(10) || got[5] != int64(2) {
		t.Errorf("hpa cells %#v", got)
	}
	h.Spec.MinReplicas = ptr[int32](20)
	assertErrors(t, k.Validate(h), []string{"spec.maxReplicas: Invalid value: 10: must be greater than or equal to `minReplicas`"})
}

func TestRBAC(t *testing.T) {
	rk := kindByName(t, "Role")
	role := &rbacv1.Role{Rules: []rbacv1.PolicyRule{
		{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}},
		{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}},
		{APIGroups: []string{""}},
	}}
	assertErrors(t, rk.Validate(role), []string{
		"rules[1].nonResourceURLs: Invalid value: ", "namespaced rules cannot apply to non-resource URLs",
		"rules[2].verbs: Required value: verbs must contain at least one value",
		"rules[2].resources: Required value: resource rules must supply at least one resource",
	})
	if msgs := rk.ValidateName("system:controller:x", false); len(msgs) != 0 {
		t.Errorf("role name with colons rejected: %v", msgs)
	}
	if msgs := rk.ValidateName("a/b", false); len(msgs) == 0 {
		t.Error("role name with a slash accepted")
	}
	bk := kindByName(t, "RoleBinding")
	rb := &rbacv1.RoleBinding{
		RoleRef:  rbacv1.RoleRef{Kind: "Role", Name: "reader"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "jane"}, {Kind: "ServiceAccount", Name: "bot", Namespace: "ci"}, {Kind: "Robot", Name: "r2"}},
	}
	bk.Default(rb)
	if rb.RoleRef.APIGroup != rbacv1.GroupName || rb.Subjects[0].APIGroup != rbacv1.GroupName || rb.Subjects[1].APIGroup != "" {
		t.Errorf("binding defaults %+v", rb)
	}
	assertErrors(t, bk.Validate(rb), []string{`subjects[2].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"`})
	upd := rb.DeepCopy()
	upd.RoleRef.Name = "writer"
	assertErrors(t, bk.ValidateUpdate(upd, rb), []string{"roleRef: Invalid value: ", "cannot change roleRef"})
	if got := bk.Cells(rb); got[1] != "Role/reader" || got[3] != "jane" || got[5] != "ci/bot" {
		t.Errorf("binding cells %#v", got)
	}
	crb := kindByName(t, "ClusterRoleBinding")
	c := &rbacv1.ClusterRoleBinding{RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "x"}, Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "bot"}}}
	crb.Default(c)
	assertErrors(t, crb.Validate(c), []string{
		`roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"`,
		"subjects[0].namespace: Required value",
	})
}

func TestPDB(t *testing.T) {
	k := kindByName(t, "PodDisruptionBudget")
	two, half := intstrFromInt(2), intstrFromString("50%")
	p := &policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &two, MaxUnavailable: &half,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "zk"}}}}
	assertErrors(t, k.Validate(p), []string{"spec: Invalid value: ", "minAvailable and maxUnavailable cannot be both set"})
	p.Spec.MaxUnavailable = nil
	assertErrors(t, k.Validate(p), nil)
	if got := k.Cells(p); got[1] != "2" || got[2] != "N/A" {
		t.Errorf("pdb cells %#v", got)
	}
}

func TestPriorityClass(t *testing.T) {
	k := kindByName(t, "PriorityClass")
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000}
	k.Default(pc)
	if *pc.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Errorf("preemptionPolicy %v", *pc.PreemptionPolicy)
	}
	assertErrors(t, k.Validate(pc), nil)
	big := pc.DeepCopy()
	big.Value = 2000000000
	assertErrors(t, k.Validate(big), []string{"value: Forbidden: maximum allowed value of a user defined priority is 1000000000"})
	assertErrors(t, k.ValidateUpdate(big, pc), []string{"value: Forbidden: may not be changed in an update."})
	sys := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-mine"}, Value: 5}
	assertErrors(t, k.Validate(sys), []string{"metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class"})
	node := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-node-critical"}, Value: 2000001000}
	assertErrors(t, k.Validate(node), nil)
}

func TestStorageClass(t *testing.T) {
	k := kindByName(t, "StorageClass")
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local", Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
		Provisioner: "rancher.io/local-path"}
	k.Default(sc)
	if *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete || *sc.VolumeBindingMode != storagev1.VolumeBindingImmediate {
		t.Errorf("storage class defaults %+v", sc)
	}
	assertErrors(t, k.Validate(sc), nil)
	if got := k.Cells(sc); got[0] != "local (default)" || got[2] != "Delete" || got[3] != "Immediate" || got[4] != false {
		t.Errorf("storage class cells %#v", got)
	}
	upd := sc.DeepCopy()
	upd.Parameters = map[string]string{"a": "b"}
	assertErrors(t, k.ValidateUpdate(upd, sc), []string{"parameters: Forbidden: updates to parameters are forbidden."})
	noProv := &storagev1.StorageClass{}
	k.Default(noProv)
	assertErrors(t, k.Validate(noProv), []string{"provisioner: Required value"})
}

func TestLeaseAndEndpointSlice(t *testing.T) {
	lk := kindByName(t, "Lease")
	l := &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("node-1"), LeaseDurationSeconds: ptr[int32](0)}}
	assertErrors(t, lk.Validate(l), []string{"spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"})
	if got := lk.Cells(l); got[1] != "node-1" {
		t.Errorf("lease holder %v", got[1])
	}

	ek := kindByName(t, "EndpointSlice")
	es := &discoveryv1.EndpointSlice{
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.0.0.1"}}, {Addresses: []string{"10.0.0.2"}},
			{Addresses: []string{"10.0.0.3"}}, {Addresses: []string{"10.0.0.4"}},
		},
		Ports: []discoveryv1.EndpointPort{{Port: ptr[int32](80)}},
	}
	ek.Default(es)
	if *es.Ports[0].Protocol != corev1.ProtocolTCP || *es.Ports[0].Name != "" {
		t.Errorf("endpoint port defaults %+v", es.Ports[0])
	}
	assertErrors(t, ek.Validate(es), nil)
	if got := ek.Cells(es); got[2] != "80" || got[3] != "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more..." {
		t.Errorf("endpointslice cells %#v", got)
	}
	es.Endpoints[0].Addresses = []string{"fe80::1"}
	assertErrors(t, ek.Validate(es), []string{`endpoints[0].addresses[0]: Invalid value: "fe80::1": must be a valid IPv4 address`})
}
