package statefulset

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// t0 is time 0 of the scripts; times are seconds after it.
var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func at(t *testing.T, s string) time.Time {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("bad time %q", s)
	}
	return t0.Add(time.Duration(n) * time.Second)
}

// TestDecide runs the scripts in testdata/decide. A script:
//
//	decide [replicas=n] [policy=Parallel] [strategy=OnDelete] [partition=n] [max-unavailable=n|p%]
//	       [start=n] [min-ready=s] [now=s] [current=rev] [update=rev] [claims=t1,t2]
//	       [when-scaled=Delete] [when-deleted=Delete] [deleting]
//	pod <ordinal> [rev=r] [pending|failed|running] [ready=s] [terminating]
//	claim <name> [terminating] [owners=set|<pod>,...]
//	----
//	create-claim <claim> (for <pod>)
//	create-pod <pod> rev=<r>
//	delete-pod <pod>: <reason>
//	set-claim-refs <claim>: <owners>
//	waiting: <what>
//	status ...
//	requeue <duration>
//
// Pods default to the update revision, Running and Ready since 0.
func TestDecide(t *testing.T) {
	datadriven.Walk(t, "testdata/decide", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "decide" {
				t.Fatalf("unknown command %q", d.Cmd)
			}
			return formatPlan(Decide(scriptInput(t, d)))
		})
	})
}

func scriptSet() *appsv1.StatefulSet {
	three := int32(3)
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "set-uid", Generation: 2},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &three,
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			ServiceName:         "web",
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				Type:          appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: new(int32)},
			},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
		},
	}
}

func scriptInput(t *testing.T, d *datadriven.TestData) Input {
	set := scriptSet()
	in := Input{Set: set, CurrentRevision: "web-a", UpdateRevision: "web-a", Now: t0, Claims: map[string]*corev1.PersistentVolumeClaim{}}
	ru := set.Spec.UpdateStrategy.RollingUpdate
	for _, a := range d.CmdArgs {
		v := ""
		if len(a.Vals) > 0 {
			v = a.Vals[0]
		}
		n, _ := strconv.Atoi(v)
		switch a.Key {
		case "replicas":
			r := int32(n)
			set.Spec.Replicas = &r
		case "policy":
			set.Spec.PodManagementPolicy = appsv1.PodManagementPolicyType(v)
		case "strategy":
			set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.StatefulSetUpdateStrategyType(v)}
		case "partition":
			p := int32(n)
			ru.Partition = &p
		case "max-unavailable":
			x := intstr.Parse(v)
			ru.MaxUnavailable = &x
		case "start":
			set.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: int32(n)}
		case "min-ready":
			set.Spec.MinReadySeconds = int32(n)
		case "now":
			in.Now = at(t, v)
		case "current":
			in.CurrentRevision = "web-" + v
		case "update":
			in.UpdateRevision = "web-" + v
		case "claims":
			for _, name := range a.Vals {
				set.Spec.VolumeClaimTemplates = append(set.Spec.VolumeClaimTemplates, corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}})
			}
		case "when-scaled":
			set.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = appsv1.PersistentVolumeClaimRetentionPolicyType(v)
		case "when-deleted":
			set.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.PersistentVolumeClaimRetentionPolicyType(v)
		case "deleting":
			ts := metav1.NewTime(t0)
			set.DeletionTimestamp = &ts
		default:
			t.Fatalf("unknown argument %q", a.Key)
		}
	}
	podUIDs := map[string]types.UID{}
	for _, line := range strings.Split(d.Input, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		args := map[string]string{}
		for _, tok := range f[1:] {
			k, v, _ := strings.Cut(tok, "=")
			args[k] = v
		}
		switch f[0] {
		case "pod":
			ord, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("bad ordinal in %q", line)
			}
			rev := in.UpdateRevision
			if r, ok := args["rev"]; ok {
				rev = "web-" + r
			}
			pod := NewPod(set, &set.Spec.Template, rev, ord)
			pod.UID = types.UID(pod.Name + "-uid")
			podUIDs[pod.Name] = pod.UID
			pod.Status.Phase = corev1.PodRunning
			ready := "0"
			if r, ok := args["ready"]; ok {
				ready = r
			}
			if _, ok := args["pending"]; ok {
				pod.Status.Phase, ready = corev1.PodPending, ""
			}
			if _, ok := args["failed"]; ok {
				pod.Status.Phase, ready = corev1.PodFailed, ""
			}
			if _, ok := args["unready"]; ok {
				ready = ""
			}
			if ready != "" {
				pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at(t, ready))}}
			}
			if _, ok := args["terminating"]; ok {
				ts := metav1.NewTime(t0)
				pod.DeletionTimestamp = &ts
			}
			in.Pods = append(in.Pods, pod)
		case "claim":
			cl := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: f[1], Namespace: "ns"}}
			for _, o := range strings.Split(args["owners"], ",") {
				switch {
				case o == "":
				case o == "set":
					cl.OwnerReferences = append(cl.OwnerReferences, metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "set-uid"})
				default:
					cl.OwnerReferences = append(cl.OwnerReferences, metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: o, UID: types.UID(o + "-uid")})
				}
			}
			if _, ok := args["terminating"]; ok {
				ts := metav1.NewTime(t0)
				cl.DeletionTimestamp = &ts
			}
			in.Claims[cl.Name] = cl
		default:
			t.Fatalf("unknown line %q", line)
		}
	}
	return in
}

func formatPlan(p Plan) string {
	var b strings.Builder
	for _, a := range p.Actions {
		switch a.Kind {
		case CreateClaim:
			fmt.Fprintf(&b, "create-claim %s (for web-%d)\n", a.Claim, a.Ordinal)
		case CreatePod:
			fmt.Fprintf(&b, "create-pod web-%d rev=%s\n", a.Ordinal, a.Revision)
		case DeletePod:
			fmt.Fprintf(&b, "delete-pod %s: %s\n", a.Pod.Name, a.Reason)
		case SetClaimRefs:
			var owners []string
			for _, r := range a.Refs {
				owners = append(owners, r.Kind+"/"+r.Name)
			}
			fmt.Fprintf(&b, "set-claim-refs %s: [%s]\n", a.Claim, strings.Join(owners, " "))
		}
	}
	if p.Waiting != "" {
		fmt.Fprintf(&b, "waiting: %s\n", p.Waiting)
	}
	s := p.Status
	fmt.Fprintf(&b, "status replicas=%d ready=%d available=%d current=%d updated=%d currentRevision=%s updateRevision=%s\n",
		s.Replicas, s.ReadyReplicas, s.AvailableReplicas, s.CurrentReplicas, s.UpdatedReplicas, s.CurrentRevision, s.UpdateRevision)
	if p.RequeueAfter > 0 {
		fmt.Fprintf(&b, "requeue %s\n", p.RequeueAfter)
	}
	return b.String()
}
