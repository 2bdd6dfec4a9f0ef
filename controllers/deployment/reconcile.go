package deployment

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
)

// Event reasons on a Deployment, as Kubernetes'.
const (
	EventScalingReplicaSet      = "ScalingReplicaSet"
	EventSelectingAll           = "SelectingAll"
	EventReplicaSetCreateError  = "ReplicaSetCreateError"
	EventProgressDeadlineExceed = "ProgressDeadlineExceeded"
)

// Input is the snapshot one sync decides from.
type Input struct {
	// Deployment as the informer has it; Reconcile does not modify it.
	Deployment *appsv1.Deployment
	// ReplicaSets the Deployment controls (after adoption and release).
	ReplicaSets []*appsv1.ReplicaSet
	// Pods of those ReplicaSets, by the controlling ReplicaSet's UID;
	// only Recreate reads them (it waits for every old pod to be gone).
	Pods map[types.UID][]*corev1.Pod
	// PodBounds is, per ReplicaSet UID, an upper bound of the pods that
	// ReplicaSet may have right now when that can exceed its
	// spec.replicas (it was scaled down and has not caught up). A rolling
	// update counts max(spec.replicas, bound) against maxSurge. Absent:
	// spec.replicas.
	PodBounds map[types.UID]int32
	Now       time.Time
}

// Event is one Event to record on the Deployment once its step succeeds.
type Event struct {
	Type, Reason, Message string
}

// Update is one ReplicaSet write (scale or annotations), with the Events
// that explain it.
type Update struct {
	RS     *appsv1.ReplicaSet
	Events []Event
}

// Plan is one sync's writes, to be done in order, stopping at the first
// failure: Create, Updates, Deletes, then Deployment (through /status;
// its annotations and status). The next sync plans afresh from what the
// informers then show.
type Plan struct {
	// Create is a new ReplicaSet for the current template, or nil.
	Create       *appsv1.ReplicaSet
	CreateEvents []Event
	// Updates are ReplicaSets to write.
	Updates []Update
	// Deletes are old ReplicaSets beyond revisionHistoryLimit.
	Deletes []*appsv1.ReplicaSet
	// Deployment is the Deployment with its new status and revision
	// annotation, or nil when neither changed.
	Deployment *appsv1.Deployment
	// StatusEvents are recorded after the Deployment write.
	StatusEvents []Event
	// RequeueAfter asks for another sync then (a progress deadline).
	RequeueAfter time.Duration
}

// planner is one Reconcile's working state: copies of the Deployment and
// its ReplicaSets that the steps modify, and the writes so far.
type planner struct {
	in      Input
	d       *appsv1.Deployment
	rses    []*appsv1.ReplicaSet
	surge   int32
	unavail int32

	created      *appsv1.ReplicaSet
	createEvents []Event
	dirty        []*appsv1.ReplicaSet
	events       map[*appsv1.ReplicaSet][]Event
	deletes      []*appsv1.ReplicaSet
	statusEvents []Event
}

// Reconcile plans one sync of a Deployment. It is pure: everything it
// knows is in in. The flow follows Kubernetes' deployment controller:
//
//	being deleted        status only
//	paused               (Progressing=Unknown DeploymentPaused) scale + cleanup + status
//	scaling event        proportional scaling + status
//	Recreate             old to 0, wait for their pods, new to replicas
//	RollingUpdate        new up within maxSurge, old down within maxUnavailable
//
// A rollout step that scaled something returns at once with the status;
// the next step waits for the next sync, which sees the result.
func Reconcile(in Input) (Plan, error) {
	if in.Deployment.Spec.Selector == nil {
		return Plan{}, fmt.Errorf("deployment: %s/%s: no selector", in.Deployment.Namespace, in.Deployment.Name)
	}
	surge, unavail, err := Fenceposts(in.Deployment)
	if err != nil {
		return Plan{}, err
	}
	p := &planner{in: in, d: in.Deployment.DeepCopy(), surge: surge, unavail: unavail,
		events: map[*appsv1.ReplicaSet][]Event{}}
	for _, rs := range in.ReplicaSets {
		p.rses = append(p.rses, rs.DeepCopy())
	}
	switch d := p.d; {
	case d.DeletionTimestamp != nil:
		newRS, olds := p.syncRevision(false)
		p.syncStatus(withNew(olds, newRS), newRS)
	case p.collision():
	default:
		p.pausedCondition()
		switch {
		case d.Spec.Paused || p.isScalingEvent():
			p.sync()
		case !isRolling(d):
			p.recreate()
		default:
			p.rolling()
		}
	}
	return p.plan(), nil
}

// plan gathers the writes.
func (p *planner) plan() Plan {
	out := Plan{Create: p.created, CreateEvents: p.createEvents, Deletes: p.deletes, StatusEvents: p.statusEvents}
	for _, rs := range p.dirty {
		out.Updates = append(out.Updates, Update{RS: rs, Events: p.events[rs]})
	}
	orig := p.in.Deployment
	if !apiequality.Semantic.DeepEqual(orig.Status, p.d.Status) || !apiequality.Semantic.DeepEqual(orig.Annotations, p.d.Annotations) {
		out.Deployment = p.d
	}
	out.RequeueAfter = p.requeueAfter()
	return out
}

// collision: a ReplicaSet already has the name the current template
// hashes to, but another template (a hash collision). The collision
// count goes up, which changes the hash; nothing else happens this sync.
func (p *planner) collision() bool {
	if p.findNew() != nil {
		return false
	}
	name := p.d.Name + "-" + TemplateHash(&p.d.Spec.Template, p.d.Status.CollisionCount)
	for _, rs := range p.rses {
		if rs.Name == name {
			n := int32(1)
			if c := p.d.Status.CollisionCount; c != nil {
				n = *c + 1
			}
			p.d.Status.CollisionCount = &n
			return true
		}
	}
	return false
}

// findNew is the ReplicaSet whose template is the Deployment's (the
// oldest, should there be several).
func (p *planner) findNew() *appsv1.ReplicaSet {
	sorted := append([]*appsv1.ReplicaSet(nil), p.rses...)
	byCreation(sorted)
	for _, rs := range sorted {
		if EqualIgnoreHash(&rs.Spec.Template, &p.d.Spec.Template) {
			return rs
		}
	}
	return nil
}

func (p *planner) split() (*appsv1.ReplicaSet, []*appsv1.ReplicaSet) {
	newRS := p.findNew()
	var olds []*appsv1.ReplicaSet
	for _, rs := range p.rses {
		if rs != newRS {
			olds = append(olds, rs)
		}
	}
	return newRS, olds
}

func (p *planner) markDirty(rs *appsv1.ReplicaSet) {
	if rs == p.created {
		return
	}
	for _, x := range p.dirty {
		if x == rs {
			return
		}
	}
	p.dirty = append(p.dirty, rs)
}

// syncRevision finds the new ReplicaSet and brings its revision (and
// the Deployment's) up to date; with create, it makes one when there is
// none.
func (p *planner) syncRevision(create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet) {
	d := p.d
	newRS, olds := p.split()
	rev := maxRevision(olds) + 1
	if newRS != nil {
		changed := setNewRSAnnotations(d, newRS, rev, false, p.surge)
		if newRS.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			newRS.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			changed = true
		}
		if changed {
			p.markDirty(newRS)
		}
		setAnnotation(d, AnnotationRevision, newRS.Annotations[AnnotationRevision])
		if hasProgressDeadline(d) && getCondition(&d.Status, appsv1.DeploymentProgressing) == nil {
			p.setCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonFoundNewRS,
				fmt.Sprintf("Found new replica set %q", newRS.Name))
		}
		return newRS, olds
	}
	if !create {
		return nil, olds
	}
	rs := newReplicaSet(d, TemplateHash(&d.Spec.Template, d.Status.CollisionCount))
	n := p.newRSReplicas(olds, nil)
	rs.Spec.Replicas = &n
	setNewRSAnnotations(d, rs, rev, true, p.surge)
	p.created = rs
	p.rses = append(p.rses, rs)
	p.createEvents = p.scaleEvents(rs.Name, 0, n)
	setAnnotation(d, AnnotationRevision, rs.Annotations[AnnotationRevision])
	if hasProgressDeadline(d) {
		p.setCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewRSCreated,
			fmt.Sprintf("Created new replica set %q", rs.Name))
	}
	return rs, olds
}

func (p *planner) scaleEvents(name string, from, to int32) []Event {
	switch {
	case to > from:
		return []Event{{corev1.EventTypeNormal, EventScalingReplicaSet, fmt.Sprintf("Scaled up replica set %s to %d from %d", name, to, from)}}
	case to < from:
		return []Event{{corev1.EventTypeNormal, EventScalingReplicaSet, fmt.Sprintf("Scaled down replica set %s to %d from %d", name, to, from)}}
	}
	return nil
}

// scaleRS sets rs's replicas to n and its replicas annotations to the
// Deployment's; it reports whether the size changed.
func (p *planner) scaleRS(rs *appsv1.ReplicaSet, n int32) bool {
	from := rsReplicas(rs)
	annotated := setReplicasAnnotations(rs, replicas(p.d), replicas(p.d)+p.surge)
	if from == n && !annotated {
		return false
	}
	rs.Spec.Replicas = &n
	if rs == p.created {
		p.createEvents = p.scaleEvents(rs.Name, 0, n)
	} else {
		p.markDirty(rs)
		p.events[rs] = append(p.events[rs], p.scaleEvents(rs.Name, from, n)...)
	}
	return from != n
}

// isScalingEvent: an active ReplicaSet was last scaled for another
// replicas count than the Deployment's now.
func (p *planner) isScalingEvent() bool {
	for _, rs := range activeRSes(p.rses) {
		if desired, ok := int32Annotation(rs, AnnotationDesiredReplicas); ok && desired != replicas(p.d) {
			return true
		}
	}
	return false
}

// sync is the paused and scaling path: proportional scaling, history
// cleanup when paused, status without progress accounting.
func (p *planner) sync() {
	newRS, olds := p.syncRevision(false)
	p.scale(newRS, olds)
	if p.d.Spec.Paused {
		p.cleanup(olds)
	}
	p.syncStatus(withNew(olds, newRS), newRS)
}

// cleanup deletes the oldest old ReplicaSets beyond revisionHistoryLimit,
// only those with no replicas wanted or left and a status that has seen
// their latest spec.
func (p *planner) cleanup(olds []*appsv1.ReplicaSet) {
	limit := p.d.Spec.RevisionHistoryLimit
	if limit == nil {
		return
	}
	var cleanable []*appsv1.ReplicaSet
	for _, rs := range olds {
		if rs.DeletionTimestamp == nil && rs != p.created {
			cleanable = append(cleanable, rs)
		}
	}
	diff := len(cleanable) - int(*limit)
	if diff <= 0 {
		return
	}
	byRevision(cleanable)
	for _, rs := range cleanable[:diff] {
		if rs.Status.Replicas != 0 || rsReplicas(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		dirty := false
		for _, x := range p.dirty {
			dirty = dirty || x == rs
		}
		if !dirty {
			p.deletes = append(p.deletes, rs)
		}
	}
}
