package deployment

import (
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations and labels a Deployment and its ReplicaSets carry, as
// Kubernetes names them; kubectl rollout history and undo read them.
const (
	// LabelPodTemplateHash tells a Deployment's ReplicaSets (and their pods)
	// apart: a hash of the pod template, added to each ReplicaSet's
	// selector, labels and template labels.
	LabelPodTemplateHash = appsv1.DefaultDeploymentUniqueLabelKey
	// AnnotationRevision numbers a ReplicaSet's template among its
	// Deployment's (1, 2, ...); the Deployment carries its current one.
	AnnotationRevision = "deployment.kubernetes.io/revision"
	// AnnotationRevisionHistory lists the earlier revisions a ReplicaSet
	// had before a rollback made it current again ("1,3").
	AnnotationRevisionHistory = "deployment.kubernetes.io/revision-history"
	// AnnotationDesiredReplicas is the Deployment's replicas when the
	// ReplicaSet was last scaled; a difference marks a scaling event.
	AnnotationDesiredReplicas = "deployment.kubernetes.io/desired-replicas"
	// AnnotationMaxReplicas is replicas + maxSurge at the same moment; the
	// base of proportional scaling.
	AnnotationMaxReplicas = "deployment.kubernetes.io/max-replicas"
	// AnnotationChangeCause is the user's reason for a change, copied from
	// the Deployment to its new ReplicaSet (kubectl rollout history shows
	// it).
	AnnotationChangeCause = "kubernetes.io/change-cause"

	annotationRollbackTo = "deprecated.deployment.rollback.to"

	// maxRevisionHistoryChars bounds AnnotationRevisionHistory.
	maxRevisionHistoryChars = 2000
)

// notCopied: a Deployment annotation its ReplicaSets do not inherit.
func notCopied(k string) bool {
	switch k {
	case corev1.LastAppliedConfigAnnotation, AnnotationRevision, AnnotationRevisionHistory,
		AnnotationDesiredReplicas, AnnotationMaxReplicas, annotationRollbackTo:
		return true
	}
	return false
}

// Revision is o's revision annotation, 0 when absent or not a number.
func Revision(o metav1.Object) int64 {
	v, err := strconv.ParseInt(o.GetAnnotations()[AnnotationRevision], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

func maxRevision(rses []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rses {
		m = max(m, Revision(rs))
	}
	return m
}

func setAnnotation(o metav1.Object, k, v string) bool {
	a := o.GetAnnotations()
	if cur, ok := a[k]; ok && cur == v {
		return false
	}
	if a == nil {
		a = map[string]string{}
	}
	a[k] = v
	o.SetAnnotations(a)
	return true
}

// copyAnnotations copies d's annotations (but notCopied) onto rs; it
// reports a change. Annotations rs has and d has not are kept.
func copyAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	changed := false
	for k, v := range d.Annotations {
		if !notCopied(k) && setAnnotation(rs, k, v) {
			changed = true
		}
	}
	return changed
}

// setNewRSAnnotations makes rs the Deployment's current ReplicaSet at
// revision rev: d's annotations copied; the revision raised to rev (never
// lowered), the one it replaces appended to the revision history (a
// rollback); for a ReplicaSet about to be created, the replicas
// annotations. It reports a change.
func setNewRSAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, rev int64, creating bool, maxSurge int32) bool {
	changed := copyAnnotations(d, rs)
	old, had := rs.Annotations[AnnotationRevision]
	oldRev, err := strconv.ParseInt(old, 10, 64)
	if had && err != nil {
		return changed // not ours to interpret
	}
	if oldRev < rev {
		setAnnotation(rs, AnnotationRevision, strconv.FormatInt(rev, 10))
		changed = true
		if had {
			setAnnotation(rs, AnnotationRevisionHistory, appendHistory(rs.Annotations[AnnotationRevisionHistory], old))
		}
	}
	if creating && setReplicasAnnotations(rs, replicas(d), replicas(d)+maxSurge) {
		changed = true
	}
	return changed
}

// appendHistory appends rev to a comma-separated history, dropping the
// oldest entries to stay within maxRevisionHistoryChars.
func appendHistory(history, rev string) string {
	var parts []string
	if history != "" {
		parts = strings.Split(history, ",")
	}
	parts = append(parts, rev)
	for len(parts) > 1 && len(strings.Join(parts, ",")) > maxRevisionHistoryChars {
		parts = parts[1:]
	}
	return strings.Join(parts, ",")
}

// setReplicasAnnotations records the Deployment's replicas and
// replicas+maxSurge on rs; it reports a change.
func setReplicasAnnotations(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	a := setAnnotation(rs, AnnotationDesiredReplicas, strconv.Itoa(int(desired)))
	b := setAnnotation(rs, AnnotationMaxReplicas, strconv.Itoa(int(maxReplicas)))
	return a || b
}

func int32Annotation(rs *appsv1.ReplicaSet, k string) (int32, bool) {
	v, ok := rs.Annotations[k]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}
