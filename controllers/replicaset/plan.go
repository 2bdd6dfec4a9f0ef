package replicaset

import (
	"fmt"
	"sort"
	"time"

	"github.com/kelson-dev/kelson/controllers/ownerref"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// DefaultBurstReplicas caps the pods one sync creates or deletes, as
// kube-controller-manager's --concurrent-replicaset-syncs burst (500).
const DefaultBurstReplicas = 500

// Input is the snapshot a sync decides from.
type Input struct {
	// RS is the ReplicaSet, as the informer has it.
	RS *appsv1.ReplicaSet
	// Pods are the namespace's pods, as the informer has them; Plan picks
	// the ones it owns or may adopt.
	Pods []*corev1.Pod
	// BurstReplicas caps Create and len(Delete); 0 means
	// DefaultBurstReplicas.
	BurstReplicas int
}

// Plan is what a sync should do, in order: patch the adoptions and
// releases, then (when the controller's expectations allow) create Create
// pods from the template or delete Delete.
type Plan struct {
	// Adopt are orphans matching the selector: the sync adds a controller
	// reference to each.
	Adopt []*corev1.Pod
	// Release are owned pods whose labels no longer match.
	Release []*corev1.Pod
	// Owned are the pods the ReplicaSet controls (and Adopt), active or
	// not.
	Owned []*corev1.Pod
	// Active are the Owned pods that count as replicas: not being deleted
	// and not finished (Succeeded or Failed).
	Active []*corev1.Pod
	// Create is how many pods to create (0 when there are enough).
	Create int
	// Delete are the pods to delete, the most expendable first.
	Delete []*corev1.Pod
}

// Decide plans one sync of in.RS. It fails only on a selector that is
// missing, cannot be parsed, is empty or does not match the template's
// labels (the API validates selectors, so only a bug or a foreign API can
// produce one). A ReplicaSet being deleted adopts nothing and
// releases nothing; whether to act on Create and Delete at all is the
// caller's (expectations, deletion).
func Decide(in Input) (Plan, error) {
	rs := in.RS
	if rs.Spec.Selector == nil {
		return Plan{}, fmt.Errorf("replicaset: %s/%s: no selector", rs.Namespace, rs.Name)
	}
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		return Plan{}, fmt.Errorf("replicaset: %s/%s: invalid selector: %w", rs.Namespace, rs.Name, err)
	}
	if sel.Empty() {
		return Plan{}, fmt.Errorf("replicaset: %s/%s: an empty selector would take every pod of the namespace", rs.Namespace, rs.Name)
	}
	if !sel.Matches(labels.Set(rs.Spec.Template.Labels)) {
		// its pods would not be its own: it would create them forever
		return Plan{}, fmt.Errorf("replicaset: %s/%s: the selector does not match the template's labels", rs.Namespace, rs.Name)
	}
	c := ownerref.Classify(rs, sel, in.Pods)
	p := Plan{Adopt: c.Adopt, Release: c.Release}
	p.Owned = append(append(p.Owned, c.Owned...), c.Adopt...)
	for _, pod := range p.Owned {
		if IsActive(pod) {
			p.Active = append(p.Active, pod)
		}
	}
	burst := in.BurstReplicas
	if burst <= 0 {
		burst = DefaultBurstReplicas
	}
	want := int(replicas(rs))
	switch diff := len(p.Active) - want; {
	case diff < 0:
		p.Create = min(-diff, burst)
	case diff > 0:
		p.Delete = podsToDelete(p.Active, min(diff, burst))
	}
	return p, nil
}

// IsActive reports whether pod counts as a replica: not being deleted and
// not finished.
func IsActive(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp == nil &&
		pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
}

func replicas(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// podsToDelete picks n of active by deletion rank (see byDeletionRank).
func podsToDelete(active []*corev1.Pod, n int) []*corev1.Pod {
	ranked := append([]*corev1.Pod(nil), active...)
	perNode := map[string]int{}
	for _, p := range active {
		if p.Spec.NodeName != "" {
			perNode[p.Spec.NodeName]++
		}
	}
	sort.SliceStable(ranked, func(i, j int) bool { return deleteFirst(ranked[i], ranked[j], perNode) })
	return ranked[:n]
}

// deleteFirst orders pods for a scale-down: a before b when a is more
// expendable. In order of precedence: not scheduled before scheduled;
// Pending before Unknown before Running; not ready before ready; on a
// node crowded with this set's pods before a less crowded one; ready for
// less time before ready for longer; more container restarts before
// fewer; newer before older; then by name, so the order is total.
func deleteFirst(a, b *corev1.Pod, perNode map[string]int) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if pa, pb := phaseRank(a.Status.Phase), phaseRank(b.Status.Phase); pa != pb {
		return pa < pb
	}
	ra, rb := IsReady(a), IsReady(b)
	if ra != rb {
		return !ra
	}
	if a.Spec.NodeName != "" {
		if na, nb := perNode[a.Spec.NodeName], perNode[b.Spec.NodeName]; na != nb {
			return na > nb
		}
	}
	if ra && rb {
		ta, tb := readySince(a), readySince(b)
		if !ta.Equal(tb) {
			return ta.After(tb)
		}
	}
	if ca, cb := restarts(a), restarts(b); ca != cb {
		return ca > cb
	}
	if ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time; !ta.Equal(tb) {
		return ta.After(tb)
	}
	return a.Name < b.Name
}

func phaseRank(p corev1.PodPhase) int {
	switch p {
	case corev1.PodUnknown:
		return 1
	case corev1.PodRunning:
		return 2
	default: // Pending, or no status yet
		return 0
	}
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		n = max(n, c.RestartCount)
	}
	return n
}

// IsReady reports the pod's Ready condition.
func IsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readySince is when the pod last became ready (zero when unknown).
func readySince(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

// IsAvailable reports whether pod has been ready for minReady at now, and
// if not yet but ready, how long until it will be.
func IsAvailable(p *corev1.Pod, minReady time.Duration, now time.Time) (bool, time.Duration) {
	if !IsReady(p) {
		return false, 0
	}
	if minReady <= 0 {
		return true, 0
	}
	since := readySince(p)
	if since.IsZero() {
		return false, minReady
	}
	if wait := since.Add(minReady).Sub(now); wait > 0 {
		return false, wait
	}
	return true, 0
}
