package localpath

import (
	"strings"
	"testing"

	"github.com/kelson-dev/kelson/controllers/volume"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestWanted(t *testing.T) {
	cfg := Config{}
	cfg.EnsureDefaults()
	wffc := cfg.Class()
	immediate := cfg.Class()
	immediate.VolumeBindingMode = ptr.To(storagev1.VolumeBindingImmediate)
	other := cfg.Class()
	other.Provisioner = "example.com/other"
	asked := map[string]string{volume.AnnStorageProvisioner: DefaultProvisioner}
	onNode := map[string]string{volume.AnnStorageProvisioner: DefaultProvisioner, volume.AnnSelectedNode: "n1"}
	mk := func(ann map[string]string, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
		if len(modes) == 0 {
			modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
		}
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns", Annotations: ann},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: modes}}
	}
	block := mk(onNode)
	block.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock)
	bound := mk(onNode)
	bound.Spec.VolumeName = "v"
	for _, tc := range []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		class *storagev1.StorageClass
		node  string
		why   string
	}{
		{"node selected", mk(onNode), wffc, "n1", ""},
		{"binder has not asked", mk(map[string]string{volume.AnnSelectedNode: "n1"}), wffc, "", ""},
		{"another provisioner's class", mk(onNode), other, "", ""},
		{"waiting for the first consumer", mk(asked), wffc, "", ""},
		{"immediate binding has no node", mk(asked), immediate, "", "no node was selected"},
		{"block mode", block, wffc, "", "volumeMode Block"},
		{"many nodes", mk(onNode, corev1.ReadWriteMany), wffc, "", "access mode ReadWriteMany"},
		{"already bound", bound, wffc, "", ""},
	} {
		node, want, why := Wanted(&cfg, tc.claim, tc.class)
		if node != tc.node || want != (tc.node != "") || (tc.why == "") != (why == "") || !strings.Contains(why, tc.why) {
			t.Errorf("%s: Wanted = %q %v %q, want node %q why %q", tc.name, node, want, why, tc.node, tc.why)
		}
	}
}

func TestVolume(t *testing.T) {
	cfg := Config{BaseDir: "/srv/vols"}
	cfg.EnsureDefaults()
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "web", UID: "1234", ResourceVersion: "7"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("3Gi")}}}}
	class := cfg.Class()
	class.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimRetain)
	pv := Volume(&cfg, claim, class, "host-1")
	if pv.Name != "pvc-1234" || pv.Spec.HostPath.Path != "/srv/vols/web_data_pvc-1234" || *pv.Spec.HostPath.Type != corev1.HostPathDirectoryOrCreate {
		t.Fatalf("volume %s at %+v", pv.Name, pv.Spec.HostPath)
	}
	if r := pv.Spec.ClaimRef; r.UID != "1234" || r.Name != "data" || r.Namespace != "web" {
		t.Fatalf("claimRef %+v", r)
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || pv.Spec.StorageClassName != "local-path" {
		t.Fatalf("policy %s class %s", pv.Spec.PersistentVolumeReclaimPolicy, pv.Spec.StorageClassName)
	}
	if q := pv.Spec.Capacity[corev1.ResourceStorage]; q.Cmp(resource.MustParse("3Gi")) != 0 {
		t.Fatalf("capacity %v", q.String())
	}
	here := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{volume.LabelHostname: "host-1"}}}
	there := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2", Labels: map[string]string{volume.LabelHostname: "host-2"}}}
	if !volume.NodeAllows(pv, here) || volume.NodeAllows(pv, there) {
		t.Fatalf("node affinity %+v", pv.Spec.NodeAffinity)
	}
	if volume.Unfit(claim, pv) != "storageClassName does not match" {
		t.Fatal("a claim of no class fits a local-path volume")
	}
	claim.Spec.StorageClassName = ptr.To("local-path")
	if why := volume.Unfit(claim, pv); why != "" {
		t.Fatalf("the claim does not fit its own volume: %s", why)
	}
	pv.Status.Phase = corev1.VolumeReleased
	pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
	if !Deletable(&cfg, pv) {
		t.Fatal("released volume with Delete not deletable")
	}
	pv.Annotations[volume.AnnProvisionedBy] = "example.com/other"
	if Deletable(&cfg, pv) {
		t.Fatal("another provisioner's volume deletable")
	}
}
