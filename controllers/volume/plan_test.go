package volume

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

type pvOpt func(*corev1.PersistentVolume)

func pv(name, size string, opts ...pvOpt) *corev1.PersistentVolume {
	v := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable}}
	for _, o := range opts {
		o(v)
	}
	return v
}

func withClass(c string) pvOpt {
	return func(v *corev1.PersistentVolume) { v.Spec.StorageClassName = c }
}
func withModes(m ...corev1.PersistentVolumeAccessMode) pvOpt {
	return func(v *corev1.PersistentVolume) { v.Spec.AccessModes = m }
}
func withLabels(l map[string]string) pvOpt { return func(v *corev1.PersistentVolume) { v.Labels = l } }
func withBlock() pvOpt {
	return func(v *corev1.PersistentVolume) { v.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock) }
}
func onNode(n string) pvOpt {
	return func(v *corev1.PersistentVolume) {
		v.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{n}}}}}}}
	}
}
func claimedBy(c *corev1.PersistentVolumeClaim, uid bool) pvOpt {
	return func(v *corev1.PersistentVolume) {
		v.Spec.ClaimRef = &corev1.ObjectReference{Namespace: c.Namespace, Name: c.Name}
		if uid {
			v.Spec.ClaimRef.UID = c.UID
		}
	}
}
func phase(p corev1.PersistentVolumePhase) pvOpt {
	return func(v *corev1.PersistentVolume) { v.Status.Phase = p }
}
func reclaimPolicy(p corev1.PersistentVolumeReclaimPolicy) pvOpt {
	return func(v *corev1.PersistentVolume) { v.Spec.PersistentVolumeReclaimPolicy = p }
}
func annotated(k, val string) pvOpt {
	return func(v *corev1.PersistentVolume) { metav1.SetMetaDataAnnotation(&v.ObjectMeta, k, val) }
}

type claimOpt func(*corev1.PersistentVolumeClaim)

func claim(name, size string, opts ...claimOpt) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: k8stypes.UID("uid-ns-" + name)},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To(""),
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}}
	for _, o := range opts {
		o(c)
	}
	return c
}

func class(name string) claimOpt {
	return func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = &name }
}
func noClass() claimOpt {
	return func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = nil }
}
func wants(m ...corev1.PersistentVolumeAccessMode) claimOpt {
	return func(c *corev1.PersistentVolumeClaim) { c.Spec.AccessModes = m }
}
func selecting(l map[string]string) claimOpt {
	return func(c *corev1.PersistentVolumeClaim) { c.Spec.Selector = &metav1.LabelSelector{MatchLabels: l} }
}
func block() claimOpt {
	return func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock) }
}
func volumeName(n string) claimOpt {
	return func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = n }
}
func claimPhase(p corev1.PersistentVolumeClaimPhase) claimOpt {
	return func(c *corev1.PersistentVolumeClaim) { c.Status.Phase = p }
}
func claimAnnotated(k, v string) claimOpt {
	return func(c *corev1.PersistentVolumeClaim) { metav1.SetMetaDataAnnotation(&c.ObjectMeta, k, v) }
}

func storageClass(name, provisioner string, wffc bool) *storagev1.StorageClass {
	mode := storagev1.VolumeBindingImmediate
	if wffc {
		mode = storagev1.VolumeBindingWaitForFirstConsumer
	}
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner, VolumeBindingMode: &mode}
}

func TestMatch(t *testing.T) {
	lbl := map[string]string{"tier": "gold"}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{LabelHostname: "n1"}}}
	other := claim("other", "1Gi")
	for _, tc := range []struct {
		name    string
		claim   *corev1.PersistentVolumeClaim
		volumes []*corev1.PersistentVolume
		node    *corev1.Node
		want    string
	}{
		{"smallest fitting", claim("c", "1Gi"), []*corev1.PersistentVolume{pv("big", "10Gi"), pv("small", "512Mi"), pv("fit", "2Gi")}, nil, "fit"},
		{"ties by name", claim("c", "1Gi"), []*corev1.PersistentVolume{pv("b", "1Gi"), pv("a", "1Gi")}, nil, "a"},
		{"class must match", claim("c", "1Gi", class("fast")), []*corev1.PersistentVolume{pv("plain", "1Gi"), pv("fast", "5Gi", withClass("fast"))}, nil, "fast"},
		{"no class wants none", claim("c", "1Gi"), []*corev1.PersistentVolume{pv("fast", "5Gi", withClass("fast"))}, nil, ""},
		{"access modes", claim("c", "1Gi", wants(corev1.ReadWriteMany)), []*corev1.PersistentVolume{pv("rwo", "1Gi"),
			pv("rwx", "1Gi", withModes(corev1.ReadWriteOnce, corev1.ReadWriteMany))}, nil, "rwx"},
		{"selector", claim("c", "1Gi", selecting(lbl)), []*corev1.PersistentVolume{pv("plain", "1Gi"), pv("gold", "9Gi", withLabels(lbl))}, nil, "gold"},
		{"volume mode", claim("c", "1Gi", block()), []*corev1.PersistentVolume{pv("fs", "1Gi"), pv("blk", "1Gi", withBlock())}, nil, "blk"},
		{"bound volumes are taken", claim("c", "1Gi"), []*corev1.PersistentVolume{pv("taken", "1Gi", claimedBy(other, true))}, nil, ""},
		{"released volumes are not reused", claim("c", "1Gi"), []*corev1.PersistentVolume{pv("rel", "1Gi", phase(corev1.VolumeReleased))}, nil, ""},
		{"node affinity", claim("c", "1Gi"), []*corev1.PersistentVolume{pv("n2", "1Gi", onNode("n2")), pv("n1", "5Gi", onNode("n1"))}, node, "n1"},
		{"affinity ignored without a node", claim("c", "1Gi"), []*corev1.PersistentVolume{pv("n2", "1Gi", onNode("n2"))}, nil, "n2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Match(tc.claim, tc.volumes, tc.node)
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tc.want {
				t.Fatalf("Match = %q, want %q", name, tc.want)
			}
		})
	}
}

func TestNodeSelector(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a", "cores": "8"}}}
	req := func(k string, op corev1.NodeSelectorOperator, v ...string) corev1.NodeSelectorRequirement {
		return corev1.NodeSelectorRequirement{Key: k, Operator: op, Values: v}
	}
	term := func(rs ...corev1.NodeSelectorRequirement) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: rs}
	}
	for _, tc := range []struct {
		name  string
		terms []corev1.NodeSelectorTerm
		want  bool
	}{
		{"in", []corev1.NodeSelectorTerm{term(req("zone", corev1.NodeSelectorOpIn, "a", "b"))}, true},
		{"not in", []corev1.NodeSelectorTerm{term(req("zone", corev1.NodeSelectorOpNotIn, "a"))}, false},
		{"exists and gt", []corev1.NodeSelectorTerm{term(req("zone", corev1.NodeSelectorOpExists), req("cores", corev1.NodeSelectorOpGt, "4"))}, true},
		{"lt", []corev1.NodeSelectorTerm{term(req("cores", corev1.NodeSelectorOpLt, "4"))}, false},
		{"does not exist", []corev1.NodeSelectorTerm{term(req("gpu", corev1.NodeSelectorOpDoesNotExist))}, true},
		{"terms are ORed", []corev1.NodeSelectorTerm{term(req("zone", corev1.NodeSelectorOpIn, "b")), term(req("zone", corev1.NodeSelectorOpIn, "a"))}, true},
		{"empty selector", nil, false},
		{"match fields", []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{req("metadata.name", corev1.NodeSelectorOpIn, "n1")}}}, true},
	} {
		if got := NodeSelectorMatches(&corev1.NodeSelector{NodeSelectorTerms: tc.terms}, node); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPlanClaim(t *testing.T) {
	local := storageClass("local-path", "rancher.io/local-path", true)
	immediate := storageClass("fast", "example.com/fast", false)
	static := storageClass("static", NoProvisioner, false)
	c := claim("c", "1Gi")
	n1 := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{LabelHostname: "n1"}}}
	for _, tc := range []struct {
		name   string
		s      Claim
		action ClaimAction
		volume string
		reason string
	}{
		{name: "binds the best volume", s: Claim{Claim: c, Volumes: []*corev1.PersistentVolume{pv("a", "1Gi"), pv("b", "2Gi")}},
			action: ClaimBind, volume: "a"},
		{name: "no volume and no class", s: Claim{Claim: c}, reason: ReasonFailedBinding},
		{name: "a pre-bound volume wins", s: Claim{Claim: c, Volumes: []*corev1.PersistentVolume{pv("a", "1Gi"), pv("pre", "5Gi", claimedBy(c, false))}},
			action: ClaimBind, volume: "pre"},
		{name: "a pre-bound volume that does not fit", s: Claim{Claim: c, Volumes: []*corev1.PersistentVolume{pv("pre", "5Mi", claimedBy(c, false))}},
			reason: ReasonFailedBinding},
		{name: "default class given", s: Claim{Claim: claim("c", "1Gi", noClass()), DefaultClass: "local-path"}, action: ClaimSetClass},
		{name: "class missing", s: Claim{Claim: claim("c", "1Gi", class("gone"))}, reason: ReasonProvisioningFailed},
		{name: "wait for first consumer", s: Claim{Claim: claim("c", "1Gi", class("local-path")), Class: local}, reason: ReasonWaitForFirstConsumer},
		{name: "consumer scheduled: select its node", s: Claim{Claim: claim("c", "1Gi", class("local-path")), Class: local, ConsumerNode: "n1"},
			action: ClaimSelectNode},
		{name: "node selected: provision", s: Claim{Claim: claim("c", "1Gi", class("local-path"), claimAnnotated(AnnSelectedNode, "n1")), Class: local},
			action: ClaimProvision, reason: ReasonExternalProvisioning},
		{name: "node selected: a static volume there binds", s: Claim{Claim: claim("c", "1Gi", class("local-path"), claimAnnotated(AnnSelectedNode, "n1")),
			Class: local, Node: n1, Volumes: []*corev1.PersistentVolume{pv("elsewhere", "1Gi", withClass("local-path"), onNode("n2")),
				pv("here", "3Gi", withClass("local-path"), onNode("n1"))}}, action: ClaimBind, volume: "here"},
		{name: "provisioner asked already", s: Claim{Claim: claim("c", "1Gi", class("fast"), claimAnnotated(AnnStorageProvisioner, "example.com/fast"),
			claimAnnotated(AnnBetaStorageProvisioner, "example.com/fast")), Class: immediate}, reason: ReasonExternalProvisioning},
		{name: "immediate class provisions at once", s: Claim{Claim: claim("c", "1Gi", class("fast")), Class: immediate}, action: ClaimProvision, reason: ReasonExternalProvisioning},
		{name: "class without provisioner", s: Claim{Claim: claim("c", "1Gi", class("static")), Class: static}, reason: ReasonFailedBinding},
		{name: "bound and complete", s: Claim{Claim: claim("c", "1Gi", volumeName("v"), claimPhase(corev1.ClaimBound), claimAnnotated(AnnBindCompleted, "yes")),
			Volumes: []*corev1.PersistentVolume{pv("v", "1Gi", claimedBy(c, true), phase(corev1.VolumeBound))}}},
		{name: "bound but unfinished", s: Claim{Claim: claim("c", "1Gi", volumeName("v")),
			Volumes: []*corev1.PersistentVolume{pv("v", "1Gi", claimedBy(c, true))}}, action: ClaimBind, volume: "v"},
		{name: "user asked for a free volume", s: Claim{Claim: claim("c", "1Gi", volumeName("v")),
			Volumes: []*corev1.PersistentVolume{pv("v", "1Gi")}}, action: ClaimBind, volume: "v"},
		{name: "user asked for a missing volume", s: Claim{Claim: claim("c", "1Gi", volumeName("v"))}},
		{name: "volume lost", s: Claim{Claim: claim("c", "1Gi", volumeName("v"), claimPhase(corev1.ClaimBound))}, action: ClaimLose, reason: ReasonClaimLost},
		{name: "misbound", s: Claim{Claim: claim("c", "1Gi", volumeName("v"), claimPhase(corev1.ClaimBound)),
			Volumes: []*corev1.PersistentVolume{pv("v", "1Gi", claimedBy(claim("other", "1Gi"), true))}}, action: ClaimLose, reason: ReasonClaimMisbound},
		{name: "asked for a volume bound elsewhere", s: Claim{Claim: claim("c", "1Gi", volumeName("v")),
			Volumes: []*corev1.PersistentVolume{pv("v", "1Gi", claimedBy(claim("other", "1Gi"), true))}}, reason: ReasonFailedBinding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := PlanClaim(tc.s)
			if p.Action != tc.action {
				t.Fatalf("action %d, want %d (plan %+v)", p.Action, tc.action, p)
			}
			if tc.volume != "" && (p.Volume == nil || p.Volume.Name != tc.volume) {
				t.Fatalf("volume %v, want %s", p.Volume, tc.volume)
			}
			switch {
			case tc.reason == "" && p.Event != nil:
				t.Fatalf("event %+v, want none", p.Event)
			case tc.reason != "" && (p.Event == nil || p.Event.Reason != tc.reason):
				t.Fatalf("event %+v, want %s", p.Event, tc.reason)
			}
		})
	}
}

func TestPlanVolume(t *testing.T) {
	c := claim("c", "1Gi")
	bound := claim("c", "1Gi", volumeName("v"), claimPhase(corev1.ClaimBound), claimAnnotated(AnnBindCompleted, "yes"))
	recreated := claim("c", "1Gi")
	recreated.UID = "another"
	for _, tc := range []struct {
		name      string
		s         Volume
		action    VolumeAction
		phase     corev1.PersistentVolumePhase
		syncClaim bool
		reason    string
	}{
		{name: "new volume becomes Available", s: Volume{Volume: pv("v", "1Gi", phase(corev1.VolumePending))}, action: VolumeSetPhase, phase: corev1.VolumeAvailable},
		{name: "available stays", s: Volume{Volume: pv("v", "1Gi")}},
		{name: "pre-bound waits for its claim", s: Volume{Volume: pv("v", "1Gi", claimedBy(c, false)), Claim: c}, syncClaim: true},
		{name: "bound claim: phase Bound", s: Volume{Volume: pv("v", "1Gi", claimedBy(c, true)), Claim: bound}, action: VolumeSetPhase, phase: corev1.VolumeBound},
		{name: "claim being bound", s: Volume{Volume: pv("v", "1Gi", claimedBy(c, true)), Claim: c}, syncClaim: true},
		{name: "claim gone: Released", s: Volume{Volume: pv("v", "1Gi", claimedBy(c, true), phase(corev1.VolumeBound))}, action: VolumeSetPhase, phase: corev1.VolumeReleased},
		{name: "claim recreated: Released", s: Volume{Volume: pv("v", "1Gi", claimedBy(c, true), phase(corev1.VolumeBound)), Claim: recreated},
			action: VolumeSetPhase, phase: corev1.VolumeReleased},
		{name: "released, Retain", s: Volume{Volume: pv("v", "1Gi", claimedBy(c, true), phase(corev1.VolumeReleased))}},
		{name: "released, Delete", s: Volume{Volume: pv("v", "1Gi", claimedBy(c, true), phase(corev1.VolumeReleased),
			reclaimPolicy(corev1.PersistentVolumeReclaimDelete))}, action: VolumeDelete},
		{name: "released, Delete, provisioned", s: Volume{Volume: pv("v", "1Gi", claimedBy(c, true), phase(corev1.VolumeReleased),
			reclaimPolicy(corev1.PersistentVolumeReclaimDelete), annotated(AnnProvisionedBy, "rancher.io/local-path"))}},
		{name: "released, Recycle", s: Volume{Volume: pv("v", "1Gi", claimedBy(c, true), phase(corev1.VolumeReleased),
			reclaimPolicy(corev1.PersistentVolumeReclaimRecycle))}, reason: ReasonVolumeFailedRecycle},
		{name: "claim bound elsewhere: unbind ours", s: Volume{Volume: pv("v2", "1Gi", claimedBy(c, true), annotated(AnnBoundByController, "yes")), Claim: bound},
			action: VolumeUnbind},
		{name: "claim bound elsewhere: keep the user's", s: Volume{Volume: pv("v2", "1Gi", claimedBy(c, true)), Claim: bound}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := PlanVolume(tc.s)
			if p.Action != tc.action || p.Phase != tc.phase || p.SyncClaim != tc.syncClaim {
				t.Fatalf("plan %+v, want action %d phase %q syncClaim %v", p, tc.action, tc.phase, tc.syncClaim)
			}
			if (tc.reason == "") != (p.Event == nil) || p.Event != nil && p.Event.Reason != tc.reason {
				t.Fatalf("event %+v, want %q", p.Event, tc.reason)
			}
		})
	}
}
