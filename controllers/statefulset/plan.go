package statefulset

// Decide: the pure core. From one snapshot (the set, its pods, the
// namespace's claims, the current and update revisions) it works out the
// ordered actions of one sync and the status to report.

import (
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Input is the snapshot a sync decides from.
type Input struct {
	Set *appsv1.StatefulSet
	// Pods are the set's pods (controlled by it, named <set>-<ordinal>),
	// terminating ones included.
	Pods []*corev1.Pod
	// Claims are the namespace's PersistentVolumeClaims by name.
	Claims map[string]*corev1.PersistentVolumeClaim
	// CurrentRevision names the revision of pods below the partition;
	// UpdateRevision the revision of the set's template.
	CurrentRevision, UpdateRevision string
	Now                             time.Time
}

// Kind is what an Action does.
type Kind string

const (
	// CreateClaim creates claim Claim from template Template for Ordinal.
	CreateClaim Kind = "create-claim"
	// CreatePod creates the pod with Ordinal from Revision.
	CreatePod Kind = "create-pod"
	// DeletePod deletes Pod for Reason.
	DeletePod Kind = "delete-pod"
	// SetClaimRefs sets the owner references of Claim to Refs.
	SetClaimRefs Kind = "set-claim-refs"
)

// Reason says why a pod is deleted.
type Reason string

const (
	// ReasonFailed: the pod failed (or exited); it is recreated with the
	// same name once gone.
	ReasonFailed Reason = "failed"
	// ReasonScaleDown: its ordinal is beyond the replicas.
	ReasonScaleDown Reason = "scale down"
	// ReasonUpdate: it runs an old revision; the rolling update recreates
	// it from the update revision.
	ReasonUpdate Reason = "update"
)

// Action is one write of a sync.
type Action struct {
	Kind     Kind
	Ordinal  int
	Pod      *corev1.Pod // DeletePod
	Reason   Reason      // DeletePod
	Revision string      // CreatePod
	Claim    string      // CreateClaim, SetClaimRefs
	Template string      // CreateClaim: the claim template's name
	Refs     []metav1.OwnerReference
}

// Plan is what a sync does: Actions in order (the sync stops at the
// first failure), and the status from the snapshot.
type Plan struct {
	Actions []Action
	// Status is the set's status in this snapshot; CollisionCount is left
	// for the caller.
	Status appsv1.StatefulSetStatus
	// Waiting says what the plan waits for, if anything (for logs).
	Waiting string
	// RequeueAfter, when positive, is when the snapshot changes by time
	// alone (a pod becoming available after minReadySeconds).
	RequeueAfter time.Duration
}

func (p *Plan) add(a Action) { p.Actions = append(p.Actions, a) }

func (p *Plan) requeue(d time.Duration) {
	if d > 0 && (p.RequeueAfter == 0 || d < p.RequeueAfter) {
		p.RequeueAfter = d
	}
}

// decider holds one Decide call's working state.
type decider struct {
	in        Input
	set       *appsv1.StatefulSet
	start, n  int
	byOrdinal map[int]*corev1.Pod
	p         Plan
}

// Decide plans one sync of in.Set. The plan keeps these promises:
//   - pods are named <set>-<ordinal> for ordinals start..start+replicas-1
//     and their claims exist before they are created;
//   - OrderedReady: at most one pod is created or deleted per sync, a pod
//     is created only when every lower ordinal is Running and Ready (and
//     available), and pods beyond the replicas are deleted highest first,
//     each only after the one above it is gone; Parallel: all at once;
//   - a failed pod is deleted, to be recreated with the same name;
//   - RollingUpdate deletes pods of an old revision from the highest
//     ordinal down to the partition, never leaving more than
//     maxUnavailable (default 1) of those ordinals unavailable; OnDelete
//     deletes none;
//   - a set being deleted gets no actions, only its status.
func Decide(in Input) Plan {
	d := &decider{in: in, set: in.Set, start: startOrdinal(in.Set), n: replicas(in.Set), byOrdinal: map[int]*corev1.Pod{}}
	var condemned []*corev1.Pod
	for _, pod := range in.Pods {
		ord, ok := Ordinal(in.Set.Name, pod.Name)
		if !ok {
			continue
		}
		if ord >= d.start && ord < d.start+d.n {
			d.byOrdinal[ord] = pod
		} else {
			condemned = append(condemned, pod)
		}
	}
	sort.Slice(condemned, func(i, j int) bool {
		a, _ := Ordinal(in.Set.Name, condemned[i].Name)
		b, _ := Ordinal(in.Set.Name, condemned[j].Name)
		return a > b
	})
	d.p.Status = d.status()
	if in.Set.DeletionTimestamp != nil {
		return d.p
	}
	d.fixClaimRefs()
	if d.replicas() && d.condemned(condemned) &&
		in.Set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType {
		d.rollingUpdate()
	}
	return d.p
}

func (d *decider) monotonic() bool {
	return d.set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
}

// health: whether pod counts as Running and Ready (and available after
// minReadySeconds); asks for a requeue when only time is missing.
func (d *decider) healthy(pod *corev1.Pod) bool {
	if terminating(pod) || pod.Status.Phase != corev1.PodRunning {
		return false
	}
	_, available, wait := availability(pod, d.set.Spec.MinReadySeconds, d.in.Now)
	d.p.requeue(wait)
	return available
}

func (d *decider) wait(format string, args ...any) {
	if d.p.Waiting == "" {
		d.p.Waiting = fmt.Sprintf(format, args...)
	}
}

// partition is the first index (ordinal - start) the rolling update
// touches.
func (d *decider) partition() int {
	ru := d.set.Spec.UpdateStrategy.RollingUpdate
	if d.set.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType || ru == nil || ru.Partition == nil {
		return 0
	}
	return max(int(*ru.Partition), 0)
}

// revisionFor is the revision a new pod at index i is made from: the
// current one below the partition, else the update one.
func (d *decider) revisionFor(i int) string {
	if d.set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && i < d.partition() && d.in.CurrentRevision != "" {
		return d.in.CurrentRevision
	}
	return d.in.UpdateRevision
}

// claims plans the missing claims of ordinal; false if one is being
// deleted (the pod must wait for it to go and be made anew).
func (d *decider) claims(ord int) bool {
	ok := true
	for _, ct := range d.set.Spec.VolumeClaimTemplates {
		name := ClaimName(ct.Name, d.set.Name, ord)
		c := d.in.Claims[name]
		switch {
		case c == nil:
			d.p.add(Action{Kind: CreateClaim, Ordinal: ord, Claim: name, Template: ct.Name})
		case c.DeletionTimestamp != nil:
			d.wait("waiting for claim %s to be deleted", name)
			ok = false
		}
	}
	return ok
}

// replicas brings ordinals start..start+n-1 up, lowest first; false when
// OrderedReady must wait.
func (d *decider) replicas() bool {
	mono := d.monotonic()
	for i := 0; i < d.n; i++ {
		ord := d.start + i
		pod := d.byOrdinal[ord]
		switch {
		case pod == nil:
			if d.claims(ord) {
				d.p.add(Action{Kind: CreatePod, Ordinal: ord, Revision: d.revisionFor(i)})
			}
			if mono {
				d.wait("waiting for %s to be created", PodName(d.set.Name, ord))
				return false
			}
		case terminating(pod):
			if mono {
				d.wait("waiting for %s to terminate", pod.Name)
				return false
			}
		case finished(pod):
			d.p.add(Action{Kind: DeletePod, Ordinal: ord, Pod: pod, Reason: ReasonFailed})
			if mono {
				d.wait("waiting for failed %s to be replaced", pod.Name)
				return false
			}
		default:
			d.claims(ord)
			if !d.healthy(pod) && mono {
				d.wait("waiting for %s to be Running and Ready", pod.Name)
				return false
			}
		}
	}
	return true
}

// condemned deletes pods beyond the replicas, highest ordinal first;
// false when OrderedReady must wait.
func (d *decider) condemned(pods []*corev1.Pod) bool {
	mono := d.monotonic()
	for i, pod := range pods {
		if terminating(pod) {
			if mono {
				d.wait("waiting for %s to terminate", pod.Name)
				return false
			}
			continue
		}
		if mono {
			// Every predecessor must be Running and Ready first; a finished
			// one never will be, and goes in its turn.
			for _, lower := range pods[i+1:] {
				if !terminating(lower) && !finished(lower) && !d.healthy(lower) {
					d.wait("waiting for %s to be Running and Ready before deleting %s", lower.Name, pod.Name)
					return false
				}
			}
		}
		ord, _ := Ordinal(d.set.Name, pod.Name)
		for _, ct := range d.set.Spec.VolumeClaimTemplates {
			c := d.in.Claims[ClaimName(ct.Name, d.set.Name, ord)]
			if c == nil || c.DeletionTimestamp != nil {
				continue
			}
			if refs := claimRefs(d.set, c.OwnerReferences, pod, true); !sameRefs(refs, c.OwnerReferences) {
				d.p.add(Action{Kind: SetClaimRefs, Ordinal: ord, Claim: c.Name, Refs: refs})
			}
		}
		d.p.add(Action{Kind: DeletePod, Ordinal: ord, Pod: pod, Reason: ReasonScaleDown})
		if mono {
			d.wait("waiting for %s to terminate", pod.Name)
			return false
		}
	}
	return true
}

// fixClaimRefs keeps the claims of ordinals in range owned as the
// retention policy says (and no longer by a pod scaled away before).
func (d *decider) fixClaimRefs() {
	for i := 0; i < d.n; i++ {
		ord := d.start + i
		for _, ct := range d.set.Spec.VolumeClaimTemplates {
			c := d.in.Claims[ClaimName(ct.Name, d.set.Name, ord)]
			if c == nil || c.DeletionTimestamp != nil {
				continue
			}
			if refs := claimRefs(d.set, c.OwnerReferences, nil, false); !sameRefs(refs, c.OwnerReferences) {
				d.p.add(Action{Kind: SetClaimRefs, Ordinal: ord, Claim: c.Name, Refs: refs})
			}
		}
	}
}

func sameRefs(a, b []metav1.OwnerReference) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return apiequality.Semantic.DeepEqual(a, b)
}

// rollingUpdate deletes pods of an old revision from the highest index
// down to the partition. Every index passed that is unavailable (missing,
// terminating, not ready, or deleted now) uses one unit of
// maxUnavailable; at zero it stops, so with the default of 1 it deletes
// the highest old pod only once every pod above it runs the update
// revision and is Ready.
func (d *decider) rollingUpdate() {
	budget := d.maxUnavailable()
	i := d.n - 1
	for ; i >= d.partition() && budget > 0; i-- {
		ord := d.start + i
		pod := d.byOrdinal[ord]
		switch {
		case pod == nil || terminating(pod) || finished(pod):
			budget-- // finished pods are replaced by replicas()
		case pod.Labels[LabelRevision] != d.in.UpdateRevision:
			d.p.add(Action{Kind: DeletePod, Ordinal: ord, Pod: pod, Reason: ReasonUpdate})
			budget--
		case !d.healthy(pod):
			budget--
		}
	}
	for ; i >= d.partition(); i-- {
		if pod := d.byOrdinal[d.start+i]; pod != nil && pod.Labels[LabelRevision] != d.in.UpdateRevision {
			d.wait("waiting to update %s: %d pods above it are unavailable (maxUnavailable)", pod.Name, d.maxUnavailable())
			return
		}
	}
}

// maxUnavailable resolves the rolling update's maxUnavailable against
// replicas, rounding down, at least 1.
func (d *decider) maxUnavailable() int {
	ru := d.set.Spec.UpdateStrategy.RollingUpdate
	if ru == nil || ru.MaxUnavailable == nil {
		return 1
	}
	v, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, d.n, false)
	if err != nil || v < 1 {
		return 1
	}
	return v
}

// status counts the set's live pods: all of them (replicas), Running and
// Ready, available, of the current and of the update revision. The
// rollout is complete — the current revision becomes the update
// revision — when every live pod is Ready and of the update revision.
func (d *decider) status() appsv1.StatefulSetStatus {
	st := appsv1.StatefulSetStatus{
		ObservedGeneration: d.set.Generation,
		CurrentRevision:    d.in.CurrentRevision,
		UpdateRevision:     d.in.UpdateRevision,
	}
	if st.CurrentRevision == "" {
		st.CurrentRevision = st.UpdateRevision
	}
	for _, pod := range d.in.Pods {
		if terminating(pod) {
			continue
		}
		st.Replicas++
		if pod.Status.Phase == corev1.PodRunning {
			ready, available, wait := availability(pod, d.set.Spec.MinReadySeconds, d.in.Now)
			d.p.requeue(wait)
			if ready {
				st.ReadyReplicas++
			}
			if available {
				st.AvailableReplicas++
			}
		}
		switch rev := pod.Labels[LabelRevision]; {
		case rev == st.CurrentRevision:
			st.CurrentReplicas++
			if rev == st.UpdateRevision {
				st.UpdatedReplicas++
			}
		case rev == st.UpdateRevision:
			st.UpdatedReplicas++
		}
	}
	if st.UpdatedReplicas == st.Replicas && st.ReadyReplicas == st.Replicas && st.Replicas == int32(d.n) {
		st.CurrentRevision = st.UpdateRevision
		st.CurrentReplicas = st.UpdatedReplicas
	}
	return st
}

func terminating(pod *corev1.Pod) bool { return pod.DeletionTimestamp != nil }

func finished(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded
}

// availability: whether pod's Ready condition is true, and whether it
// has been for minReadySeconds at now; when ready but not yet available,
// wait is how long until it is.
func availability(pod *corev1.Pod, minReadySeconds int32, now time.Time) (ready, available bool, wait time.Duration) {
	var since time.Time
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			ready, since = c.Status == corev1.ConditionTrue, c.LastTransitionTime.Time
		}
	}
	if !ready || minReadySeconds <= 0 || since.IsZero() {
		return ready, ready, 0
	}
	at := since.Add(time.Duration(minReadySeconds) * time.Second)
	if !now.Before(at) {
		return true, true, 0
	}
	return true, false, at.Sub(now)
}
