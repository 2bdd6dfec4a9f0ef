package ownerref

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// fakePods answers Patch from a table of errors and records the calls.
type fakePods struct {
	errs    map[string]error
	patched []string
}

func (f *fakePods) Patch(_ context.Context, name string, _ types.PatchType, _ []byte, _ metav1.PatchOptions, _ ...string) (*corev1.Pod, error) {
	f.patched = append(f.patched, name)
	if err := f.errs[name]; err != nil {
		return nil, err
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"patched": "yes"}}}, nil
}

func podNamed(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("u-" + name)}}
}

func TestApply(t *testing.T) {
	owner := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ds", UID: "u-ds"}}
	ref := ControllerRef(owner, schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DaemonSet"})
	gone := apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "gone")
	c := Claims[*corev1.Pod]{
		Owned:   []*corev1.Pod{podNamed("mine")},
		Adopt:   []*corev1.Pod{podNamed("orphan"), podNamed("gone")},
		Release: []*corev1.Pod{podNamed("stray"), podNamed("gone")},
	}
	api := &fakePods{errs: map[string]error{"gone": gone}}
	asked := 0
	owned, err := Apply(context.Background(), api, ref, c, func(context.Context) bool { asked++; return true }, "pod")
	if err != nil || asked != 1 || len(owned) != 2 || owned[0].Name != "mine" || owned[1].Labels["patched"] != "yes" {
		t.Fatalf("owned %v err %v asked %d", owned, err, asked)
	}
	if len(api.patched) != 4 {
		t.Fatalf("patched %v", api.patched)
	}

	api = &fakePods{}
	owned, err = Apply(context.Background(), api, ref, c, func(context.Context) bool { return false }, "pod")
	if err != nil || len(owned) != 1 || len(api.patched) != 2 || api.patched[0] != "stray" {
		t.Fatalf("an owner that may not adopt still releases: owned %v patched %v err %v", owned, api.patched, err)
	}

	asked = 0
	_, _ = Apply(context.Background(), &fakePods{}, ref, Claims[*corev1.Pod]{Owned: c.Owned}, func(context.Context) bool { asked++; return true }, "pod")
	if asked != 0 {
		t.Fatal("nothing to adopt: the owner is not re-read")
	}

	boom := errors.New("boom")
	api = &fakePods{errs: map[string]error{"orphan": boom}}
	if _, err := Apply(context.Background(), api, ref, c, func(context.Context) bool { return true }, "pod"); !errors.Is(err, boom) || err.Error() != "adopt pod orphan: boom" {
		t.Fatalf("err %v", err)
	}
	if len(api.patched) != 1 {
		t.Fatalf("a failure stops Apply: %v", api.patched)
	}
}
