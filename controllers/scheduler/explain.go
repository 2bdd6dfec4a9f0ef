package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kelson-dev/kelson/controllers/scheduler/core"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// ErrPodNotFound: Explain was asked about a pod that does not exist.
var ErrPodNotFound = errors.New("scheduler: pod not found")

// ExplainOptions configure Explain.
type ExplainOptions struct {
	// Core is the decision's configuration; default the scheduler's.
	Core core.Config
	// Now is the clock for event ages; default time.Now.
	Now func() time.Time
}

// Explain writes why the named pod goes (or would go) where it does: it
// reads the cluster through the API (nodes, pods, namespaces, volumes,
// priority classes), builds a snapshot, runs the scheduler's own decision
// (core.Profile.Schedule, with every node and every filter evaluated) and
// prints each node's filter verdicts and each feasible node's per-scorer
// scores, then the pod's last scheduling events.
//
// The scheduler keeps no record of its decisions (writing one per pod
// would double its API writes): the explanation is recomputed against the
// cluster as it is now, which Explain says. For a pod already bound, it
// shows where the pod would go if it were pending now (its own usage left
// out).
func Explain(ctx context.Context, client kubernetes.Interface, namespace, name string, w io.Writer, opt ExplainOptions) error {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	pod, err := client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%w: %s/%s", ErrPodNotFound, namespace, name)
	}
	if err != nil {
		return fmt.Errorf("scheduler: explain: get pod: %w", err)
	}
	in, err := readCluster(ctx, client)
	if err != nil {
		return err
	}
	snap, nominated, target, policy := in.snapshot(pod)
	p := core.NewProfile(opt.Core)
	d := p.Schedule(target, snap, core.Options{Explain: true, Nominated: nominated}).Clone()
	var pre core.Preemption
	if d.Node == "" && d.NumNodes > 0 {
		pre = p.Preempt(target, snap, d, policy, core.Options{Nominated: nominated})
	}

	schedName := cmp.Or(pod.Spec.SchedulerName, DefaultSchedulerName)
	fmt.Fprintf(w, "Pod:        %s/%s\n", pod.Namespace, pod.Name)
	fmt.Fprintf(w, "Priority:   %d", target.Priority)
	if pod.Spec.PriorityClassName != "" {
		fmt.Fprintf(w, " (%s)", pod.Spec.PriorityClassName)
	}
	fmt.Fprintf(w, "\nScheduler:  %s\n", schedName)
	fmt.Fprintf(w, "Status:     %s\n", podState(pod))
	fmt.Fprintf(w, "Cluster:    %d nodes, %d other pods placed (read now; the scheduler decided on the cluster as it was then)\n",
		d.NumNodes, snap.NumPods())
	switch {
	case d.Node != "":
		fmt.Fprintf(w, "Decision:   node %s (best of %d feasible)\n", d.Node, len(d.Feasible))
	default:
		msg := d.Message()
		switch {
		case pre.Node != "":
			var victims []string
			for _, v := range pre.Victims {
				victims = append(victims, v.Key)
			}
			msg += fmt.Sprintf(" Preemption would nominate node %s, evicting %s.", pre.Node, strings.Join(victims, ", "))
		case pre.Message != "":
			msg += " " + pre.Message
		}
		fmt.Fprintf(w, "Decision:   fits no node: %s\n", msg)
	}
	fmt.Fprintln(w)
	if d.NumNodes > 0 && d.PreFilter.OK() {
		if err := core.WriteTable(w, d); err != nil {
			return err
		}
		if len(d.Totals) > 0 {
			fmt.Fprintln(w, "(each scorer 0-100; TOTAL = Σ score × weight; the highest total wins)")
		}
		fmt.Fprintln(w)
	}
	return writeEvents(ctx, client, pod, w, opt.Now())
}

func podState(p *corev1.Pod) string {
	var b strings.Builder
	phase := cmp.Or(string(p.Status.Phase), "Pending")
	b.WriteString(phase)
	if p.Spec.NodeName != "" {
		fmt.Fprintf(&b, ", bound to %s (the table shows where it would go if it were pending now)", p.Spec.NodeName)
	} else {
		b.WriteString(", not bound")
	}
	if c := podCondition(p, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse {
		fmt.Fprintf(&b, "; PodScheduled=False (%s)", c.Reason)
	}
	if p.Status.NominatedNodeName != "" {
		fmt.Fprintf(&b, "; nominated to %s", p.Status.NominatedNodeName)
	}
	if p.DeletionTimestamp != nil {
		b.WriteString("; terminating")
	}
	return b.String()
}

// clusterState is what Explain reads through the API.
type clusterState struct {
	nodes      []corev1.Node
	pods       []corev1.Pod
	namespaces []corev1.Namespace
	pvs        []corev1.PersistentVolume
	pvcs       []corev1.PersistentVolumeClaim
	classes    []schedulingv1.PriorityClass
}

func readCluster(ctx context.Context, client kubernetes.Interface) (*clusterState, error) {
	var in clusterState
	lo := metav1.ListOptions{}
	nodes, err := client.CoreV1().Nodes().List(ctx, lo)
	if err != nil {
		return nil, fmt.Errorf("scheduler: explain: list nodes: %w", err)
	}
	pods, err := client.CoreV1().Pods("").List(ctx, lo)
	if err != nil {
		return nil, fmt.Errorf("scheduler: explain: list pods: %w", err)
	}
	in.nodes, in.pods = nodes.Items, pods.Items
	// The rest is optional: an explanation without it is still useful.
	if l, err := client.CoreV1().Namespaces().List(ctx, lo); err == nil {
		in.namespaces = l.Items
	}
	if l, err := client.CoreV1().PersistentVolumes().List(ctx, lo); err == nil {
		in.pvs = l.Items
	}
	if l, err := client.CoreV1().PersistentVolumeClaims("").List(ctx, lo); err == nil {
		in.pvcs = l.Items
	}
	if l, err := client.SchedulingV1().PriorityClasses().List(ctx, lo); err == nil {
		in.classes = l.Items
	}
	return &in, nil
}

// snapshot builds the decision's inputs from what was read: the snapshot
// (pod left out), the nominated pods, the pod to explain (as pending) and
// its preemption policy.
func (in *clusterState) snapshot(pod *corev1.Pod) (*core.Snapshot, map[string][]*core.PodInfo, *core.PodInfo, corev1.PreemptionPolicy) {
	classes := make([]*schedulingv1.PriorityClass, len(in.classes))
	for i := range in.classes {
		classes[i] = &in.classes[i]
	}
	prio := func(p *corev1.Pod) (int32, corev1.PreemptionPolicy) {
		return resolvePriority(p, func(name string) *schedulingv1.PriorityClass {
			for _, c := range classes {
				if c.Name == name {
					return c
				}
			}
			return nil
		}, func() []*schedulingv1.PriorityClass { return classes })
	}
	nodes := make([]*corev1.Node, len(in.nodes))
	for i := range in.nodes {
		nodes[i] = &in.nodes[i]
	}
	var placed []*core.PodInfo
	nominated := map[string][]*core.PodInfo{}
	self := key(pod)
	for i := range in.pods {
		p := &in.pods[i]
		if key(p) == self || terminal(p) {
			continue
		}
		pr, _ := prio(p)
		switch {
		case p.Spec.NodeName != "":
			placed = append(placed, core.NewPodInfo(p, pr))
		case p.Status.NominatedNodeName != "":
			nominated[p.Status.NominatedNodeName] = append(nominated[p.Status.NominatedNodeName], core.NewPodInfo(p, pr))
		}
	}
	snap := core.NewSnapshot(nodes, placed)
	snap.Namespaces = map[string]labels.Set{}
	for _, ns := range in.namespaces {
		snap.Namespaces[ns.Name] = ns.Labels
	}
	vols := core.Volumes{PVCs: map[string]*corev1.PersistentVolumeClaim{}, PVs: map[string]*corev1.PersistentVolume{}}
	for i := range in.pvcs {
		vols.PVCs[in.pvcs[i].Namespace+"/"+in.pvcs[i].Name] = &in.pvcs[i]
	}
	for i := range in.pvs {
		vols.PVs[in.pvs[i].Name] = &in.pvs[i]
	}
	snap.Volumes = vols
	pending := pod.DeepCopy()
	pending.Spec.NodeName = ""
	pr, policy := prio(pending)
	return snap, nominated, core.NewPodInfo(pending, pr), policy
}

// writeEvents prints the scheduler's events about the pod, oldest first
// (the last ten).
func writeEvents(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, w io.Writer, now time.Time) error {
	sel := fields.Set{"involvedObject.kind": "Pod", "involvedObject.name": pod.Name}.AsSelector().String()
	l, err := client.CoreV1().Events(pod.Namespace).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		fmt.Fprintf(w, "Events: cannot list: %v\n", err)
		return nil
	}
	var evs []corev1.Event
	for _, e := range l.Items {
		if e.InvolvedObject.UID != "" && e.InvolvedObject.UID != pod.UID {
			continue
		}
		switch e.Reason {
		case "Scheduled", "FailedScheduling", "Preempted":
			evs = append(evs, e)
		}
	}
	if len(evs) == 0 {
		fmt.Fprintln(w, "Scheduling events: none")
		return nil
	}
	last := func(e corev1.Event) time.Time {
		switch {
		case !e.LastTimestamp.IsZero():
			return e.LastTimestamp.Time
		case !e.EventTime.IsZero():
			return e.EventTime.Time
		}
		return e.CreationTimestamp.Time
	}
	slices.SortStableFunc(evs, func(a, b corev1.Event) int { return last(a).Compare(last(b)) })
	if len(evs) > 10 {
		evs = evs[len(evs)-10:]
	}
	fmt.Fprintln(w, "Scheduling events:")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  AGE\tTYPE\tREASON\tFROM\tMESSAGE")
	for _, e := range evs {
		age := now.Sub(last(e)).Round(time.Second)
		count := ""
		if e.Count > 1 {
			count = fmt.Sprintf(" (x%d)", e.Count)
		}
		fmt.Fprintf(tw, "  %s%s\t%s\t%s\t%s\t%s\n", age, count, e.Type, e.Reason, e.Source.Component, e.Message)
	}
	return tw.Flush()
}
