package job

import (
	"sort"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels, annotations and the finalizer a Job's pods carry.
const (
	// TrackingFinalizer holds a finished pod until the controller has
	// counted it in the Job's status.
	TrackingFinalizer = "batch.kubernetes.io/job-tracking"
	// CompletionIndexKey is the pod's index in an Indexed Job (annotation
	// and label).
	CompletionIndexKey = "batch.kubernetes.io/job-completion-index"
	// ManagedByDefault is spec.managedBy's value (or its absence) that this
	// controller handles.
	ManagedByDefault = "kubernetes.io/job-controller"
)

// newPod builds a pod of job from its template: the template's labels
// and annotations, the tracking finalizer, a controller ownerReference,
// and for an Indexed Job (index >= 0) the completion index annotation and
// label, the name prefix <job>-<index>- and the hostname <job>-<index>.
func newPod(job *batchv1.Job, index int) *corev1.Pod {
	tmpl := job.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       job.Namespace,
			GenerateName:    job.Name + "-",
			Labels:          tmpl.Labels,
			Annotations:     tmpl.Annotations,
			Finalizers:      []string{TrackingFinalizer},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec: tmpl.Spec,
	}
	if index >= 0 {
		ix := strconv.Itoa(index)
		if pod.Labels == nil {
			pod.Labels = map[string]string{}
		}
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Labels[CompletionIndexKey] = ix
		pod.Annotations[CompletionIndexKey] = ix
		pod.GenerateName = job.Name + "-" + ix + "-"
		if pod.Spec.Hostname == "" {
			pod.Spec.Hostname = job.Name + "-" + ix
		}
	}
	return pod
}

// podIndex is an Indexed Job pod's completion index, or -1 when it has
// none or a malformed one.
func podIndex(p *corev1.Pod) int {
	v, ok := p.Annotations[CompletionIndexKey]
	if !ok {
		v, ok = p.Labels[CompletionIndexKey]
	}
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

func hasFinalizer(p *corev1.Pod) bool {
	for _, f := range p.Finalizers {
		if f == TrackingFinalizer {
			return true
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// finishTime is when a finished pod finished: its containers' latest
// termination, else the latest condition change, else its deletion or
// creation time.
func finishTime(p *corev1.Pod) time.Time {
	var t time.Time
	for _, cs := range p.Status.ContainerStatuses {
		if term := cs.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if !t.IsZero() {
		return t
	}
	for _, c := range p.Status.Conditions {
		if c.LastTransitionTime.After(t) {
			t = c.LastTransitionTime.Time
		}
	}
	if !t.IsZero() {
		return t
	}
	if p.DeletionTimestamp != nil {
		return p.DeletionTimestamp.Time
	}
	return p.CreationTimestamp.Time
}

// restarts sums the container restarts of a pod (for restartPolicy
// OnFailure, where failures restart containers in place).
func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, cs := range p.Status.InitContainerStatuses {
		n += cs.RestartCount
	}
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}

// sortForDeletion orders active pods so the cheapest to lose come first:
// unscheduled before scheduled, pending before running, not ready before
// ready, newer before older (then by name, for a stable order).
func sortForDeletion(pods []*corev1.Pod) {
	rank := func(p *corev1.Pod) int {
		switch {
		case p.Spec.NodeName == "":
			return 0
		case p.Status.Phase == corev1.PodPending || p.Status.Phase == "":
			return 1
		case !podReady(p):
			return 2
		}
		return 3
	}
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra < rb
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.After(b.CreationTimestamp.Time)
		}
		return a.Name < b.Name
	})
}
