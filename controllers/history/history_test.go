package history

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const hashLabel = appsv1.ControllerRevisionHashLabelKey

func testDS() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns", UID: "ds-uid"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "agent:1"}}},
			},
		},
	}
}

func owner(ds *appsv1.DaemonSet) Owner {
	return Owner{Object: ds, Kind: appsv1.SchemeGroupVersion.WithKind("DaemonSet"), Template: &ds.Spec.Template, HashLabel: hashLabel}
}

// Moved from the DaemonSet controller.
func TestRevisionRoundTrip(t *testing.T) {
	ds := testDS()
	h := HashTemplate(&ds.Spec.Template, nil)
	if h2 := HashTemplate(ds.DeepCopy().Spec.Template.DeepCopy(), nil); h2 != h {
		t.Fatalf("hash not stable: %s vs %s", h, h2)
	}
	one := int32(1)
	if HashTemplate(&ds.Spec.Template, &one) == h {
		t.Fatal("the collision count does not change the hash")
	}
	changed := ds.DeepCopy()
	changed.Spec.Template.Spec.Containers[0].Image = "agent:2"
	if HashTemplate(&changed.Spec.Template, nil) == h {
		t.Fatal("a changed template hashes the same")
	}
	cr, err := New(owner(ds), h, 3)
	if err != nil {
		t.Fatal(err)
	}
	if cr.Name != "agent-"+h || cr.Revision != 3 || cr.Labels[hashLabel] != h || cr.Labels["app"] != "agent" {
		t.Fatalf("revision %s #%d labels %v", cr.Name, cr.Revision, cr.Labels)
	}
	if ref := metav1.GetControllerOf(cr); ref == nil || ref.UID != "ds-uid" || ref.Kind != "DaemonSet" {
		t.Fatalf("controller reference %+v", ref)
	}
	got, err := Template(cr)
	if err != nil {
		t.Fatal(err)
	}
	if !apiequality.Semantic.DeepEqual(got, &ds.Spec.Template) {
		t.Fatalf("template did not round-trip: %+v", got)
	}
	cr.UID = "r3"
	old, _ := New(owner(changed), HashTemplate(&changed.Spec.Template, nil), 5)
	old.UID = "r5"
	match, highest := Match([]*appsv1.ControllerRevision{old, cr}, &ds.Spec.Template)
	if match != cr || highest != 5 {
		t.Fatalf("Match = %v, %d", match, highest)
	}
	if _, err := Template(&appsv1.ControllerRevision{}); err == nil {
		t.Fatal("an empty revision decoded")
	}
	if HashOf(cr, hashLabel) != h || HashOf(&appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "n"}}, hashLabel) != "n" {
		t.Fatal("HashOf: the label, else the name")
	}
}

func TestName(t *testing.T) {
	long := string(make([]byte, 300))
	if n := Name(long, "abc"); len(n) != 253 || n[len(n)-4:] != "-abc" {
		t.Fatalf("Name cut to %d: ...%q", len(n), n[len(n)-4:])
	}
	if Name("web", "abc") != "web-abc" {
		t.Fatal("short names are kept")
	}
}

func names(rs []*appsv1.ControllerRevision) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

// Moved from the DaemonSet controller: pods carry the revision's hash;
// only the current revision is kept by name.
func TestPrunableByHash(t *testing.T) {
	rev := func(name string, n int64) *appsv1.ControllerRevision {
		return &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{hashLabel: name}}, Revision: n}
	}
	revs := []*appsv1.ControllerRevision{rev("e", 5), rev("a", 1), rev("c", 3), rev("b", 2), rev("d", 4)}
	keep := func(live map[string]bool) func(*appsv1.ControllerRevision) bool {
		return func(cr *appsv1.ControllerRevision) bool { return cr.Name == "e" || live[HashOf(cr, hashLabel)] }
	}
	// e is current, b is live: of a, c, d keep the newest one.
	got := names(Prunable(revs, keep(map[string]bool{"b": true}), 1))
	if len(got) != 2 || got[0] != "a" || got[1] != "c" {
		t.Fatalf("prunable = %v, want [a c]", got)
	}
	if got := Prunable(revs, keep(nil), 10); got != nil {
		t.Fatalf("under the limit: %v", names(got))
	}
}

// Moved from the StatefulSet controller: pods carry the revision's name;
// current and update revisions are both kept.
func TestPrunableByName(t *testing.T) {
	rev := func(name string, n int64) *appsv1.ControllerRevision {
		return &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: name}, Revision: n}
	}
	revs := []*appsv1.ControllerRevision{rev("web-e", 5), rev("web-a", 1), rev("web-c", 3), rev("web-b", 2), rev("web-d", 4)}
	keep := func(live map[string]bool) func(*appsv1.ControllerRevision) bool {
		return func(cr *appsv1.ControllerRevision) bool {
			return cr.Name == "web-a" || cr.Name == "web-e" || live[cr.Name]
		}
	}
	// e is the update and a the current revision, c is live: of b and d,
	// keep none.
	got := Prunable(revs, keep(map[string]bool{"web-c": true}), 0)
	if len(got) != 2 || got[0].Name != "web-b" || got[1].Name != "web-d" {
		t.Fatalf("prunable = %v", got)
	}
	if got := Prunable(revs, keep(nil), 3); got != nil {
		t.Fatalf("under the limit: %v", got)
	}
	if got := Prunable(revs, keep(nil), -1); len(got) != 3 {
		t.Fatalf("a negative limit keeps none: %v", names(got))
	}
}
