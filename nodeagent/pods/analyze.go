package pods

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
)

// snapshot is everything decide and computeStatus look at: the pod as the
// API has it, the instances the runtime reports for it, and the worker's
// memory (probe results, back-off streaks, failed starts, the sandbox).
// Both functions are pure: the same snapshot gives the same answer.
type snapshot struct {
	pod *corev1.Pod
	// observed are the pod's container instances, in any order.
	observed []runtime.ContainerStatus
	// probes are the prober's results by instance ID; an instance absent
	// here has had no result yet.
	probes map[string]probeResult
	// streaks: by container name, the attempt that began the current run
	// of quick crashes (0 when unknown). The back-off before a restart
	// grows with the attempts since.
	streaks map[string]int
	// failures: by container name, the start that failed last (image
	// pull, create, start), retried after a back-off.
	failures map[string]startFailure
	// sandboxReady: the network, volumes and pod files are set up.
	sandboxReady bool
	// podIP is the pod's address once the sandbox is ready (the node's
	// for hostNetwork pods); hostIP the node's.
	podIP, hostIP netip.Addr
	now           time.Time
	backoff       backoffConfig
}

// probeResult is what the prober concluded for one running instance.
type probeResult struct {
	// Started: the startup probe succeeded (or there is none).
	Started bool
	// Ready: the readiness probe succeeded last (or there is none).
	Ready bool
	// LivenessFailed / StartupFailed: failureThreshold consecutive
	// failures; the instance is to be killed and restarted.
	LivenessFailed, StartupFailed bool
}

// startFailure is a start of a container that failed before it ran.
type startFailure struct {
	// Reason is the waiting reason while it lasts: ErrImagePull,
	// CreateContainerConfigError, CreateContainerError, RunContainerError.
	Reason, Message string
	// Count of consecutive failures; At the last one.
	Count int
	At    time.Time
	// Shown: a status with Reason was written; further waiting shows
	// ImagePullBackOff for pulls.
	Shown bool
	// Image is the image whose pull failed (for the back-off message).
	Image string
}

// backoffConfig shapes restart and pull back-offs.
type backoffConfig struct {
	// Base is the first delay (10 s), doubling up to Max (5 min); a run of
	// at least Reset (10 min) starts the next streak afresh.
	Base, Max, Reset time.Duration
}

// delay is the wait before restart number n of a streak: none for the
// first, then Base doubling up to Max.
func (b backoffConfig) delay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// failureDelay is the wait after count consecutive failed starts: Base
// after the first, doubling up to Max.
func (b backoffConfig) failureDelay(count int) time.Duration { return b.delay(count) }

// cview is one container of the pod as the runtime shows it.
type cview struct {
	c    *corev1.Container
	init bool
	// instances newest (highest attempt) first.
	instances []runtime.ContainerStatus
	// failure is the pending failed start, if any.
	failure *startFailure
	// restart: the latest instance exited and is to run again; restartAt
	// is when its back-off ends, delay the back-off's length, streak the
	// effective streak start.
	restart   bool
	restartAt time.Time
	delay     time.Duration
	streak    int
}

func (v *cview) latest() *runtime.ContainerStatus {
	if len(v.instances) == 0 {
		return nil
	}
	return &v.instances[0]
}

func (v *cview) previous() *runtime.ContainerStatus {
	if len(v.instances) < 2 {
		return nil
	}
	return &v.instances[1]
}

func (v *cview) running() bool {
	l := v.latest()
	return l != nil && (l.State == runtime.StateRunning || l.State == runtime.StateUnknown)
}

// pending: the latest instance was created but never started (the agent
// stopped in between); it is started, not created anew.
func (v *cview) pending() bool {
	l := v.latest()
	return l != nil && l.State == runtime.StateCreated
}

func (v *cview) exited() bool {
	l := v.latest()
	return l != nil && l.State == runtime.StateExited
}

// succeeded: the latest instance exited 0.
func (v *cview) succeeded() bool { return v.exited() && v.latest().ExitCode == 0 }

// nextAttempt is the attempt number of the next instance.
func (v *cview) nextAttempt() int {
	if l := v.latest(); l != nil {
		if l.State == runtime.StateCreated {
			return l.Attempt
		}
		return l.Attempt + 1
	}
	return 0
}

// analysis is the pod as a whole.
type analysis struct {
	inits, regular []*cview
	// initialized: every init container completed (sidecars started), or
	// a regular container has run already.
	initialized bool
	// incomplete names the init containers not done yet.
	incomplete []string
	// failedInit: an init container failed and will not run again.
	failedInit bool
	// deadline is when activeDeadlineSeconds ends (zero: none);
	// deadlineExceeded whether it has.
	deadline         time.Time
	deadlineExceeded bool
	// startTime is the pod's start time (kept from its status).
	startTime time.Time
	// deleted: deletionTimestamp is set.
	deleted bool
	// wasTerminal: the API status says Succeeded or Failed already.
	wasTerminal bool
	// finished: every regular container exited for good (no restart due);
	// phase then is Succeeded when all exited 0.
	finished bool
	// anyRunning: some instance (init, sidecar or regular) runs.
	anyRunning bool
}

// terminal: the pod is done: nothing more is to run.
func (a *analysis) terminal() bool {
	return a.wasTerminal || a.failedInit || a.deadlineExceeded || a.finished
}

// analyze builds the views decide and computeStatus share.
func analyze(s *snapshot) *analysis {
	pod := s.pod
	byName := map[string][]runtime.ContainerStatus{}
	for _, o := range s.observed {
		byName[o.Name] = append(byName[o.Name], o)
	}
	for _, list := range byName {
		sort.Slice(list, func(i, j int) bool { return list[i].Attempt > list[j].Attempt })
	}
	a := &analysis{deleted: pod.DeletionTimestamp != nil, wasTerminal: isTerminalPhase(pod.Status.Phase)}
	mk := func(c *corev1.Container, init bool) *cview {
		v := &cview{c: c, init: init, instances: byName[c.Name]}
		if f, ok := s.failures[c.Name]; ok {
			v.failure = &f
		}
		if v.running() {
			a.anyRunning = true
		}
		if l := v.latest(); l != nil && l.State == runtime.StateExited && shouldRestart(pod, c, init, l.ExitCode) {
			v.restart = true
			v.streak = s.streaks[c.Name]
			if !l.StartedAt.IsZero() && l.FinishedAt.Sub(l.StartedAt) >= s.backoff.Reset {
				v.streak = l.Attempt
			}
			if v.streak > l.Attempt {
				v.streak = 0
			}
			v.delay = s.backoff.delay(l.Attempt - v.streak)
			v.restartAt = l.FinishedAt.Add(v.delay)
		}
		return v
	}
	for i := range pod.Spec.InitContainers {
		a.inits = append(a.inits, mk(&pod.Spec.InitContainers[i], true))
	}
	for i := range pod.Spec.Containers {
		a.regular = append(a.regular, mk(&pod.Spec.Containers[i], false))
	}

	if st := pod.Status.StartTime; st != nil {
		a.startTime = st.Time
	} else {
		a.startTime = s.now
	}
	if d := pod.Spec.ActiveDeadlineSeconds; d != nil && !a.wasTerminal {
		a.deadline = a.startTime.Add(time.Duration(*d) * time.Second)
		a.deadlineExceeded = !s.now.Before(a.deadline)
	}

	// Init containers: done when each completed in order (sidecars:
	// started). A regular container that has run proves it.
	regularRan := false
	for _, v := range a.regular {
		if len(v.instances) > 0 {
			regularRan = true
		}
	}
	a.initialized = true
	for _, v := range a.inits {
		switch {
		case isSidecar(v.c):
			if !regularRan && !sidecarStarted(v, s.probes) {
				a.initialized = false
			}
		case v.succeeded() || regularRan:
		default:
			a.initialized = false
			if v.exited() && !v.restart {
				a.failedInit = true
			}
		}
		if !a.initialized {
			break
		}
	}
	if !a.initialized {
		for _, v := range a.inits {
			if isSidecar(v.c) {
				if !sidecarStarted(v, s.probes) {
					a.incomplete = append(a.incomplete, v.c.Name)
				}
			} else if !v.succeeded() {
				a.incomplete = append(a.incomplete, v.c.Name)
			}
		}
	}

	// Finished: every regular container exited and none restarts.
	a.finished = a.initialized && len(a.regular) > 0
	for _, v := range a.regular {
		if !v.exited() || v.restart {
			a.finished = false
		}
	}
	return a
}

// sidecarStarted: a restartable init container has started (its startup
// probe, if any, passed) at least once.
func sidecarStarted(v *cview, probes map[string]probeResult) bool {
	l := v.latest()
	if l == nil {
		return false
	}
	if l.Attempt > 0 {
		return true
	}
	if l.State != runtime.StateRunning {
		return l.State == runtime.StateExited
	}
	return startedByProbe(v.c, l.ID, probes)
}

// startedByProbe: the instance counts as started (no startup probe, or it
// passed).
func startedByProbe(c *corev1.Container, id string, probes map[string]probeResult) bool {
	if c.StartupProbe == nil {
		return true
	}
	return probes[id].Started
}

// readyByProbe: the instance is ready (started, and no readiness probe or
// it passed).
func readyByProbe(c *corev1.Container, id string, probes map[string]probeResult) bool {
	if !startedByProbe(c, id, probes) {
		return false
	}
	if c.ReadinessProbe == nil {
		return true
	}
	return probes[id].Ready
}

// shouldRestart: whether an instance of c that exited with code runs
// again. Init containers restart on failure unless the pod's policy is
// Never; sidecars (restartPolicy Always) always.
func shouldRestart(pod *corev1.Pod, c *corev1.Container, init bool, code int32) bool {
	if init {
		if isSidecar(c) {
			return true
		}
		return pod.Spec.RestartPolicy != corev1.RestartPolicyNever && code != 0
	}
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return code != 0
	}
	return true
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func isTerminalPhase(p corev1.PodPhase) bool {
	return p == corev1.PodSucceeded || p == corev1.PodFailed
}

// podDesc is the pod as kubelet names it in messages: name_namespace(uid).
func podDesc(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}
