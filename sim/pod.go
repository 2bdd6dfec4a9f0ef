package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The pod state machine. decide is a pure function of a pod (its spec,
// annotations and the status the simulator wrote before), the IPs it may
// have and the time. Every state carries the times it started in the
// pod's status, so a restarted simulator carries on from what the API
// holds, and a late wake-up catches up (a container whose run ended while
// the simulator was down is seen to have exited then). Timestamps are
// whole seconds, as the API stores them, so that what decide writes is
// what it reads back and a second call at the same time changes nothing.

// podInput is what decide needs besides the pod.
type podInput struct {
	now time.Time
	// hostIPs are the node's addresses.
	hostIPs []string
	// podIPs are the IPs the pod gets when its status has none yet (the
	// node's addresses for a hostNetwork pod); empty when none can be had.
	podIPs []string
	// backoff and maxBackoff shape CrashLoopBackOff.
	backoff, maxBackoff time.Duration
}

// podPlan is what to do with a pod.
type podPlan struct {
	// status to write; nil when unchanged.
	status *corev1.PodStatus
	// remove: the pod was deleted and has stopped: delete it with grace 0.
	remove bool
	// needIPs: the pod cannot start before it gets an IP.
	needIPs bool
	// terminal: the pod has finished (or finishes with status); its IPs
	// can go back to the pool.
	terminal bool
	// wake: when the pod's state changes next by itself; zero for never.
	wake time.Time
}

// Container states' reasons, as kubelet's.
const (
	reasonContainerCreating = "ContainerCreating"
	reasonPodInitializing   = "PodInitializing"
	reasonCrashLoopBackOff  = "CrashLoopBackOff"
	reasonCompleted         = "Completed"
	reasonError             = "Error"
	reasonDeadlineExceeded  = "DeadlineExceeded"
	reasonPodCompleted      = "PodCompleted"
	exitCodeKilled          = 137
	maxCatchUpSteps         = 10000
)

// stamp is t as the API stores it: whole seconds, no monotonic reading.
func stamp(t time.Time) metav1.Time { return metav1.NewTime(t.Truncate(time.Second)) }

// isTerminal: the pod has Succeeded or Failed.
func isTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// decide plans the next step of pod, scripted by b.
func decide(pod *corev1.Pod, b behavior, in podInput) podPlan {
	now := in.now
	m := machine{pod: pod, b: b, in: in, now: now}
	if dt := pod.DeletionTimestamp; dt != nil {
		return m.deleted(dt.Time)
	}
	if isTerminal(pod) {
		return podPlan{terminal: true}
	}

	st := pod.Status.DeepCopy()
	nowT := stamp(now)
	if len(st.PodIPs) == 0 && st.PodIP == "" {
		if len(in.podIPs) == 0 {
			return podPlan{needIPs: true}
		}
		st.PodIP, st.PodIPs = in.podIPs[0], nil
		for _, ip := range in.podIPs {
			st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
		}
	}
	if len(in.hostIPs) > 0 && st.HostIP == "" {
		st.HostIP, st.HostIPs = in.hostIPs[0], nil
		for _, ip := range in.hostIPs {
			st.HostIPs = append(st.HostIPs, corev1.HostIP{IP: ip})
		}
	}
	if st.StartTime == nil {
		st.StartTime = &nowT
	}
	start := st.StartTime.Time
	setCondition(st, corev1.PodScheduled, corev1.ConditionTrue, "", "", *st.StartTime)

	if d := pod.Spec.ActiveDeadlineSeconds; d != nil {
		deadline := start.Add(time.Duration(*d) * time.Second)
		if !now.Before(deadline) {
			m.deadlineExceeded(st, stamp(deadline))
			return m.plan(st, true)
		}
		m.soon(deadline)
	}

	startAt := stamp(start.Add(b.startAfter))
	started := !now.Before(startAt.Time)
	if !started {
		m.soon(startAt.Time)
	}
	// Init containers: the ordinary ones ran and completed at startAt;
	// restartable ones (sidecars) run from then on.
	initStatuses := make([]corev1.ContainerStatus, len(pod.Spec.InitContainers))
	var incomplete []string
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := m.containerStatus(c, st.InitContainerStatuses)
		switch {
		case !started:
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reasonPodInitializing}}
			cs.Ready, cs.Started = false, ptr(false)
			incomplete = append(incomplete, c.Name)
		case isSidecar(c):
			if cs.State.Running == nil {
				cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: startAt}}
				cs.ContainerID = containerID(pod.UID, c.Name, cs.RestartCount)
			}
			m.setReady(&cs, cs.State.Running.StartedAt.Time, b.initReadyAfter[i])
		default:
			cs.ContainerID = containerID(pod.UID, c.Name, 0)
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 0, Reason: reasonCompleted, StartedAt: startAt, FinishedAt: startAt, ContainerID: cs.ContainerID}}
			cs.Ready, cs.Started = true, ptr(false)
		}
		initStatuses[i] = cs
	}
	statuses := make([]corev1.ContainerStatus, len(pod.Spec.Containers))
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := m.containerStatus(c, st.ContainerStatuses)
		if started {
			m.advance(&cs, startAt, b.readyAfter[i])
		} else {
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reasonContainerCreating}}
			cs.Ready, cs.Started = false, ptr(false)
		}
		statuses[i] = cs
	}
	st.InitContainerStatuses, st.ContainerStatuses = nilIfEmpty(initStatuses), nilIfEmpty(statuses)

	// Phase: finished when every container has finished for good.
	done, failed := len(statuses) > 0, false
	var finished metav1.Time
	for _, cs := range statuses {
		t := cs.State.Terminated
		if t == nil {
			done = false
			break
		}
		failed = failed || t.ExitCode != 0
		if t.FinishedAt.After(finished.Time) {
			finished = t.FinishedAt
		}
	}
	if done {
		st.Phase = corev1.PodSucceeded
		if failed {
			st.Phase = corev1.PodFailed
		}
		m.stopSidecars(st, finished, 0, reasonCompleted)
		setTerminalConditions(st, nowT)
		return m.plan(st, true)
	}
	st.Phase = corev1.PodPending
	if started {
		st.Phase = corev1.PodRunning
	}
	setCondition(st, corev1.PodReadyToStartContainers, corev1.ConditionTrue, "", "", nowT)
	if len(incomplete) > 0 {
		setCondition(st, corev1.PodInitialized, corev1.ConditionFalse, "ContainersNotInitialized",
			fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incomplete, " ")), nowT)
	} else {
		setCondition(st, corev1.PodInitialized, corev1.ConditionTrue, "", "", nowT)
	}
	var unready []string
	for _, cs := range append(append([]corev1.ContainerStatus(nil), initStatuses...), statuses...) {
		if !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	if len(unready) > 0 {
		msg := fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
		setCondition(st, corev1.ContainersReady, corev1.ConditionFalse, "ContainersNotReady", msg, nowT)
		setCondition(st, corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", msg, nowT)
	} else {
		setCondition(st, corev1.ContainersReady, corev1.ConditionTrue, "", "", nowT)
		if msg := readinessGatesMessage(pod, st); msg != "" {
			setCondition(st, corev1.PodReady, corev1.ConditionFalse, "ReadinessGatesNotReady", msg, nowT)
		} else {
			setCondition(st, corev1.PodReady, corev1.ConditionTrue, "", "", nowT)
		}
	}
	return m.plan(st, false)
}

// deleted plans a deleted pod (deletionTimestamp dt): its containers stop
// in b.termination (at most the grace period); then, as kubelet does, its
// final status is written (phase Failed, the running containers killed,
// exit code 137, unless it had finished) and the pod is deleted with grace
// 0. A pod already asked to go with grace 0 (it waits for finalizers) is
// left alone.
func (m *machine) deleted(dt time.Time) podPlan {
	pod := m.pod
	g := pod.DeletionGracePeriodSeconds
	if g != nil && *g == 0 && isTerminal(pod) {
		return podPlan{terminal: true}
	}
	stop := dt
	if g != nil {
		if t := dt.Add(-time.Duration(*g) * time.Second).Add(m.b.termination); t.Before(stop) {
			stop = t
		}
	}
	if !isTerminal(pod) && m.now.Before(stop) {
		return podPlan{wake: stop}
	}
	p := podPlan{remove: true, terminal: true}
	if !isTerminal(pod) {
		st := pod.Status.DeepCopy()
		at := stamp(stop)
		if at.After(m.now) {
			at = stamp(m.now)
		}
		for i := range st.ContainerStatuses {
			cs := &st.ContainerStatuses[i]
			kill(cs, at, exitCodeKilled, reasonError)
			if cs.State.Waiting != nil {
				cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: exitCodeKilled, Reason: reasonError, FinishedAt: at}}
			}
		}
		m.stopSidecars(st, at, exitCodeKilled, reasonError)
		st.Phase = corev1.PodFailed
		setTerminalConditions(st, stamp(m.now))
		p.status = st
	}
	return p
}

// machine holds one decide call's inputs and its earliest wake-up.
type machine struct {
	pod  *corev1.Pod
	b    behavior
	in   podInput
	now  time.Time
	wake time.Time
}

// soon records t as a wake-up if it is in the future and the earliest.
func (m *machine) soon(t time.Time) {
	if t.After(m.now) && (m.wake.IsZero() || t.Before(m.wake)) {
		m.wake = t
	}
}

func (m *machine) plan(st *corev1.PodStatus, terminal bool) podPlan {
	p := podPlan{terminal: terminal, wake: m.wake}
	if terminal {
		p.wake = time.Time{}
	}
	if !equality.Semantic.DeepEqual(st, &m.pod.Status) {
		p.status = st
	}
	return p
}

// containerStatus is c's recorded status (by name), or a fresh one.
func (m *machine) containerStatus(c *corev1.Container, recorded []corev1.ContainerStatus) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name}
	for i := range recorded {
		if recorded[i].Name == c.Name {
			cs = *recorded[i].DeepCopy()
			break
		}
	}
	cs.Image, cs.ImageID = c.Image, imageID(c.Image)
	return cs
}

// advance moves a container from its recorded state to now: first start
// at startAt, runs that end after b.run, restarts after back-off.
func (m *machine) advance(cs *corev1.ContainerStatus, startAt metav1.Time, readyAfter time.Duration) {
	b := m.b
	for range maxCatchUpSteps {
		switch {
		case cs.State.Terminated != nil: // finished for good
			cs.Ready, cs.Started = false, ptr(false)
			return
		case cs.State.Running != nil:
			started := cs.State.Running.StartedAt
			if b.exits {
				end := stamp(started.Add(b.run))
				if !m.now.Before(end.Time) {
					term := &corev1.ContainerStateTerminated{ExitCode: b.exitCode, Reason: exitReason(b.exitCode),
						StartedAt: started, FinishedAt: end, ContainerID: cs.ContainerID}
					if restarts(m.pod.Spec.RestartPolicy, b.exitCode) {
						cs.LastTerminationState = corev1.ContainerState{Terminated: term}
						cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reasonCrashLoopBackOff}}
					} else {
						cs.State = corev1.ContainerState{Terminated: term}
					}
					continue
				}
				m.soon(end.Time)
			}
			m.setReady(cs, started.Time, readyAfter)
			return
		default: // waiting: to start, or to restart after back-off
			last := cs.LastTerminationState.Terminated
			if last == nil {
				cs.ContainerID = containerID(m.pod.UID, cs.Name, cs.RestartCount)
				cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: startAt}}
				continue
			}
			delay := backoffDelay(cs.RestartCount, m.in.backoff, m.in.maxBackoff)
			at := stamp(last.FinishedAt.Add(delay))
			if !m.now.Before(at.Time) {
				cs.RestartCount++
				cs.ContainerID = containerID(m.pod.UID, cs.Name, cs.RestartCount)
				cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at}}
				continue
			}
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reasonCrashLoopBackOff,
				Message: fmt.Sprintf("back-off %v restarting failed container=%s pod=%s_%s(%s)",
					delay, cs.Name, m.pod.Name, m.pod.Namespace, m.pod.UID)}}
			cs.Ready, cs.Started = false, ptr(false)
			m.soon(at.Time)
			return
		}
	}
	// A very long catch-up: carry on from here at the next wake-up.
	m.soon(m.now.Add(time.Second))
}

// setReady sets a running container's readiness.
func (m *machine) setReady(cs *corev1.ContainerStatus, started time.Time, readyAfter time.Duration) {
	cs.Started = ptr(true)
	readyAt := started.Add(readyAfter)
	cs.Ready = !m.b.neverReady && !m.now.Before(readyAt)
	if !m.b.neverReady {
		m.soon(readyAt)
	}
}

// deadlineExceeded fails the pod: its activeDeadlineSeconds passed at
// deadline, and its running containers were killed then.
func (m *machine) deadlineExceeded(st *corev1.PodStatus, deadline metav1.Time) {
	for i := range st.ContainerStatuses {
		kill(&st.ContainerStatuses[i], deadline, exitCodeKilled, reasonError)
	}
	m.stopSidecars(st, deadline, exitCodeKilled, reasonError)
	st.Phase = corev1.PodFailed
	st.Reason = reasonDeadlineExceeded
	st.Message = "Pod was active on the node longer than the specified deadline"
	setTerminalConditions(st, stamp(m.now))
}

// stopSidecars ends the running restartable init containers at t.
func (m *machine) stopSidecars(st *corev1.PodStatus, t metav1.Time, code int32, reason string) {
	for i := range st.InitContainerStatuses {
		kill(&st.InitContainerStatuses[i], t, code, reason)
	}
}

// kill ends a running container at t.
func kill(cs *corev1.ContainerStatus, t metav1.Time, code int32, reason string) {
	if r := cs.State.Running; r != nil {
		cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, Reason: reason, StartedAt: r.StartedAt, FinishedAt: t, ContainerID: cs.ContainerID}}
		cs.Ready, cs.Started = false, ptr(false)
	}
}

// setTerminalConditions: a finished pod is not ready, and its sandbox is
// gone.
func setTerminalConditions(st *corev1.PodStatus, now metav1.Time) {
	setCondition(st, corev1.PodReadyToStartContainers, corev1.ConditionFalse, "", "", now)
	setCondition(st, corev1.PodInitialized, corev1.ConditionTrue, reasonPodCompleted, "", now)
	setCondition(st, corev1.ContainersReady, corev1.ConditionFalse, reasonPodCompleted, "", now)
	setCondition(st, corev1.PodReady, corev1.ConditionFalse, reasonPodCompleted, "", now)
}

// setCondition sets a condition's status, reason and message; its
// lastTransitionTime moves to now only when its status changes.
func setCondition(st *corev1.PodStatus, t corev1.PodConditionType, s corev1.ConditionStatus, reason, msg string, now metav1.Time) {
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != s {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = s, reason, msg
		return
	}
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: now})
}

// readinessGatesMessage says which readiness gate is not True; "" when all
// are.
func readinessGatesMessage(pod *corev1.Pod, st *corev1.PodStatus) string {
	for _, g := range pod.Spec.ReadinessGates {
		found := false
		for _, c := range st.Conditions {
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

// restarts: whether a container that exited with code is restarted.
func restarts(p corev1.RestartPolicy, code int32) bool {
	switch p {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return code != 0
	}
	return true
}

// backoffDelay is the wait before restart number restarts+1: none for the
// first, then base doubling up to max.
func backoffDelay(restarts int32, base, max time.Duration) time.Duration {
	if restarts <= 0 {
		return 0
	}
	d := base
	for i := int32(1); i < restarts && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

func exitReason(code int32) string {
	if code == 0 {
		return reasonCompleted
	}
	return reasonError
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// containerID names one run of a container: "sim://" and a hash of the
// pod, the container and the run.
func containerID(uid types.UID, name string, run int32) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s/%s/%d", uid, name, run))
	return "sim://" + hex.EncodeToString(h[:16])
}

// imageID is the image's digest as a runtime reports it: the image and a
// hash of its name.
func imageID(image string) string {
	h := sha256.Sum256([]byte(image))
	repo := image
	if i := strings.LastIndex(repo, "@"); i >= 0 {
		repo = repo[:i]
	} else if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo + "@sha256:" + hex.EncodeToString(h[:])
}

func nilIfEmpty(s []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(s) == 0 {
		return nil
	}
	return s
}

func ptr[T any](v T) *T { return &v }
