package statefulset

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// claimed splits the pods of owner's namespace: owned (controlled by
// owner, kept), adopt (no controller, matching sel: owner takes them) and
// release (controlled by owner but no longer matching sel: owner lets
// them go). A pod another controller controls is left alone; so is a
// terminating orphan; an owner being deleted adopts nothing.
func claimed(owner metav1.Object, sel labels.Selector, pods []*corev1.Pod) (owned, adopt, release []*corev1.Pod) {
	for _, pod := range pods {
		matches := sel.Matches(labels.Set(pod.Labels))
		ref := metav1.GetControllerOf(pod)
		switch {
		case ref != nil && ref.UID != owner.GetUID():
		case ref != nil && (matches || terminating(pod)):
			owned = append(owned, pod)
		case ref != nil:
			release = append(release, pod)
		case matches && !terminating(pod) && owner.GetDeletionTimestamp() == nil:
			adopt = append(adopt, pod)
		}
	}
	return owned, adopt, release
}

// adoptPatch is a strategic merge patch making ref the pod's controller;
// the pod's UID guards against a same-named successor.
func adoptPatch(ref metav1.OwnerReference, podUID string) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []metav1.OwnerReference{ref},
		"uid":             podUID,
	}})
	return b
}

// releasePatch removes the owner reference to ownerUID.
func releasePatch(ownerUID, podUID string) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []map[string]any{{"$patch": "delete", "uid": ownerUID}},
		"uid":             podUID,
	}})
	return b
}
