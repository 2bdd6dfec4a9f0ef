package daemonset

import (
	"fmt"
	"sort"
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

func at(s string) time.Time {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(fmt.Sprintf("bad time %q", s))
	}
	return t0.Add(time.Duration(n) * time.Second)
}

// TestDecide runs the scripts in testdata/decide. A script:
//
//	decide [strategy=OnDelete] [max-unavailable=1|30%] [max-surge=...] [min-ready=s] [now=s] [hash=new] [deleting]
//	template [selector=k:v,...] [tolerate=key[=value]:Effect,...] [affinity=key:In:a|b,...] [node-name=n] [host-network]
//	node <name> [labels=k:v,...] [taints=key[=value]:Effect,...]
//	pod <name> node=<n> [hash=h] [ready=s] [phase=Failed] [terminating] [created=s] [bound]
//	backoff <node> until=s
//	----
//	create <nodes>
//	delete <pod> (<node>): <reason>
//	status desired=.. current=.. ready=.. available=.. updated=.. misscheduled=.. unavailable=..
//	requeue <duration>
func TestDecide(t *testing.T) {
	datadriven.Walk(t, "testdata/decide", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "decide" {
				t.Fatalf("unknown command %q", d.Cmd)
			}
			in := scriptInput(t, d)
			return formatPlan(Decide(in))
		})
	})
}

func scriptInput(t *testing.T, d *datadriven.TestData) Input {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ds", Namespace: "ns", UID: "ds-uid", Generation: 3},
		Spec: appsv1.DaemonSetSpec{
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type:          appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{},
			},
		},
	}
	in := Input{DS: ds, Hash: "new", Now: t0, Backoff: map[string]time.Time{}}
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	one := intstr.FromInt32(1)
	ru.MaxUnavailable = &one
	for _, a := range d.CmdArgs {
		v := ""
		if len(a.Vals) > 0 {
			v = a.Vals[0]
		}
		switch a.Key {
		case "strategy":
			ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.DaemonSetUpdateStrategyType(v)}
		case "max-unavailable":
			x := intstr.Parse(v)
			ru.MaxUnavailable = &x
		case "max-surge":
			x := intstr.Parse(v)
			ru.MaxSurge = &x
		case "min-ready":
			n, _ := strconv.Atoi(v)
			ds.Spec.MinReadySeconds = int32(n)
		case "now":
			in.Now = at(v)
		case "hash":
			in.Hash = v
		case "deleting":
			ts := metav1.NewTime(t0)
			ds.DeletionTimestamp = &ts
		default:
			t.Fatalf("unknown argument %q", a.Key)
		}
	}
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
		case "template":
			spec := &ds.Spec.Template.Spec
			if s := args["selector"]; s != "" {
				spec.NodeSelector = pairs(s)
			}
			for _, tol := range list(args["tolerate"]) {
				spec.Tolerations = append(spec.Tolerations, parseToleration(tol))
			}
			if a := args["affinity"]; a != "" {
				var term corev1.NodeSelectorTerm
				for _, r := range list(a) {
					p := strings.Split(r, ":")
					req := corev1.NodeSelectorRequirement{Key: p[0], Operator: corev1.NodeSelectorOperator(p[1])}
					if len(p) > 2 {
						req.Values = strings.Split(p[2], "|")
					}
					term.MatchExpressions = append(term.MatchExpressions, req)
				}
				spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
					RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{term}},
				}}
			}
			spec.NodeName = args["node-name"]
			_, spec.HostNetwork = args["host-network"]
		case "node":
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: f[1], Labels: pairs(args["labels"])}}
			for _, tt := range list(args["taints"]) {
				n.Spec.Taints = append(n.Spec.Taints, parseTaint(tt))
			}
			in.Nodes = append(in.Nodes, n)
		case "pod":
			in.Pods = append(in.Pods, scriptPod(f[1], args))
		case "backoff":
			in.Backoff[f[1]] = at(args["until"])
		default:
			t.Fatalf("unknown line %q", line)
		}
	}
	return in
}

func scriptPod(name string, args map[string]string) *corev1.Pod {
	hash := args["hash"]
	if hash == "" {
		hash = "new"
	}
	pod := NewPod(&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "ds", UID: "ds-uid"}}, hash, args["node"])
	pod.Name, pod.UID = name, types.UID(name+"-uid")
	if _, ok := args["bound"]; ok {
		pod.Spec.NodeName = args["node"]
	}
	pod.CreationTimestamp = metav1.NewTime(at(orDefault(args["created"], "0")))
	pod.Status.Phase = corev1.PodPhase(orDefault(args["phase"], string(corev1.PodRunning)))
	if r, ok := args["ready"]; ok {
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at(r))}}
	}
	if _, ok := args["terminating"]; ok {
		ts := metav1.NewTime(t0)
		pod.DeletionTimestamp = &ts
	}
	return pod
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func list(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func pairs(s string) map[string]string {
	m := map[string]string{}
	for _, kv := range list(s) {
		k, v, _ := strings.Cut(kv, ":")
		m[k] = v
	}
	return m
}

// parseTaint reads key[=value]:Effect.
func parseTaint(s string) corev1.Taint {
	kv, effect, _ := strings.Cut(s, ":")
	k, v, _ := strings.Cut(kv, "=")
	return corev1.Taint{Key: k, Value: v, Effect: corev1.TaintEffect(effect)}
}

// parseToleration reads key[=value]:Effect (Exists without a value; an
// empty key tolerates every key).
func parseToleration(s string) corev1.Toleration {
	kv, effect, _ := strings.Cut(s, ":")
	k, v, hasValue := strings.Cut(kv, "=")
	tol := corev1.Toleration{Key: k, Effect: corev1.TaintEffect(effect), Operator: corev1.TolerationOpExists}
	if hasValue {
		tol.Operator, tol.Value = corev1.TolerationOpEqual, v
	}
	return tol
}

func formatPlan(p Plan) string {
	var b strings.Builder
	if len(p.Creates) > 0 {
		fmt.Fprintf(&b, "create %s\n", strings.Join(p.Creates, " "))
	}
	dels := append([]Deletion(nil), p.Deletes...)
	sort.SliceStable(dels, func(i, j int) bool { return dels[i].Pod.Name < dels[j].Pod.Name })
	for _, d := range dels {
		fmt.Fprintf(&b, "delete %s (%s): %s\n", d.Pod.Name, d.Node, d.Reason)
	}
	s := p.Status
	fmt.Fprintf(&b, "status desired=%d current=%d ready=%d available=%d updated=%d misscheduled=%d unavailable=%d\n",
		s.DesiredNumberScheduled, s.CurrentNumberScheduled, s.NumberReady, s.NumberAvailable,
		s.UpdatedNumberScheduled, s.NumberMisscheduled, s.NumberUnavailable)
	if p.RequeueAfter > 0 {
		fmt.Fprintf(&b, "requeue %s\n", p.RequeueAfter)
	}
	return b.String()
}
