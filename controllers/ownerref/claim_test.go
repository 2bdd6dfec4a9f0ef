package ownerref

import (
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/utils/ptr"
)

func mk(name, app string, ctrl string, deleting bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("u-" + name), Labels: map[string]string{"app": app}}}
	if ctrl != "" {
		p.OwnerReferences = []metav1.OwnerReference{{Name: ctrl, UID: types.UID("u-" + ctrl), Controller: ptr.To(true)},
			{Name: "plain", UID: "u-plain"}}
	}
	if deleting {
		p.DeletionTimestamp = ptr.To(metav1.Now())
	}
	return p
}

func TestClassify(t *testing.T) {
	owner := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "rs", UID: "u-rs"}}
	sel := labels.SelectorFromSet(labels.Set{"app": "a"})
	objs := []*corev1.Pod{
		mk("mine", "a", "rs", false),
		mk("mine-moved", "b", "rs", false),
		mk("orphan", "a", "", false),
		mk("orphan-deleting", "a", "", true),
		mk("orphan-other-labels", "b", "", false),
		mk("theirs", "a", "other", false),
	}
	c := Classify(owner, sel, objs)
	if len(c.Owned) != 1 || c.Owned[0].Name != "mine" || len(c.Adopt) != 1 || c.Adopt[0].Name != "orphan" ||
		len(c.Release) != 1 || c.Release[0].Name != "mine-moved" {
		t.Fatalf("%+v", c)
	}
	owner.DeletionTimestamp = ptr.To(metav1.Now())
	c = Classify(owner, sel, objs)
	if len(c.Owned) != 1 || len(c.Adopt) != 0 || len(c.Release) != 0 {
		t.Fatalf("an owner being deleted neither adopts nor releases: %+v", c)
	}
}

func TestPatches(t *testing.T) {
	owner := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "rs", UID: "u-rs"}}
	ref := ControllerRef(owner, schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"})
	if ref.APIVersion != "apps/v1" || !*ref.Controller || !*ref.BlockOwnerDeletion {
		t.Fatalf("ref %+v", ref)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "u-p", OwnerReferences: []metav1.OwnerReference{{Name: "plain", UID: "u-plain"}}}}
	apply := func(patch []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := json.Marshal(pod)
		out, err := strategicpatch.StrategicMergePatch(doc, patch, &corev1.Pod{})
		if err != nil {
			t.Fatal(err)
		}
		pod = &corev1.Pod{}
		if err := json.Unmarshal(out, pod); err != nil {
			t.Fatal(err)
		}
	}
	apply(AdoptPatch(ref, pod.UID))
	if len(pod.OwnerReferences) != 2 || !IsControlledBy(pod, "u-rs") {
		t.Fatalf("after adopt: %+v", pod.OwnerReferences)
	}
	apply(ReleasePatch("u-rs", pod.UID))
	if len(pod.OwnerReferences) != 1 || pod.OwnerReferences[0].UID != "u-plain" {
		t.Fatalf("after release: %+v", pod.OwnerReferences)
	}
}

// Moved from the DaemonSet controller, whose rules (shared with the
// StatefulSet controller) keep a terminating pod that no longer matches
// and release even while the owner is being deleted.
func TestClassifyWithKeepTerminating(t *testing.T) {
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns", UID: "ds-uid"}}
	sel := labels.SelectorFromSet(labels.Set{"app": "agent"})
	rules := Rules{KeepTerminating: true, ReleaseWhileOwnerDeleting: true}
	pod := func(name string, lbl string, owner types.UID, deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), Labels: map[string]string{"app": lbl}}}
		if owner != "" {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "x", UID: owner, Controller: ptr.To(true)}}
		}
		if deleting {
			ts := metav1.Now()
			p.DeletionTimestamp = &ts
		}
		return p
	}
	pods := []*corev1.Pod{
		pod("mine", "agent", "ds-uid", false),
		pod("mine-stray", "other", "ds-uid", false),
		pod("mine-stray-dying", "other", "ds-uid", true),
		pod("orphan", "agent", "", false),
		pod("orphan-dying", "agent", "", true),
		pod("orphan-other", "other", "", false),
		pod("theirs", "agent", "other-uid", false),
	}
	c := ClassifyWith(ds, sel, pods, rules)
	check := func(what string, got []*corev1.Pod, want ...string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d pods, want %v", what, len(got), want)
		}
		for i := range want {
			if got[i].Name != want[i] {
				t.Fatalf("%s[%d] = %s, want %s", what, i, got[i].Name, want[i])
			}
		}
	}
	check("owned", c.Owned, "mine", "mine-stray-dying")
	check("adopt", c.Adopt, "orphan")
	check("release", c.Release, "mine-stray")
	ts := metav1.Now()
	ds.DeletionTimestamp = &ts
	c = ClassifyWith(ds, sel, pods, rules)
	check("adopt while deleting", c.Adopt)
	check("release while deleting", c.Release, "mine-stray")
	// Classify's rules differ on exactly these two pods.
	ds.DeletionTimestamp = nil
	c = Classify(ds, sel, pods)
	check("owned by Classify", c.Owned, "mine")
	check("released by Classify", c.Release, "mine-stray", "mine-stray-dying")
}
