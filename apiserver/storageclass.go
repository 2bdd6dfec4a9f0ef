package apiserver

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// The DefaultStorageClass admission of kube-apiserver: a
// PersistentVolumeClaim created without spec.storageClassName (nil, not
// "", which asks for no class) and without the old beta annotation gets
// the cluster's default StorageClass, the one annotated
// storageclass.kubernetes.io/is-default-class=true (the newest, when
// several are). Without a default class the claim is left alone; the
// volume binder assigns one later if a default appears.

var (
	pvcGVR          = corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims")
	storageClassGVR = storagev1.SchemeGroupVersion.WithResource("storageclasses")
)

const (
	defaultClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	betaDefaultClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
	betaClaimClassAnnotation   = "volume.beta.kubernetes.io/storage-class"
)

// admitCreate runs the create admissions that depend on other objects.
func (s *Server) admitCreate(ctx context.Context, res *resource, obj runtime.Object) error {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok || res.kind.GVK.Group != "" || res.kind.Resource != pvcGVR.Resource || !needsClass(pvc) {
		return nil
	}
	scRes := s.lookup(storageClassGVR)
	if scRes == nil {
		return nil
	}
	items, _, _, _, err := s.listFromStore(ctx, scRes, "", &metav1.ListOptions{}, nil)
	if err != nil {
		return err
	}
	classes := make([]*storagev1.StorageClass, 0, len(items))
	for _, it := range items {
		classes = append(classes, it.(*storagev1.StorageClass))
	}
	if name := defaultStorageClass(classes); name != "" {
		pvc.Spec.StorageClassName = &name
	}
	return nil
}

func needsClass(pvc *corev1.PersistentVolumeClaim) bool {
	_, beta := pvc.Annotations[betaClaimClassAnnotation]
	return pvc.Spec.StorageClassName == nil && !beta
}

// defaultStorageClass names the default among classes: the newest of
// those annotated as default (by name on a tie), or "" if none is.
func defaultStorageClass(classes []*storagev1.StorageClass) string {
	var best *storagev1.StorageClass
	for _, sc := range classes {
		if sc.Annotations[defaultClassAnnotation] != "true" && sc.Annotations[betaDefaultClassAnnotation] != "true" {
			continue
		}
		if best == nil || newer(sc.CreationTimestamp.Time, sc.Name, best.CreationTimestamp.Time, best.Name) {
			best = sc
		}
	}
	if best == nil {
		return ""
	}
	return best.Name
}

func newer(t time.Time, name string, than time.Time, thanName string) bool {
	if !t.Equal(than) {
		return t.After(than)
	}
	return name < thanName
}
