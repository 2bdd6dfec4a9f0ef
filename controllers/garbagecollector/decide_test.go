package garbagecollector

import (
	"encoding/json"
	"slices"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func refs(uids ...string) []metav1.OwnerReference {
	var out []metav1.OwnerReference
	for _, u := range uids {
		block := true
		out = append(out, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "o-" + u, UID: types.UID(u), BlockOwnerDeletion: &block})
	}
	return out
}

func TestDecideDependent(t *testing.T) {
	const (
		S = ownerSolid
		D = ownerDangling
		W = ownerWaiting
		I = ownerInvalid
	)
	uids := func(us ...string) []types.UID {
		var out []types.UID
		for _, u := range us {
			out = append(out, types.UID(u))
		}
		return out
	}
	for _, tc := range []struct {
		name          string
		owners        []metav1.OwnerReference
		states        []ownerState
		finalizers    []string
		hasDependents bool
		depDeleting   bool
		want          plan
	}{
		{name: "no owners", want: plan{action: actNone}},
		{name: "solid owner", owners: refs("a"), states: []ownerState{S}, want: plan{action: actNone}},
		{name: "owner gone", owners: refs("a"), states: []ownerState{D},
			want: plan{action: actDelete, policy: metav1.DeletePropagationBackground}},
		{name: "all owners gone", owners: refs("a", "b"), states: []ownerState{D, D},
			want: plan{action: actDelete, policy: metav1.DeletePropagationBackground}},
		{name: "one of two owners gone", owners: refs("a", "b"), states: []ownerState{D, S},
			want: plan{action: actRemoveRefs, remove: uids("a")}},
		{name: "solid owner and a waiting one", owners: refs("a", "b", "c"), states: []ownerState{W, S, D},
			want: plan{action: actRemoveRefs, remove: uids("c", "a")}},
		{name: "waiting owner, no dependents", owners: refs("a"), states: []ownerState{W},
			want: plan{action: actDelete, policy: metav1.DeletePropagationBackground}},
		{name: "waiting owner, has dependents: foreground", owners: refs("a"), states: []ownerState{W}, hasDependents: true,
			want: plan{action: actDelete, policy: metav1.DeletePropagationForeground}},
		{name: "waiting and dangling, has dependents: foreground", owners: refs("a", "b"), states: []ownerState{D, W}, hasDependents: true,
			want: plan{action: actDelete, policy: metav1.DeletePropagationForeground}},
		{name: "cycle guard: unblock then foreground", owners: refs("a", "b"), states: []ownerState{W, D}, hasDependents: true, depDeleting: true,
			want: plan{action: actDelete, policy: metav1.DeletePropagationForeground, unblock: uids("a")}},
		{name: "gone, orphan finalizer honoured", owners: refs("a"), states: []ownerState{D}, finalizers: []string{"x", finalizerOrphan},
			want: plan{action: actDelete, policy: metav1.DeletePropagationOrphan}},
		{name: "gone, foreground finalizer honoured", owners: refs("a"), states: []ownerState{D}, finalizers: []string{finalizerForeground},
			want: plan{action: actDelete, policy: metav1.DeletePropagationForeground}},
		{name: "invalid reference: left alone", owners: refs("a", "b"), states: []ownerState{I, D},
			want: plan{action: actReportInvalid, invalid: uids("a")}},
		{name: "invalid reference beside a solid owner", owners: refs("a", "b"), states: []ownerState{S, I},
			want: plan{action: actReportInvalid, invalid: uids("b")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := Item{Object: Object{Owners: tc.owners, Finalizers: tc.finalizers},
				HasDependents: tc.hasDependents, DependentDeletingDependents: tc.depDeleting}
			got := decideDependent(it, tc.states)
			if got.why == "" {
				t.Errorf("no explanation")
			}
			got.why = ""
			if got.action != tc.want.action || got.policy != tc.want.policy ||
				!slices.Equal(got.remove, tc.want.remove) || !slices.Equal(got.unblock, tc.want.unblock) || !slices.Equal(got.invalid, tc.want.invalid) {
				t.Errorf("decideDependent = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// The patches apply to the object they were made from, and fail (a test
// op) on an object whose entries moved.
func TestPatches(t *testing.T) {
	obj := Object{Identity: Identity{UID: "me"}, Owners: refs("a", "b", "c"), Finalizers: []string{"x", finalizerForeground}}
	doc := func(o Object) []byte {
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"uid": o.UID, "ownerReferences": o.Owners, "finalizers": o.Finalizers}})
		return b
	}
	apply := func(t *testing.T, target Object, patch []byte) (map[string]any, error) {
		t.Helper()
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			t.Fatalf("not a JSON patch: %v", err)
		}
		out, err := p.Apply(doc(target))
		if err != nil {
			return nil, err
		}
		var m map[string]any
		_ = json.Unmarshal(out, &m)
		return m["metadata"].(map[string]any), nil
	}
	uidsOf := func(md map[string]any) []string {
		var out []string
		for _, r := range md["ownerReferences"].([]any) {
			out = append(out, r.(map[string]any)["uid"].(string))
		}
		return out
	}

	p, ok := removeRefsPatch(obj, []types.UID{"a", "c"})
	if !ok {
		t.Fatal("nothing to remove")
	}
	md, err := apply(t, obj, p)
	if err != nil || !slices.Equal(uidsOf(md), []string{"b"}) {
		t.Fatalf("remove a, c: %v %v", err, md)
	}
	moved := obj
	moved.Owners = refs("b", "a", "c")
	if _, err := apply(t, moved, p); err == nil {
		t.Fatal("the patch applied to an object whose references moved")
	}
	other := obj
	other.UID = "another"
	if _, err := apply(t, other, p); err == nil {
		t.Fatal("the patch applied to another object")
	}
	if _, ok := removeRefsPatch(obj, []types.UID{"z"}); ok {
		t.Fatal("a patch for a reference the object does not have")
	}

	p, ok = unblockRefsPatch(obj, []types.UID{"b"})
	if !ok {
		t.Fatal("nothing to unblock")
	}
	md, err = apply(t, obj, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range md["ownerReferences"].([]any) {
		r := r.(map[string]any)
		if want := r["uid"] != "b"; r["blockOwnerDeletion"] != want {
			t.Fatalf("unblock b: %v", md["ownerReferences"])
		}
	}

	p, ok = removeFinalizerPatch(obj, finalizerForeground)
	if !ok {
		t.Fatal("no finalizer to remove")
	}
	md, err = apply(t, obj, p)
	if err != nil || len(md["finalizers"].([]any)) != 1 || md["finalizers"].([]any)[0] != "x" {
		t.Fatalf("remove the finalizer: %v %v", err, md)
	}
	swapped := obj
	swapped.Finalizers = []string{finalizerForeground, "x"}
	if _, err := apply(t, swapped, p); err == nil {
		t.Fatal("the finalizer patch applied to moved finalizers")
	}
	if _, ok := removeFinalizerPatch(obj, finalizerOrphan); ok {
		t.Fatal("a patch for a finalizer the object does not have")
	}
}
