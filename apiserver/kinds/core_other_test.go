package kinds

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

func TestNamespace(t *testing.T) {
	k := kindByName(t, "Namespace")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
	k.Default(ns)
	k.PrepareForCreate(ns)
	if ns.Labels["kubernetes.io/metadata.name"] != "team-a" || ns.Status.Phase != corev1.NamespaceActive ||
		!reflect.DeepEqual(ns.Spec.Finalizers, []corev1.FinalizerName{"kubernetes"}) {
		t.Errorf("new namespace %+v", ns)
	}
	assertErrors(t, k.Validate(ns), nil)
	if got := k.Fields(ns); !reflect.DeepEqual(got, fields.Set{"status.phase": "Active"}) {
		t.Errorf("fields %v", got)
	}
	upd := ns.DeepCopy()
	upd.Spec.Finalizers = nil
	k.PrepareForUpdate(upd, ns)
	if len(upd.Spec.Finalizers) != 1 {
		t.Error("an update dropped spec.finalizers")
	}
	if msgs := k.ValidateName("a.b", false); len(msgs) == 0 {
		t.Error("namespace name with a dot accepted (must be a DNS-1123 label)")
	}
	if msgs := k.ValidateName("team-", true); len(msgs) != 0 {
		t.Errorf("generateName prefix rejected: %v", msgs)
	}
}

func TestNode(t *testing.T) {
	k := kindByName(t, "Node")
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{
			"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": "", "kubernetes.io/role": "edge"}},
		Spec: corev1.NodeSpec{Unschedulable: true, PodCIDRs: []string{"10.244.1.0/24"}},
		Status: corev1.NodeStatus{
			Capacity:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}},
			NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "Debian GNU/Linux 13 (trixie)", KernelVersion: "6.12.0", ContainerRuntimeVersion: "containerd://1.7.24"},
		},
	}
	k.Default(n)
	if q := n.Status.Allocatable[corev1.ResourceCPU]; q.String() != "4" {
		t.Errorf("allocatable not defaulted from capacity: %v", n.Status.Allocatable)
	}
	got := nodeCells(n, time.Now())
	want := []interface{}{"n1", "Ready,SchedulingDisabled", "control-plane,edge,worker", "<unknown>", "v1.37.2",
		"192.168.1.10", "<none>", "Debian GNU/Linux 13 (trixie)", "6.12.0", "containerd://1.7.24"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cells %#v\nwant  %#v", got, want)
	}
	if k.Fields(n)["spec.unschedulable"] != "true" {
		t.Error("spec.unschedulable field")
	}
	upd := n.DeepCopy()
	upd.Spec.PodCIDRs = []string{"10.244.2.0/24"}
	assertErrors(t, k.ValidateUpdate(upd, n), []string{`spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid`})
	n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: "Sometimes"}}
	assertErrors(t, k.Validate(n), []string{`metadata.taints[0].effect: Unsupported value: "Sometimes"`})
}

func TestConfigMapAndSecret(t *testing.T) {
	cmk := kindByName(t, "ConfigMap")
	cm := &corev1.ConfigMap{Data: map[string]string{"a.conf": "x", "bad key": "y"}, Immutable: ptr(true)}
	assertErrors(t, cmk.Validate(cm), []string{`data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters`})
	upd := cm.DeepCopy()
	upd.Data["a.conf"] = "z"
	upd.Immutable = nil
	assertErrors(t, cmk.ValidateUpdate(upd, cm), []string{
		"immutable: Forbidden: field is immutable when `immutable` is set",
		"data: Forbidden: field is immutable when `immutable` is set",
	})
	if got := cmk.Cells(cm); got[1] != int64(2) {
		t.Errorf("configmap DATA cell %v", got[1])
	}

	sk := kindByName(t, "Secret")
	s := &corev1.Secret{StringData: map[string]string{"password": "hunter2"}}
	sk.Default(s)
	if s.Type != corev1.SecretTypeOpaque || string(s.Data["password"]) != "hunter2" || s.StringData != nil {
		t.Errorf("secret defaults %+v", s)
	}
	tls := &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("c")}}
	assertErrors(t, sk.Validate(tls), []string{"data[tls.key]: Required value"})
	upd2 := s.DeepCopy()
	upd2.Type = corev1.SecretTypeTLS
	assertErrors(t, sk.ValidateUpdate(upd2, s), []string{`type: Invalid value: "kubernetes.io/tls": field is immutable`})
	if sk.Fields(s)["type"] != "Opaque" {
		t.Error("secret type field")
	}
}

func TestEvent(t *testing.T) {
	k := kindByName(t, "Event")
	e := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web.1", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: "u1", APIVersion: "v1", FieldPath: "spec.containers{app}"},
		Reason:         "Pulled", Message: "Pulled image \"x\" ", Type: "Normal", Count: 3,
		Source:              corev1.EventSource{Component: "kubelet", Host: "n1"},
		ReportingController: "kubelet",
	}
	assertErrors(t, k.Validate(e), nil)
	got := k.Cells(e)
	want := []interface{}{"<unknown>", "Normal", "Pulled", "pod/web", "spec.containers{app}", "kubelet, n1", "Pulled image \"x\"", "<unknown>", int64(3), "web.1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cells %#v\nwant  %#v", got, want)
	}
	f := k.Fields(e)
	for key, v := range map[string]string{"involvedObject.kind": "Pod", "involvedObject.name": "web", "involvedObject.uid": "u1",
		"reason": "Pulled", "source": "kubelet", "reportingComponent": "kubelet", "type": "Normal", "involvedObject.fieldPath": "spec.containers{app}"} {
		if f[key] != v {
			t.Errorf("field %s = %q, want %q", key, f[key], v)
		}
	}
	e.InvolvedObject.Namespace = "other"
	assertErrors(t, k.Validate(e), []string{`involvedObject.namespace: Invalid value: "other": does not match event.namespace`})
}

func TestPersistentVolumes(t *testing.T) {
	pvk := kindByName(t, "PersistentVolume")
	pv := &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{
		Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
		AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany},
		PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}},
	}}
	pvk.Default(pv)
	pvk.PrepareForCreate(pv)
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || *pv.Spec.VolumeMode != corev1.PersistentVolumeFilesystem ||
		pv.Status.Phase != corev1.VolumePending || *pv.Spec.HostPath.Type != corev1.HostPathUnset {
		t.Errorf("pv defaults %+v", pv)
	}
	assertErrors(t, pvk.Validate(pv), nil)
	if got := pvk.Cells(pv); got[1] != "10Gi" || got[2] != "RWO,ROX" || got[7] != "<unset>" || got[10] != "Filesystem" {
		t.Errorf("pv cells %#v", got)
	}
	empty := &corev1.PersistentVolume{}
	assertErrors(t, pvk.Validate(empty), []string{"spec.accessModes: Required value", "spec.capacity: Required value", "spec: Required value: must specify a volume type"})

	k := kindByName(t, "PersistentVolumeClaim")
	pvc := &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
	}}
	k.Default(pvc)
	k.PrepareForCreate(pvc)
	if *pvc.Spec.VolumeMode != corev1.PersistentVolumeFilesystem || pvc.Status.Phase != corev1.ClaimPending {
		t.Errorf("pvc defaults %+v", pvc)
	}
	assertErrors(t, k.Validate(pvc), nil)
	bound := pvc.DeepCopy()
	bound.Spec.VolumeName = "pv-1" // binding sets the volume name once
	assertErrors(t, k.ValidateUpdate(bound, pvc), nil)
	grow := bound.DeepCopy()
	grow.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
	assertErrors(t, k.ValidateUpdate(grow, bound), nil)
	// Bound to a larger volume: the claim's status says 5Gi, it asked for
	// 1Gi, and it can still be updated; shrinking below 5Gi cannot.
	bigger := bound.DeepCopy()
	bigger.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")}
	relabelled := bigger.DeepCopy()
	relabelled.Labels = map[string]string{"a": "b"}
	relabelled.Status.Phase = corev1.ClaimLost
	assertErrors(t, k.ValidateUpdate(relabelled, bigger), nil)
	grown := bigger.DeepCopy()
	grown.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("8Gi")}
	shrunk := grown.DeepCopy()
	shrunk.Spec.Resources.Requests = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("4Gi")}
	assertErrors(t, k.ValidateUpdate(shrunk, grown), []string{"spec.resources.requests.storage: Forbidden: field can not be less than status.capacity"})
	modes := bound.DeepCopy()
	modes.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	assertErrors(t, k.ValidateUpdate(modes, bound), []string{"spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"})
	noSize := &corev1.PersistentVolumeClaim{}
	assertErrors(t, k.Validate(noSize), []string{"spec.accessModes: Required value: at least 1 access mode is required", "spec.resources[storage]: Required value"})
}

func TestQuotaAndLimitRange(t *testing.T) {
	k := kindByName(t, "ResourceQuota")
	rq := &corev1.ResourceQuota{Status: corev1.ResourceQuotaStatus{
		Hard: corev1.ResourceList{"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("4"), "limits.memory": resource.MustParse("8Gi")},
		Used: corev1.ResourceList{"pods": resource.MustParse("3"), "requests.cpu": resource.MustParse("1500m")},
	}}
	got := k.Cells(rq)
	if got[1] != "pods: 3/10, requests.cpu: 1500m/4" || got[2] != "limits.memory: 0/8Gi" {
		t.Errorf("quota cells %#v", got)
	}
	rq.Spec.Hard = corev1.ResourceList{"pods": resource.MustParse("-1")}
	assertErrors(t, k.Validate(rq), []string{`spec.hard[pods]: Invalid value: "-1": must be greater than or equal to 0`})

	lk := kindByName(t, "LimitRange")
	lr := &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type: corev1.LimitTypeContainer,
		Max:  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
		Min:  corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
	}}}}
	lk.Default(lr)
	it := lr.Spec.Limits[0]
	if d, dr, drm := it.Default[corev1.ResourceCPU], it.DefaultRequest[corev1.ResourceCPU], it.DefaultRequest[corev1.ResourceMemory]; d.String() != "2" || dr.String() != "2" || drm.String() != "64Mi" {
		t.Errorf("limit range defaults %+v", it)
	}
	assertErrors(t, lk.Validate(lr), nil)
	lr.Spec.Limits[0].Min[corev1.ResourceCPU] = resource.MustParse("3")
	assertErrors(t, lk.Validate(lr), []string{`spec.limits[0].min[cpu]: Invalid value: "3": min value 3 is greater than max value 2`})
}
