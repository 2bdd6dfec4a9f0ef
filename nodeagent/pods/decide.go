package pods

import (
	"fmt"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
)

// plan is what to do with a pod now, in order: set up the sandbox; stop;
// start (each start ensures its image, then creates and starts the
// instance); remove old instances; tear down; delete the pod. The worker
// carries it out and decides again until a plan asks for nothing but a
// wait.
type plan struct {
	// setupSandbox: set up the network, volumes and pod files, then
	// decide again (nothing else in the plan).
	setupSandbox bool
	stops        []stopAction
	starts       []startAction
	// removes are instance IDs beyond the last two of a container (the
	// latest and the one kubectl logs --previous shows).
	removes []string
	// teardown: nothing runs and nothing will: the pod's network and
	// volumes go.
	teardown bool
	// deletePod: the pod was deleted and has stopped: delete it from the
	// API with grace 0 (after the final status).
	deletePod bool
	// streaks to record, by container name.
	streaks map[string]int
	// backoffs are containers waiting for a restart back-off.
	backoffs []backoffNote
	// wake is when the pod changes by itself next (a back-off or the
	// deadline ends); zero for none.
	wake time.Time
}

// startAction creates and starts instance attempt of a container.
type startAction struct {
	name    string
	init    bool
	attempt int
}

// stopAction stops a running instance within grace, running the
// container's preStop hook first when preStop.
type stopAction struct {
	id, name string
	init     bool
	grace    time.Duration
	// message is the Killing event's.
	message string
	preStop bool
}

// backoffNote: container name waits delay before attempt.
type backoffNote struct {
	name    string
	init    bool
	attempt int
	delay   time.Duration
}

// idle: the plan asks for no action (maybe a wake-up).
func (p *plan) idle() bool {
	return !p.setupSandbox && len(p.stops) == 0 && len(p.starts) == 0 && len(p.removes) == 0 && !p.teardown && !p.deletePod
}

func (p *plan) soon(now, t time.Time) {
	if t.After(now) && (p.wake.IsZero() || t.Before(p.wake)) {
		p.wake = t
	}
}

// defaultGrace is a pod's terminationGracePeriodSeconds when unset.
const defaultGrace = 30 * time.Second

// podGrace is the pod's termination grace period.
func podGrace(pod *corev1.Pod) time.Duration {
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil && *g >= 0 {
		return time.Duration(*g) * time.Second
	}
	return defaultGrace
}

// deletionGrace is the grace for stopping a deleted pod: its
// deletionGracePeriodSeconds, else its spec's.
func deletionGrace(pod *corev1.Pod) time.Duration {
	if g := pod.DeletionGracePeriodSeconds; g != nil && *g >= 0 {
		return time.Duration(*g) * time.Second
	}
	return podGrace(pod)
}

// decide plans the next step of the pod in s.
func decide(s *snapshot) plan {
	a := analyze(s)
	pod := s.pod
	p := plan{}

	known := map[string]bool{}
	for _, v := range append(append([]*cview(nil), a.inits...), a.regular...) {
		known[v.c.Name] = true
		for _, old := range v.instances[min(2, len(v.instances)):] {
			if old.State == runtime.StateExited {
				p.removes = append(p.removes, old.ID)
			}
		}
	}
	// Instances of containers the spec does not have: stop and remove.
	for _, o := range s.observed {
		if known[o.Name] {
			continue
		}
		if o.State == runtime.StateExited {
			p.removes = append(p.removes, o.ID)
		} else {
			p.stops = append(p.stops, stopAction{id: o.ID, name: o.Name, init: o.Init, grace: podGrace(pod),
				message: fmt.Sprintf("Stopping container %s", o.Name)})
		}
	}

	if a.deleted || a.terminal() {
		grace := podGrace(pod)
		if a.deleted {
			grace = deletionGrace(pod)
		}
		for _, v := range append(append([]*cview(nil), a.regular...), a.inits...) {
			if v.running() {
				p.stops = append(p.stops, stopAction{id: v.latest().ID, name: v.c.Name, init: v.init, grace: grace,
					message: fmt.Sprintf("Stopping container %s", v.c.Name), preStop: hasPreStop(v.c)})
			}
		}
		if !a.anyRunning {
			p.teardown = true
			p.deletePod = a.deleted
		}
		return p
	}
	if !s.sandboxReady {
		p.setupSandbox = true
		return p
	}
	if !a.deadline.IsZero() {
		p.soon(s.now, a.deadline)
	}

	// Init containers in order: each to success before the next; a
	// sidecar once started keeps running beside the rest.
	for _, v := range a.inits {
		if isSidecar(v.c) {
			switch {
			case v.latest() == nil || v.pending():
				p.tryStart(s, v)
			case v.running():
				p.checkProbes(s, v)
			case v.restart:
				p.tryRestart(s, v)
			}
			if !a.initialized && !sidecarStarted(v, s.probes) {
				break
			}
			continue
		}
		if a.initialized || v.succeeded() {
			continue
		}
		switch {
		case v.latest() == nil || v.pending():
			p.tryStart(s, v)
		case v.restart:
			p.tryRestart(s, v)
		}
		break
	}
	if !a.initialized {
		return p
	}
	for _, v := range a.regular {
		switch {
		case v.latest() == nil || v.pending():
			p.tryStart(s, v)
		case v.running():
			p.checkProbes(s, v)
		case v.restart:
			p.tryRestart(s, v)
		}
	}
	return p
}

// tryStart starts attempt v.nextAttempt() unless a failed start is still
// backing off.
func (p *plan) tryStart(s *snapshot, v *cview) bool {
	if f := v.failure; f != nil {
		at := f.At.Add(s.backoff.failureDelay(f.Count))
		if s.now.Before(at) {
			p.soon(s.now, at)
			return false
		}
	}
	p.starts = append(p.starts, startAction{name: v.c.Name, init: v.init, attempt: v.nextAttempt()})
	return true
}

// tryRestart runs an exited instance's container again once its back-off
// ended.
func (p *plan) tryRestart(s *snapshot, v *cview) {
	if s.now.Before(v.restartAt) {
		p.soon(s.now, v.restartAt)
		p.backoffs = append(p.backoffs, backoffNote{name: v.c.Name, init: v.init, attempt: v.nextAttempt(), delay: v.delay})
		return
	}
	if p.tryStart(s, v) {
		if p.streaks == nil {
			p.streaks = map[string]int{}
		}
		p.streaks[v.c.Name] = v.streak
	}
}

// checkProbes kills a running instance whose liveness or startup probe
// failed for good.
func (p *plan) checkProbes(s *snapshot, v *cview) {
	l := v.latest()
	r := s.probes[l.ID]
	var which string
	switch {
	case r.StartupFailed:
		which = "startup"
	case r.LivenessFailed:
		which = "liveness"
	default:
		return
	}
	grace := podGrace(s.pod)
	pr := v.c.LivenessProbe
	if which == "startup" {
		pr = v.c.StartupProbe
	}
	if pr != nil && pr.TerminationGracePeriodSeconds != nil && *pr.TerminationGracePeriodSeconds >= 0 {
		grace = time.Duration(*pr.TerminationGracePeriodSeconds) * time.Second
	}
	p.stops = append(p.stops, stopAction{id: l.ID, name: v.c.Name, init: v.init, grace: grace, preStop: hasPreStop(v.c),
		message: fmt.Sprintf("Container %s failed %s probe, will be restarted", v.c.Name, which)})
}

func hasPreStop(c *corev1.Container) bool {
	return c.Lifecycle != nil && c.Lifecycle.PreStop != nil
}
