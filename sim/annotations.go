package sim

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Pod annotations that script what a simulated pod's containers do. A
// duration is a decimal number of seconds ("5", "0.5") or a Go duration
// ("1m30s"). Timestamps in pod status have whole seconds, so durations act
// with about a second's resolution. Every container of the pod behaves
// the same. An annotation whose value does not parse is ignored (and
// logged).
const (
	// AnnotationPrefix is the prefix of every simulator annotation.
	AnnotationPrefix = "sim.kelson.dev/"

	// AnnotationRunSeconds: the containers exit this long after each
	// start. Absent, they run until the pod is deleted (unless
	// AnnotationExitCode is set: then they exit as soon as they start).
	// What follows an exit is the pod's restartPolicy: Never ends the pod
	// (Succeeded when the exit code is 0, else Failed); OnFailure restarts
	// the containers on a non-zero code, else the pod Succeeds; Always
	// restarts them either way. Restarts back off as CrashLoopBackOff.
	AnnotationRunSeconds = AnnotationPrefix + "run-seconds"
	// AnnotationExitCode: the containers' exit code, 0 to 255; default 0.
	AnnotationExitCode = AnnotationPrefix + "exit-code"
	// AnnotationStartAfterSeconds: the containers start this long after
	// the pod is accepted on its node (it shows ContainerCreating, phase
	// Pending, until then); default 0.
	AnnotationStartAfterSeconds = AnnotationPrefix + "start-after-seconds"
	// AnnotationReadyAfterSeconds: each container is Ready this long after
	// it starts. Default: its readinessProbe's initialDelaySeconds, or 0.
	AnnotationReadyAfterSeconds = AnnotationPrefix + "ready-after-seconds"
	// AnnotationNeverReady: "true" keeps the containers running but never
	// Ready (a failing readiness probe).
	AnnotationNeverReady = AnnotationPrefix + "never-ready"
	// AnnotationTerminationSeconds: a deleted pod takes this long to stop
	// (at most its grace period) before the simulator removes it; default
	// 0, at once.
	AnnotationTerminationSeconds = AnnotationPrefix + "termination-seconds"

	// AnnotationCPUUsage and AnnotationMemoryUsage: what the running
	// containers use, as the simulator reports it (Config.ReportUsage) to
	// the resource metrics API that `kubectl top` and
	// HorizontalPodAutoscalers read. A quantity ("200m", "128Mi") is every
	// container's usage; NAME=QUANTITY items, comma-separated, set single
	// containers ("app=200m,sidecar=10m"), and a bare quantity among them
	// is the others' ("app=200m,10m"). A container given none uses half its
	// request of the resource, or 10m cpu and 32Mi memory when it requests
	// none. Items that do not parse are ignored (and logged). Edits take
	// effect at the node's next report.
	AnnotationCPUUsage    = AnnotationPrefix + "cpu-usage"
	AnnotationMemoryUsage = AnnotationPrefix + "memory-usage"
)

// LabelSimulated marks the simulator's nodes (value "true").
const LabelSimulated = AnnotationPrefix + "simulated"

// behavior is what a pod's annotations and spec ask of its containers.
type behavior struct {
	exits      bool          // the containers exit after run
	run        time.Duration // how long each run lasts (exits only)
	exitCode   int32         // the code they exit with
	startAfter time.Duration // delay from acceptance to the first start
	// readyAfter: per container (spec order), the delay from a start to
	// Ready; init holds the restartable init containers' (sidecars').
	readyAfter, initReadyAfter []time.Duration
	neverReady                 bool
	termination                time.Duration // how long a stop takes
}

// parseBehavior reads a pod's annotations and spec. Annotations that do
// not parse are left out of b and reported in errs.
func parseBehavior(pod *corev1.Pod) (b behavior, errs []error) {
	a := pod.Annotations
	dur := func(key string) (time.Duration, bool) {
		v, ok := a[key]
		if !ok {
			return 0, false
		}
		d, err := parseSeconds(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("annotation %s: %w", key, err))
			return 0, false
		}
		return d, true
	}
	b.run, b.exits = dur(AnnotationRunSeconds)
	if v, ok := a[AnnotationExitCode]; ok {
		code, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if err != nil || code < 0 || code > 255 {
			errs = append(errs, fmt.Errorf("annotation %s: %q is not an exit code from 0 to 255", AnnotationExitCode, v))
		} else {
			b.exitCode, b.exits = int32(code), true
		}
	}
	b.startAfter, _ = dur(AnnotationStartAfterSeconds)
	b.termination, _ = dur(AnnotationTerminationSeconds)
	if v, ok := a[AnnotationNeverReady]; ok {
		never, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("annotation %s: %q is not true or false", AnnotationNeverReady, v))
		}
		b.neverReady = never
	}
	ready, readySet := dur(AnnotationReadyAfterSeconds)
	probeDelay := func(c *corev1.Container) time.Duration {
		if readySet {
			return ready
		}
		if c.ReadinessProbe != nil && c.ReadinessProbe.InitialDelaySeconds > 0 {
			return time.Duration(c.ReadinessProbe.InitialDelaySeconds) * time.Second
		}
		return 0
	}
	for i := range pod.Spec.Containers {
		b.readyAfter = append(b.readyAfter, probeDelay(&pod.Spec.Containers[i]))
	}
	for i := range pod.Spec.InitContainers {
		b.initReadyAfter = append(b.initReadyAfter, probeDelay(&pod.Spec.InitContainers[i]))
	}
	return b, errs
}

// maxScriptedDuration bounds scripted durations (a year), so sums of
// times cannot overflow.
const maxScriptedDuration = 365 * 24 * time.Hour

// parseSeconds parses a duration: decimal seconds or a Go duration; not
// negative, at most a year.
func parseSeconds(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	var d time.Duration
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(f) || f < 0 || f > maxScriptedDuration.Seconds() {
			return 0, fmt.Errorf("%q: want from 0 to %v seconds", v, maxScriptedDuration.Seconds())
		}
		d = time.Duration(f * float64(time.Second))
	} else if d, err = time.ParseDuration(v); err != nil {
		return 0, fmt.Errorf("%q: want seconds (5, 0.5) or a duration (1m30s)", v)
	}
	if d < 0 || d > maxScriptedDuration {
		return 0, fmt.Errorf("%q: want a duration from 0 to a year", v)
	}
	return d, nil
}
