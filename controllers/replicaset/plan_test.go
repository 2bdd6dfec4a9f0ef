package replicaset

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func testRS(replicas int32) *appsv1.ReplicaSet {
	lbl := map[string]string{"app": "a"}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: "ns", UID: "rs-uid", Generation: 4},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a", "tier": "web"}}},
		},
	}
}

// pod builds a pod from a compact spec: "name owner=rs|none|other
// labels=a|b phase=Pending|Running|Succeeded node=n1 ready=<seconds ago>
// restarts=N age=<seconds> deleting".
func pod(spec string) *corev1.Pod {
	f := strings.Fields(spec)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: f[0], Namespace: "ns", UID: types.UID(f[0] + "-uid"),
		Labels: map[string]string{"app": "a", "tier": "web"}, CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))}}
	owner := "rs"
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "owner":
			owner = v
		case "labels":
			p.Labels = map[string]string{"app": v}
		case "phase":
			p.Status.Phase = corev1.PodPhase(v)
		case "node":
			p.Spec.NodeName = v
		case "ready":
			var s int
			fmt.Sscan(v, &s)
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
				LastTransitionTime: metav1.NewTime(t0.Add(-time.Duration(s) * time.Second))}}
			if p.Status.Phase == "" {
				p.Status.Phase = corev1.PodRunning
			}
		case "restarts":
			var n int32
			fmt.Sscan(v, &n)
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: n}}
		case "age":
			var s int
			fmt.Sscan(v, &s)
			p.CreationTimestamp = metav1.NewTime(t0.Add(-time.Duration(s) * time.Second))
		case "deleting":
			p.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
		}
	}
	switch owner {
	case "rs":
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "rs", UID: "rs-uid", Controller: ptr.To(true)}}
	case "other":
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "x", UID: "x-uid", Controller: ptr.To(true)}}
	}
	return p
}

func names(ps []*corev1.Pod) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Name)
	}
	return strings.Join(s, ",")
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas int32
		burst    int
		pods     []string
		// want: adopt/release/active/create/delete
		adopt, release, active string
		create                 int
		del                    string
	}{
		{name: "empty", replicas: 3, create: 3},
		{name: "burst caps creations", replicas: 10, burst: 4, create: 4},
		{name: "exact", replicas: 2, pods: []string{"a", "b"}, active: "a,b"},
		{name: "deleting and finished pods do not count", replicas: 2,
			pods:   []string{"a", "b deleting", "c phase=Succeeded", "d phase=Failed"},
			active: "a", create: 1},
		{name: "adopts matching orphans, not deleting ones", replicas: 2,
			pods:  []string{"a owner=none", "b owner=none deleting", "c owner=none labels=zz", "d owner=other"},
			adopt: "a", active: "a", create: 1},
		{name: "releases owned pods that stopped matching", replicas: 1,
			pods:    []string{"a labels=zz", "b"},
			release: "a", active: "b"},
		{name: "scale down prefers unscheduled, then pending, then not ready", replicas: 1,
			pods:   []string{"run node=n ready=100", "pend node=n phase=Pending", "unsched ready=100", "unk node=n phase=Unknown"},
			active: "run,pend,unsched,unk", del: "unsched,pend,unk"},
		{name: "scale down: ready for less time, then restarts, then newer", replicas: 1,
			pods:   []string{"old node=n ready=100 age=500", "fresh node=n ready=5 age=400", "crashy node=n ready=100 restarts=3 age=300", "young node=n ready=100 age=10"},
			active: "old,fresh,crashy,young", del: "fresh,crashy,young"},
		{name: "scale down prefers crowded nodes", replicas: 2,
			pods:   []string{"a node=n1 ready=100", "b node=n1 ready=100", "c node=n2 ready=100"},
			active: "a,b,c", del: "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pods []*corev1.Pod
			for _, s := range tc.pods {
				pods = append(pods, pod(s))
			}
			p, err := Decide(Input{RS: testRS(tc.replicas), Pods: pods, BurstReplicas: tc.burst})
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("adopt=%s release=%s active=%s create=%d delete=%s", names(p.Adopt), names(p.Release), names(p.Active), p.Create, names(p.Delete))
			want := fmt.Sprintf("adopt=%s release=%s active=%s create=%d delete=%s", tc.adopt, tc.release, tc.active, tc.create, tc.del)
			if got != want {
				t.Fatalf("\ngot  %s\nwant %s", got, want)
			}
		})
	}
}

func TestDecideBadSelector(t *testing.T) {
	rs := testRS(1)
	rs.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Bogus"}}}
	if _, err := Decide(Input{RS: rs}); err == nil {
		t.Fatal("a bad selector must be an error, not a plan")
	}
	rs.Spec.Selector = &metav1.LabelSelector{}
	if _, err := Decide(Input{RS: rs, Pods: []*corev1.Pod{pod("a owner=none")}}); err == nil {
		t.Fatal("an empty selector must not adopt the namespace")
	}
	rs.Spec.Selector = nil
	if _, err := Decide(Input{RS: rs}); err == nil {
		t.Fatal("no selector")
	}
	rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}
	if _, err := Decide(Input{RS: rs}); err == nil {
		t.Fatal("a selector that does not match the template would create pods forever")
	}
}

func TestComputeStatus(t *testing.T) {
	rs := testRS(4)
	rs.Spec.MinReadySeconds = 10
	active := []*corev1.Pod{pod("a ready=60"), pod("b ready=3"), pod("c"), pod("d labels=a ready=60")}
	st, requeue := ComputeStatus(StatusInput{RS: rs, Active: active, Pending: 2, Now: t0})
	if st.Replicas != 6 || st.FullyLabeledReplicas != 3 || st.ReadyReplicas != 3 || st.AvailableReplicas != 2 || st.ObservedGeneration != 4 {
		t.Fatalf("status %+v", st)
	}
	if requeue != 7*time.Second {
		t.Fatalf("requeue %v, want 7s (b becomes available then)", requeue)
	}
	// a failed create sets ReplicaFailure once; a clean sync removes it
	st, _ = ComputeStatus(StatusInput{RS: rs, Active: active, ManageErr: errors.New("quota"), Creating: true, Now: t0})
	if len(st.Conditions) != 1 || st.Conditions[0].Reason != ReasonFailedCreate || st.Conditions[0].Message != "quota" {
		t.Fatalf("conditions %+v", st.Conditions)
	}
	rs.Status = st
	st2, _ := ComputeStatus(StatusInput{RS: rs, Active: active, ManageErr: errors.New("other"), Creating: true, Now: t0.Add(time.Minute)})
	if st2.Conditions[0].Message != "quota" {
		t.Fatalf("an existing ReplicaFailure is kept as it was: %+v", st2.Conditions)
	}
	st3, _ := ComputeStatus(StatusInput{RS: rs, Active: active, Now: t0})
	if st3.Conditions != nil {
		t.Fatalf("conditions after a clean sync: %+v", st3.Conditions)
	}
}

func TestSlowStart(t *testing.T) {
	var calls atomic.Int32
	n, err := slowStart(10, func() error { calls.Add(1); return nil })
	if n != 10 || err != nil || calls.Load() != 10 {
		t.Fatalf("all succeed: %d %v %d", n, err, calls.Load())
	}
	// the 4th call fails: batches 1, 2 succeed, the batch of 4 fails, no more
	calls.Store(0)
	n, err = slowStart(100, func() error {
		if calls.Add(1) == 4 {
			return errors.New("refused")
		}
		return nil
	})
	if n != 6 || err == nil || calls.Load() != 7 {
		t.Fatalf("stops after the failing batch: %d ok, err %v, %d calls", n, err, calls.Load())
	}
}

func TestPodFromTemplate(t *testing.T) {
	rs := testRS(1)
	rs.Spec.Template.Annotations = map[string]string{"x": "y"}
	p := PodFromTemplate(rs)
	ref := metav1.GetControllerOf(p)
	if p.GenerateName != "rs-" || p.Labels["tier"] != "web" || p.Annotations["x"] != "y" || ref == nil || ref.UID != "rs-uid" || !*ref.BlockOwnerDeletion {
		t.Fatalf("pod %+v", p.ObjectMeta)
	}
	p.Labels["tier"] = "changed"
	if rs.Spec.Template.Labels["tier"] != "web" {
		t.Fatal("the pod shares the template's maps")
	}
}
