package core

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

// The data-driven tests (testdata/*) build a cluster and schedule pods on
// it. Commands:
//
//	reset
//	node name=N [cpu=4] [memory=8Gi] [pods=110] [labels=k=v,...] [taints=k=v:Effect,...] [unschedulable]
//	  (optional YAML body merged into the Node)
//	pod name=P [ns=default] [node=N] [cpu=..] [memory=..] [labels=k=v,...] [priority=N]
//	    [hostport=80/TCP,...] [nominated=N] [terminating]
//	  (optional YAML body merged into the Pod; with node= the pod is placed,
//	  without it is pending, to be scheduled)
//	namespace name=NS [labels=...]
//	object        YAML body: a PersistentVolume or PersistentVolumeClaim
//	schedule pod=P [sample] [start=N] [rand=N] [percentage=N]
//	  explain every node (default) or decide as the scheduler does (sample)
//	preempt pod=P
//	nominate pod=P node=N   (as preemption does; schedule respects it)
//	requests      YAML body: a pod; prints its effective requests
type world struct {
	nodes   []*corev1.Node
	placed  []*corev1.Pod
	pending map[string]*corev1.Pod
	ns      map[string]labels.Set
	pvcs    map[string]*corev1.PersistentVolumeClaim
	pvs     map[string]*corev1.PersistentVolume
	// nominated: node name -> pods nominated there by preemption
	nominated map[string][]*PodInfo
}

func newWorld() *world {
	return &world{pending: map[string]*corev1.Pod{}, ns: map[string]labels.Set{},
		pvcs: map[string]*corev1.PersistentVolumeClaim{}, pvs: map[string]*corev1.PersistentVolume{}}
}

func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		w := newWorld()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			out, err := w.run(d)
			if err != nil {
				return "error: " + err.Error() + "\n"
			}
			return out
		})
	})
}

func arg(d *datadriven.TestData, key, def string) string {
	if a, ok := d.Arg(key); ok && len(a.Vals) > 0 {
		return strings.Join(a.Vals, ",")
	}
	return def
}

func parseMap(s string) map[string]string {
	if s == "" {
		return nil
	}
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func (w *world) snapshot() *Snapshot {
	var pods []*PodInfo
	for _, p := range w.placed {
		pods = append(pods, NewPodInfo(p, priorityOf(p)))
	}
	s := NewSnapshot(w.nodes, pods)
	s.Namespaces, s.Volumes = w.ns, Volumes{PVCs: w.pvcs, PVs: w.pvs}
	return s
}

func priorityOf(p *corev1.Pod) int32 {
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}

func (w *world) run(d *datadriven.TestData) (string, error) {
	switch d.Cmd {
	case "reset":
		*w = *newWorld()
		return "", nil
	case "node":
		return "", w.node(d)
	case "pod":
		return "", w.pod(d)
	case "namespace":
		w.ns[arg(d, "name", "")] = parseMap(arg(d, "labels", ""))
		return "", nil
	case "object":
		return "", w.object(d.Input)
	case "schedule":
		return w.schedule(d)
	case "preempt":
		return w.preempt(d)
	case "nominate":
		pi, err := w.pendingPod(d)
		if err != nil {
			return "", err
		}
		if w.nominated == nil {
			w.nominated = map[string][]*PodInfo{}
		}
		n := arg(d, "node", "")
		w.nominated[n] = append(w.nominated[n], pi)
		return "", nil
	case "requests":
		var p corev1.Pod
		if err := yaml.UnmarshalStrict([]byte(d.Input), &p); err != nil {
			return "", err
		}
		r, cpu, mem := PodRequests(&p.Spec)
		return fmt.Sprintf("cpu=%dm memory=%d ephemeral-storage=%d scalar=%v nonzero: cpu=%dm memory=%d\n",
			r.MilliCPU, r.Memory, r.EphemeralStorage, r.Scalar, cpu, mem), nil
	}
	return "", fmt.Errorf("unknown command %q", d.Cmd)
}

func (w *world) node(d *datadriven.TestData) error {
	name := arg(d, "name", "")
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	for k, v := range parseMap(arg(d, "labels", "")) {
		n.Labels[k] = v
	}
	alloc := corev1.ResourceList{}
	for _, r := range []struct{ name, def string }{{"cpu", "4"}, {"memory", "8Gi"}, {"pods", "110"}} {
		q, err := resource.ParseQuantity(arg(d, r.name, r.def))
		if err != nil {
			return err
		}
		alloc[corev1.ResourceName(r.name)] = q
	}
	n.Status.Allocatable = alloc
	if ts := arg(d, "taints", ""); ts != "" {
		for _, t := range strings.Split(ts, ",") {
			kv, effect, _ := strings.Cut(t, ":")
			k, v, _ := strings.Cut(kv, "=")
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: k, Value: v, Effect: corev1.TaintEffect(effect)})
		}
	}
	n.Spec.Unschedulable = d.HasArg("unschedulable")
	if strings.TrimSpace(d.Input) != "" {
		if err := yaml.UnmarshalStrict([]byte(d.Input), n); err != nil {
			return err
		}
	}
	w.nodes = append(w.nodes, n)
	return nil
}

func (w *world) pod(d *datadriven.TestData) error {
	name := arg(d, "name", "")
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: arg(d, "ns", "default"), UID: types.UID("uid-" + name),
		Labels: parseMap(arg(d, "labels", "")), CreationTimestamp: metav1.Unix(1000, 0)}}
	c := corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{}}}
	for _, r := range []string{"cpu", "memory"} {
		if v := arg(d, r, ""); v != "" {
			q, err := resource.ParseQuantity(v)
			if err != nil {
				return err
			}
			c.Resources.Requests[corev1.ResourceName(r)] = q
		}
	}
	if hp := arg(d, "hostport", ""); hp != "" {
		for _, s := range strings.Split(hp, ",") {
			port, proto, _ := strings.Cut(s, "/")
			n, err := strconv.Atoi(port)
			if err != nil {
				return err
			}
			c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: int32(n), HostPort: int32(n), Protocol: corev1.Protocol(proto)})
		}
	}
	p.Spec.Containers = []corev1.Container{c}
	if v := arg(d, "priority", ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return err
		}
		pr := int32(n)
		p.Spec.Priority = &pr
	}
	p.Status.NominatedNodeName = arg(d, "nominated", "")
	if d.HasArg("terminating") {
		now := metav1.Unix(2000, 0)
		p.DeletionTimestamp = &now
	}
	if strings.TrimSpace(d.Input) != "" {
		if err := yaml.UnmarshalStrict([]byte(d.Input), p); err != nil {
			return err
		}
	}
	if node := arg(d, "node", ""); node != "" {
		p.Spec.NodeName = node
		w.placed = append(w.placed, p)
		return nil
	}
	w.pending[name] = p
	return nil
}

func (w *world) object(in string) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal([]byte(in), &tm); err != nil {
		return err
	}
	switch tm.Kind {
	case "PersistentVolume":
		var pv corev1.PersistentVolume
		if err := yaml.UnmarshalStrict([]byte(in), &pv); err != nil {
			return err
		}
		w.pvs[pv.Name] = &pv
	case "PersistentVolumeClaim":
		var pvc corev1.PersistentVolumeClaim
		if err := yaml.UnmarshalStrict([]byte(in), &pvc); err != nil {
			return err
		}
		if pvc.Namespace == "" {
			pvc.Namespace = "default"
		}
		w.pvcs[pvc.Namespace+"/"+pvc.Name] = &pvc
	default:
		return fmt.Errorf("object: unknown kind %q", tm.Kind)
	}
	return nil
}

func (w *world) pendingPod(d *datadriven.TestData) (*PodInfo, error) {
	name := arg(d, "pod", "")
	p, ok := w.pending[name]
	if !ok {
		return nil, fmt.Errorf("no pending pod %q", name)
	}
	return NewPodInfo(p, priorityOf(p)), nil
}

func (w *world) schedule(d *datadriven.TestData) (string, error) {
	pi, err := w.pendingPod(d)
	if err != nil {
		return "", err
	}
	cfg := Config{}
	if v := arg(d, "percentage", ""); v != "" {
		n, _ := strconv.Atoi(v)
		cfg.PercentageOfNodesToScore = int32(n)
	}
	if v := arg(d, "min", ""); v != "" {
		cfg.MinFeasibleNodesToFind, _ = strconv.Atoi(v)
	}
	opt := Options{Explain: !d.HasArg("sample"), Nominated: w.nominated}
	if v := arg(d, "start", ""); v != "" {
		opt.Start, _ = strconv.Atoi(v)
	}
	if v := arg(d, "rand", ""); v != "" {
		r, _ := strconv.ParseUint(v, 10, 64)
		opt.Rand = r
	}
	p := NewProfile(cfg)
	dec := p.Schedule(pi, w.snapshot(), opt)
	var b strings.Builder
	if opt.Explain {
		if err := WriteTable(&b, dec); err != nil {
			return "", err
		}
	} else {
		var names []string
		for _, v := range dec.Verdicts {
			names = append(names, v.Node.Name)
		}
		fmt.Fprintf(&b, "evaluated: %s\nfeasible: %d\nnext start: %d\n", strings.Join(names, " "), len(dec.Feasible), dec.NextStart)
	}
	if dec.Node != "" {
		fmt.Fprintf(&b, "selected: %s\n", dec.Node)
	} else {
		fmt.Fprintf(&b, "message: %s\n", dec.Message())
	}
	return b.String(), nil
}

func (w *world) preempt(d *datadriven.TestData) (string, error) {
	pi, err := w.pendingPod(d)
	if err != nil {
		return "", err
	}
	p := NewProfile(Config{})
	snap := w.snapshot()
	dec := p.Schedule(pi, snap, Options{})
	if dec.Node != "" {
		return "fits on " + dec.Node + "\n", nil
	}
	msg := dec.Message()
	policy := corev1.PreemptLowerPriority
	if pi.Pod.Spec.PreemptionPolicy != nil {
		policy = *pi.Pod.Spec.PreemptionPolicy
	}
	pre := p.Preempt(pi, snap, dec.Clone(), policy, Options{})
	if pre.Node == "" {
		return "message: " + msg + " " + pre.Message + "\n", nil
	}
	var victims []string
	for _, v := range pre.Victims {
		victims = append(victims, fmt.Sprintf("%s(%d)", v.Key, v.Priority))
	}
	sort.Strings(victims)
	return fmt.Sprintf("message: %s\nnominated: %s\nvictims: %s\n", msg, pre.Node, strings.Join(victims, " ")), nil
}
