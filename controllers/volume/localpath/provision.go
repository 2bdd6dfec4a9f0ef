package localpath

import (
	"fmt"
	"path"
	"slices"

	"github.com/kelson-dev/kelson/controllers/volume"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Config configures the provisioner. Zero values mean the defaults.
type Config struct {
	// BaseDir is the directory on every node under which volumes'
	// directories are made; default /var/lib/kelson/storage.
	BaseDir string
	// ClassName is the StorageClass the provisioner ensures at start;
	// default "local-path" (k3s's).
	ClassName string
	// Provisioner is the name the class and the volumes carry; default
	// "rancher.io/local-path", k3s's, so that manifests and tools written
	// for k3s see the same values.
	Provisioner string
	// NoDefaultClass: do not create the StorageClass at start (it is
	// created, as the default class, when missing).
	NoDefaultClass bool
}

// Defaults.
const (
	DefaultBaseDir     = "/var/lib/kelson/storage"
	DefaultClassName   = "local-path"
	DefaultProvisioner = "rancher.io/local-path"
)

// EnsureDefaults fills zero fields with their defaults.
func (c *Config) EnsureDefaults() {
	if c.BaseDir == "" {
		c.BaseDir = DefaultBaseDir
	}
	if c.ClassName == "" {
		c.ClassName = DefaultClassName
	}
	if c.Provisioner == "" {
		c.Provisioner = DefaultProvisioner
	}
}

// Class is the StorageClass the provisioner serves: the cluster default,
// node-local volumes bound when their first pod is scheduled, deleted with
// their claim.
func (c *Config) Class() *storagev1.StorageClass {
	reclaim := corev1.PersistentVolumeReclaimDelete
	mode := storagev1.VolumeBindingWaitForFirstConsumer
	return &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: c.ClassName, Annotations: map[string]string{volume.AnnDefaultClass: "true"}},
		Provisioner:       c.Provisioner,
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &mode,
	}
}

// VolumeName is the name of the volume provisioned for a claim.
func VolumeName(claim *corev1.PersistentVolumeClaim) string { return "pvc-" + string(claim.UID) }

// Dir is the directory of a claim's volume on its node:
// <base>/<namespace>_<claim>_<volume>.
func Dir(base string, claim *corev1.PersistentVolumeClaim) string {
	return path.Join(base, claim.Namespace+"_"+claim.Name+"_"+VolumeName(claim))
}

// Wanted says whether the provisioner should make a volume for claim now,
// and on which node; why is non-empty when it must refuse (a
// ProvisioningFailed Event). A claim is wanted once the binder asked this
// provisioner (volume.kubernetes.io/storage-provisioner) and a node was
// selected for it; class is the claim's StorageClass.
func Wanted(cfg *Config, claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass) (node string, want bool, why string) {
	if claim.Spec.VolumeName != "" || claim.DeletionTimestamp != nil || class == nil || class.Provisioner != cfg.Provisioner ||
		claim.Annotations[volume.AnnStorageProvisioner] != cfg.Provisioner && claim.Annotations[volume.AnnBetaStorageProvisioner] != cfg.Provisioner {
		return "", false, ""
	}
	if m := claim.Spec.VolumeMode; m != nil && *m != corev1.PersistentVolumeFilesystem {
		return "", false, fmt.Sprintf("local-path volumes are directories: volumeMode %s is not supported", *m)
	}
	for _, m := range claim.Spec.AccessModes {
		if !slices.Contains([]corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadWriteOncePod}, m) {
			return "", false, fmt.Sprintf("local-path volumes are node-local: access mode %s is not supported (use ReadWriteOnce)", m)
		}
	}
	node = claim.Annotations[volume.AnnSelectedNode]
	if node == "" {
		if class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer {
			return "", false, "" // the binder selects the node of the first consumer
		}
		return "", false, fmt.Sprintf("local-path volumes are node-local: no node was selected for the claim; use a StorageClass with volumeBindingMode %s", storagev1.VolumeBindingWaitForFirstConsumer)
	}
	return node, true, ""
}

// Volume is the volume made for claim on node (whose kubernetes.io/hostname
// label is hostname): a hostPath directory the node agent creates when it
// first mounts it, pinned to the node, as big as the claim asked, pre-bound
// to the claim.
func Volume(cfg *Config, claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, hostname string) *corev1.PersistentVolume {
	reclaim := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	fs := corev1.PersistentVolumeFilesystem
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: VolumeName(claim), Annotations: map[string]string{volume.AnnProvisionedBy: cfg.Provisioner}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: claim.Spec.Resources.Requests[corev1.ResourceStorage].DeepCopy()},
			AccessModes:                   append([]corev1.PersistentVolumeAccessMode(nil), claim.Spec.AccessModes...),
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              class.Name,
			MountOptions:                  append([]string(nil), class.MountOptions...),
			VolumeMode:                    &fs,
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: Dir(cfg.BaseDir, claim), Type: &dirOrCreate},
			},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: volume.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{hostname}}},
			}}}},
			ClaimRef: &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: claim.Namespace,
				Name: claim.Name, UID: claim.UID, ResourceVersion: claim.ResourceVersion},
		},
	}
}

// Deletable: a volume this provisioner made whose claim is gone and whose
// policy is Delete.
func Deletable(cfg *Config, pv *corev1.PersistentVolume) bool {
	return pv.Annotations[volume.AnnProvisionedBy] == cfg.Provisioner && pv.DeletionTimestamp == nil &&
		pv.Status.Phase == corev1.VolumeReleased && pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete
}
