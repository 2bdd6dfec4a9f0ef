package pods

import (
	"fmt"
	"strings"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Reasons and messages as kubelet writes them.
const (
	reasonContainerCreating  = "ContainerCreating"
	reasonPodInitializing    = "PodInitializing"
	reasonCrashLoopBackOff   = "CrashLoopBackOff"
	reasonErrImagePull       = "ErrImagePull"
	reasonImagePullBackOff   = "ImagePullBackOff"
	reasonCompleted          = "Completed"
	reasonError              = "Error"
	reasonDeadlineExceeded   = "DeadlineExceeded"
	reasonPodCompleted       = "PodCompleted"
	reasonStatusUnknown      = "ContainerStatusUnknown"
	reasonContainersNotReady = "ContainersNotReady"
	reasonNotInitialized     = "ContainersNotInitialized"
	messageDeadline          = "Pod was active on the node longer than the specified deadline"
	messageStatusUnknown     = "The container could not be located when the pod was terminated"
	containerIDPrefix        = "containerd://"
	exitCodeKilled           = 137
)

// stamp is t as the API stores it: whole seconds, no monotonic reading,
// so that what is written compares equal to what is read back.
func stamp(t time.Time) metav1.Time {
	if t.IsZero() {
		return metav1.Time{}
	}
	return metav1.NewTime(t.Truncate(time.Second))
}

// computeStatus is the pod's status as kubelet reports it, from the same
// snapshot decide saw (after its plan was carried out). Conditions keep
// their lastTransitionTime unless their status changes; conditions not
// kubelet's (PodScheduled, readiness gates, DisruptionTarget) are kept.
func computeStatus(s *snapshot) corev1.PodStatus {
	pod := s.pod
	a := analyze(s)
	old := &pod.Status
	now := stamp(s.now)
	st := corev1.PodStatus{
		QOSClass:           qosClass(pod),
		ObservedGeneration: pod.Generation,
		NominatedNodeName:  old.NominatedNodeName,
	}
	if s.hostIP.IsValid() {
		st.HostIP = s.hostIP.String()
		st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	} else {
		st.HostIP, st.HostIPs = old.HostIP, old.HostIPs
	}
	if s.podIP.IsValid() {
		st.PodIP = s.podIP.String()
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	} else {
		st.PodIP, st.PodIPs = old.PodIP, old.PodIPs
	}
	startTime := stamp(a.startTime)
	st.StartTime = &startTime

	terminal := a.terminal() || (a.deleted && !a.anyRunning)
	for _, v := range a.inits {
		st.InitContainerStatuses = append(st.InitContainerStatuses, containerStatus(s, a, v, terminal))
	}
	for _, v := range a.regular {
		st.ContainerStatuses = append(st.ContainerStatuses, containerStatus(s, a, v, terminal))
	}

	st.Phase = phase(s, a)
	if a.wasTerminal {
		st.Phase, st.Reason, st.Message = old.Phase, old.Reason, old.Message
	} else if a.deadlineExceeded {
		st.Reason, st.Message = reasonDeadlineExceeded, messageDeadline
	}

	// Conditions in kubelet's order, then the others kept.
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) {
		status := corev1.ConditionFalse
		if ok {
			status = corev1.ConditionTrue
		}
		c := corev1.PodCondition{Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: now}
		for _, o := range old.Conditions {
			if o.Type == t && o.Status == status {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		st.Conditions = append(st.Conditions, c)
	}
	done := isTerminalPhase(st.Phase)
	cond(corev1.PodReadyToStartContainers, s.sandboxReady && !done, "", "")
	switch {
	case done && st.Phase == corev1.PodSucceeded:
		cond(corev1.PodInitialized, true, reasonPodCompleted, "")
	case a.initialized || done:
		cond(corev1.PodInitialized, true, "", "")
	default:
		cond(corev1.PodInitialized, false, reasonNotInitialized,
			fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(a.incomplete, " ")))
	}
	var unready []string
	for i, v := range a.inits {
		if isSidecar(v.c) && !st.InitContainerStatuses[i].Ready {
			unready = append(unready, v.c.Name)
		}
	}
	for i, v := range a.regular {
		if !st.ContainerStatuses[i].Ready {
			unready = append(unready, v.c.Name)
		}
	}
	switch {
	case done && st.Phase == corev1.PodSucceeded:
		cond(corev1.PodReady, false, reasonPodCompleted, "")
		cond(corev1.ContainersReady, false, reasonPodCompleted, "")
	case len(unready) > 0:
		msg := fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
		cond(corev1.PodReady, false, reasonContainersNotReady, msg)
		cond(corev1.ContainersReady, false, reasonContainersNotReady, msg)
	default:
		if msg := readinessGatesMessage(pod); msg != "" {
			cond(corev1.PodReady, false, "ReadinessGatesNotReady", msg)
		} else {
			cond(corev1.PodReady, true, "", "")
		}
		cond(corev1.ContainersReady, true, "", "")
	}
	for _, o := range old.Conditions {
		if !kubeletCondition(o.Type) {
			st.Conditions = append(st.Conditions, o)
		}
	}
	return st
}

func kubeletCondition(t corev1.PodConditionType) bool {
	switch t {
	case corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady:
		return true
	}
	return false
}

// phase is the pod's phase, as kubelet derives it from its containers.
func phase(s *snapshot, a *analysis) corev1.PodPhase {
	if a.failedInit || a.deadlineExceeded {
		return corev1.PodFailed
	}
	if a.deleted && !a.anyRunning {
		// Stopped for its deletion: Succeeded only if every container
		// ended well.
		for _, v := range a.regular {
			if !v.succeeded() {
				return corev1.PodFailed
			}
		}
		return corev1.PodSucceeded
	}
	if !a.initialized {
		return corev1.PodPending
	}
	waiting, running, stopped, succeeded, restarting := 0, 0, 0, 0, 0
	for _, v := range a.regular {
		switch {
		case v.running():
			running++
		case v.exited():
			stopped++
			if v.succeeded() {
				succeeded++
			}
			if v.restart {
				restarting++
			}
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case restarting > 0:
		return corev1.PodRunning
	case stopped == succeeded:
		return corev1.PodSucceeded
	}
	return corev1.PodFailed
}

// containerStatus is one container's status entry.
func containerStatus(s *snapshot, a *analysis, v *cview, terminal bool) corev1.ContainerStatus {
	c := v.c
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: ptr(false)}
	l, prev := v.latest(), v.previous()
	if l != nil {
		cs.RestartCount = int32(l.Attempt)
		cs.ContainerID = containerIDPrefix + l.ID
		if l.Image != "" {
			cs.Image = l.Image
		}
		cs.ImageID = l.ImageRef
	}
	switch {
	case l == nil || v.pending():
		reason := reasonContainerCreating
		if v.init || !a.initialized {
			reason = reasonPodInitializing
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason}
		if terminal {
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: exitCodeKilled, Reason: reasonStatusUnknown, Message: messageStatusUnknown}}
		}
	case v.running():
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: stamp(l.StartedAt)}
		if prev != nil {
			cs.LastTerminationState.Terminated = terminated(prev)
		}
		started := startedByProbe(c, l.ID, s.probes)
		cs.Started = ptr(started)
		cs.Ready = readyByProbe(c, l.ID, s.probes) && !terminal && (!v.init || isSidecar(c))
	case v.restart && !terminal:
		cs.LastTerminationState.Terminated = terminated(l)
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reasonCrashLoopBackOff,
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", v.delay, c.Name, podDesc(s.pod))}
		if !s.now.Before(v.restartAt) {
			// Due now: the restart is under way.
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reasonContainerCreating}
		}
	default:
		cs.State.Terminated = terminated(l)
		if prev != nil {
			cs.LastTerminationState.Terminated = terminated(prev)
		}
		cs.Ready = v.init && !isSidecar(c) && l.ExitCode == 0
	}
	if f := v.failure; f != nil && !terminal && !v.running() {
		w := &corev1.ContainerStateWaiting{Reason: f.Reason, Message: f.Message}
		if f.Reason == reasonErrImagePull && f.Shown {
			w = &corev1.ContainerStateWaiting{Reason: reasonImagePullBackOff,
				Message: fmt.Sprintf("Back-off pulling image %q: %s: %s", f.Image, reasonErrImagePull, f.Message)}
		}
		if l != nil && cs.State.Terminated != nil {
			cs.LastTerminationState.Terminated = cs.State.Terminated
		}
		cs.State = corev1.ContainerState{Waiting: w}
	}
	return cs
}

// terminated is an exited instance's terminated state.
func terminated(i *runtime.ContainerStatus) *corev1.ContainerStateTerminated {
	reason := i.Reason
	if reason == "" {
		reason = reasonCompleted
		if i.ExitCode != 0 {
			reason = reasonError
		}
	}
	return &corev1.ContainerStateTerminated{
		ExitCode: i.ExitCode, Reason: reason, Message: i.Message,
		StartedAt: stamp(i.StartedAt), FinishedAt: stamp(i.FinishedAt), ContainerID: containerIDPrefix + i.ID,
	}
}

// readinessGatesMessage says which readiness gate is not True; "" when
// all are.
func readinessGatesMessage(pod *corev1.Pod) string {
	for _, g := range pod.Spec.ReadinessGates {
		found := false
		for _, c := range pod.Status.Conditions {
			if c.Type != g.ConditionType {
				continue
			}
			found = true
			if c.Status != corev1.ConditionTrue {
				return fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %s", g.ConditionType, c.Status)
			}
		}
		if !found {
			return fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", g.ConditionType)
		}
	}
	return ""
}

// qosClass is the pod's QoS class as Kubernetes defines it: BestEffort
// when no container asks for or limits cpu or memory; Guaranteed when
// every container limits both and requests equal limits (or are unset);
// Burstable otherwise.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	all := append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
	any, guaranteed := false, true
	for i := range all {
		r := all[i].Resources
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := r.Requests[name]
			lim, hasLim := r.Limits[name]
			if (hasReq && !req.IsZero()) || (hasLim && !lim.IsZero()) {
				any = true
			}
			if !hasLim || lim.IsZero() {
				guaranteed = false
				continue
			}
			if hasReq && req.Cmp(lim) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

func ptr[T any](v T) *T { return &v }
