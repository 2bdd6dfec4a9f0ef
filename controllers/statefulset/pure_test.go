package statefulset

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestOrdinal(t *testing.T) {
	for _, tc := range []struct {
		pod  string
		want int
		ok   bool
	}{
		{"web-0", 0, true},
		{"web-12", 12, true},
		{"web-", 0, false},
		{"web-01", 0, false},
		{"web-+1", 0, false},
		{"web--1", 0, false},
		{"web-1a", 0, false},
		{"webx-1", 0, false},
		{"web-web-1", 0, false},
		{"web", 0, false},
	} {
		got, ok := Ordinal("web", tc.pod)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Ordinal(web, %q) = %d, %v; want %d, %v", tc.pod, got, ok, tc.want, tc.ok)
		}
	}
	// A set whose name ends like another's ordinal suffix.
	if n, ok := Ordinal("web-web", "web-web-1"); !ok || n != 1 {
		t.Errorf("Ordinal(web-web, web-web-1) = %d, %v", n, ok)
	}
}

func TestNewPodAndClaim(t *testing.T) {
	set := scriptSet()
	set.Spec.Template = corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "img"}},
			Volumes: []corev1.Volume{
				{Name: "www", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
	set.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{
		ObjectMeta: metav1.ObjectMeta{Name: "www", Labels: map[string]string{"tier": "disk"}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}}
	pod := NewPod(set, &set.Spec.Template, "web-abc", 4)
	if pod.Name != "web-4" || pod.Spec.Hostname != "web-4" || pod.Spec.Subdomain != "web" {
		t.Errorf("identity: name %s hostname %s subdomain %s", pod.Name, pod.Spec.Hostname, pod.Spec.Subdomain)
	}
	want := map[string]string{"app": "web", LabelRevision: "web-abc", LabelPodName: "web-4", LabelPodIndex: "4"}
	if !apiequality.Semantic.DeepEqual(pod.Labels, want) {
		t.Errorf("labels %v, want %v", pod.Labels, want)
	}
	if ref := metav1.GetControllerOf(pod); ref == nil || ref.Kind != "StatefulSet" || ref.UID != set.UID {
		t.Errorf("controller ref %+v", ref)
	}
	if len(pod.Spec.Volumes) != 2 || pod.Spec.Volumes[0].PersistentVolumeClaim == nil ||
		pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "www-web-4" || pod.Spec.Volumes[1].Name != "scratch" {
		t.Errorf("volumes %+v", pod.Spec.Volumes)
	}
	if set.Spec.Template.Spec.Volumes[0].EmptyDir == nil {
		t.Error("NewPod changed the template")
	}

	claim := NewClaim(set, &set.Spec.VolumeClaimTemplates[0], 4)
	if claim.Name != "www-web-4" || claim.Namespace != "ns" || claim.Labels["app"] != "web" || claim.Labels["tier"] != "disk" {
		t.Errorf("claim %s/%s labels %v", claim.Namespace, claim.Name, claim.Labels)
	}
	if len(claim.OwnerReferences) != 0 {
		t.Errorf("a Retain claim has owners: %v", claim.OwnerReferences)
	}
	set.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	claim = NewClaim(set, &set.Spec.VolumeClaimTemplates[0], 4)
	if len(claim.OwnerReferences) != 1 || claim.OwnerReferences[0].UID != set.UID {
		t.Errorf("whenDeleted Delete: owners %v", claim.OwnerReferences)
	}
}

func TestClaimRefs(t *testing.T) {
	set := scriptSet()
	p := set.Spec.PersistentVolumeClaimRetentionPolicy
	other := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "keep", UID: "cm"}
	stale := metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: "web-7", UID: "old"}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-2", UID: "p2"}}
	names := func(refs []metav1.OwnerReference) string {
		s := ""
		for _, r := range refs {
			s += r.Kind + "/" + r.Name + " "
		}
		return s
	}
	for _, tc := range []struct {
		deleted, scaled appsv1.PersistentVolumeClaimRetentionPolicyType
		condemned       bool
		want            string
	}{
		{"Retain", "Retain", false, "ConfigMap/keep "},
		{"Retain", "Retain", true, "ConfigMap/keep "},
		{"Delete", "Retain", false, "ConfigMap/keep StatefulSet/web "},
		{"Retain", "Delete", false, "ConfigMap/keep "},
		{"Retain", "Delete", true, "ConfigMap/keep Pod/web-2 "},
		{"Delete", "Delete", true, "ConfigMap/keep StatefulSet/web Pod/web-2 "},
	} {
		p.WhenDeleted, p.WhenScaled = tc.deleted, tc.scaled
		got := names(claimRefs(set, []metav1.OwnerReference{other, stale}, pod, tc.condemned))
		if got != tc.want {
			t.Errorf("whenDeleted %s whenScaled %s condemned %v: %s, want %s", tc.deleted, tc.scaled, tc.condemned, got, tc.want)
		}
	}
}
