package pods

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var t0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

// testPod is default/web (uid u1) with one container app, restartPolicy
// Always, started at t0.
func testPod(mods ...func(*corev1.Pod)) *corev1.Pod {
	st := metav1.NewTime(t0)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u1", Generation: 1},
		Spec: corev1.PodSpec{
			NodeName:      "n1",
			RestartPolicy: corev1.RestartPolicyAlways,
			Containers:    []corev1.Container{{Name: "app", Image: "httpd"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending, StartTime: &st,
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: st}}},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func withInit(names ...string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		for _, n := range names {
			p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: n, Image: "busybox"})
		}
	}
}

func withPolicy(r corev1.RestartPolicy) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.RestartPolicy = r }
}

func deleted(grace int64) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		ts := metav1.NewTime(t0.Add(time.Minute))
		p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &ts, &grace
	}
}

// inst is instance attempt of container name: started and finished are
// offsets from t0 (finished < 0: still in state).
func inst(name string, attempt int, state runtime.State, code int32, started, finished time.Duration) runtime.ContainerStatus {
	i := runtime.ContainerStatus{ID: fmt.Sprintf("%s-%d", name, attempt), PodUID: "u1", Name: name, Attempt: attempt, State: state,
		Image: "docker.io/library/httpd:latest", ImageRef: "docker.io/library/httpd@sha256:ab"}
	if state != runtime.StateCreated {
		i.StartedAt = t0.Add(started)
	}
	if state == runtime.StateExited {
		i.ExitCode, i.FinishedAt = code, t0.Add(finished)
		i.Reason = reasonCompleted
		if code != 0 {
			i.Reason = reasonError
		}
	}
	return i
}

func running(name string, attempt int, started time.Duration) runtime.ContainerStatus {
	return inst(name, attempt, runtime.StateRunning, 0, started, 0)
}

func exited(name string, attempt int, code int32, started, finished time.Duration) runtime.ContainerStatus {
	return inst(name, attempt, runtime.StateExited, code, started, finished)
}

// testSnap is pod with observed at now = t0+1m, the sandbox ready.
func testSnap(pod *corev1.Pod, observed ...runtime.ContainerStatus) *snapshot {
	return &snapshot{
		pod: pod, observed: observed, probes: map[string]probeResult{}, streaks: map[string]int{},
		failures: map[string]startFailure{}, sandboxReady: true,
		now:     t0.Add(time.Minute),
		backoff: backoffConfig{Base: 10 * time.Second, Max: 5 * time.Minute, Reset: 10 * time.Minute},
	}
}

// describe prints a plan compactly for comparison.
func describe(p plan, now time.Time) string {
	var out []string
	if p.setupSandbox {
		out = append(out, "setup")
	}
	for _, s := range p.stops {
		pre := ""
		if s.preStop {
			pre = " preStop"
		}
		out = append(out, fmt.Sprintf("stop %s %v%s %q", s.id, s.grace, pre, s.message))
	}
	for _, s := range p.starts {
		out = append(out, fmt.Sprintf("start %s#%d", s.name, s.attempt))
	}
	rm := append([]string(nil), p.removes...)
	sort.Strings(rm)
	for _, r := range rm {
		out = append(out, "remove "+r)
	}
	if p.teardown {
		out = append(out, "teardown")
	}
	if p.deletePod {
		out = append(out, "delete")
	}
	for _, b := range p.backoffs {
		out = append(out, fmt.Sprintf("backoff %s#%d %v", b.name, b.attempt, b.delay))
	}
	if !p.wake.IsZero() {
		out = append(out, fmt.Sprintf("wake +%v", p.wake.Sub(now)))
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, "; ")
}

func TestDecide(t *testing.T) {
	m := time.Minute
	s := time.Second
	cases := []struct {
		name string
		snap *snapshot
		want string
	}{
		{"new pod: sandbox first", func() *snapshot { x := testSnap(testPod()); x.sandboxReady = false; return x }(), "setup"},
		{"sandbox ready: start", testSnap(testPod()), "start app#0"},
		{"running: nothing", testSnap(testPod(), running("app", 0, 0)), "nothing"},
		{"created never started: start it", testSnap(testPod(), inst("app", 0, runtime.StateCreated, 0, 0, 0)), "start app#0"},
		{"init first, in order", testSnap(testPod(withInit("i1", "i2"))), "start i1#0"},
		{"init running: wait", testSnap(testPod(withInit("i1", "i2")), running("i1", 0, 0)), "nothing"},
		{"init done: next init", testSnap(testPod(withInit("i1", "i2")), exited("i1", 0, 0, 0, s)), "start i2#0"},
		{"inits done: containers", testSnap(testPod(withInit("i1", "i2")), exited("i1", 0, 0, 0, s), exited("i2", 0, 0, s, 2*s)), "start app#0"},
		{"init failed: restarted at once the first time", testSnap(testPod(withInit("i1")), exited("i1", 0, 1, 0, 50*s)), "start i1#1"},
		{"init failed again: back-off 10s", testSnap(testPod(withInit("i1")), exited("i1", 1, 1, 50*s, 55*s), exited("i1", 0, 1, 0, 50*s)),
			"backoff i1#2 10s; wake +5s"},
		{"init failed, Never: pod fails, teardown", testSnap(testPod(withInit("i1"), withPolicy(corev1.RestartPolicyNever)), exited("i1", 0, 1, 0, s)), "teardown"},
		{"exit 0 under Always: restart", testSnap(testPod(), exited("app", 0, 0, 0, 59*s)), "start app#1"},
		{"third run crashed 5s ago: back-off 20s", testSnap(testPod(), exited("app", 2, 1, 50*s, 55*s), exited("app", 1, 1, 40*s, 45*s)),
			"backoff app#3 20s; wake +15s"},
		{"back-off over: restart", testSnap(testPod(), exited("app", 2, 1, 20*s, 30*s), exited("app", 1, 1, 10*s, 15*s)), "start app#3"},
		{"back-off caps at 5m", testSnap(testPod(), exited("app", 9, 1, 50*s, 55*s)), "backoff app#10 5m0s; wake +4m55s"},
		{"ran 10 minutes: back-off starts afresh", func() *snapshot {
			x := testSnap(testPod(), exited("app", 5, 1, -15*m, -4*m-59*s))
			x.now = t0.Add(-4*m - 58*s)
			return x
		}(), "start app#6"},
		{"streak remembered", func() *snapshot {
			x := testSnap(testPod(), exited("app", 6, 1, 55*s, 58*s))
			x.streaks["app"] = 5
			return x
		}(), "backoff app#7 10s; wake +8s"},
		{"OnFailure, exit 0: finished", testSnap(testPod(withPolicy(corev1.RestartPolicyOnFailure)), exited("app", 0, 0, 0, s)), "teardown"},
		{"OnFailure, exit 1: restart", testSnap(testPod(withPolicy(corev1.RestartPolicyOnFailure)), exited("app", 0, 1, 0, s)), "start app#1"},
		{"Never, exit 1: finished", testSnap(testPod(withPolicy(corev1.RestartPolicyNever)), exited("app", 0, 1, 0, s)), "teardown"},
		{"old instances go beyond two", testSnap(testPod(), running("app", 3, 0), exited("app", 2, 1, 0, s), exited("app", 1, 1, 0, s), exited("app", 0, 1, 0, s)),
			"remove app-0; remove app-1"},
		{"liveness failed: kill with the reason", func() *snapshot {
			x := testSnap(testPod(func(p *corev1.Pod) {
				p.Spec.Containers[0].LivenessProbe = &corev1.Probe{}
				p.Spec.TerminationGracePeriodSeconds = ptr(int64(5))
			}), running("app", 0, 0))
			x.probes["app-0"] = probeResult{Started: true, LivenessFailed: true}
			return x
		}(), `stop app-0 5s "Container app failed liveness probe, will be restarted"`},
		{"startup failed: kill", func() *snapshot {
			x := testSnap(testPod(func(p *corev1.Pod) { p.Spec.Containers[0].StartupProbe = &corev1.Probe{} }), running("app", 0, 0))
			x.probes["app-0"] = probeResult{StartupFailed: true}
			return x
		}(), `stop app-0 30s "Container app failed startup probe, will be restarted"`},
		{"deleted: stop with its grace, preStop first", testSnap(testPod(deleted(7), func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh"}}}}
		}), running("app", 0, 0)), `stop app-0 7s preStop "Stopping container app"`},
		{"deleted and stopped: teardown, delete", testSnap(testPod(deleted(7)), exited("app", 0, 137, 0, s)), "teardown; delete"},
		{"deleted before running: delete", func() *snapshot { x := testSnap(testPod(deleted(30))); x.sandboxReady = false; return x }(), "teardown; delete"},
		{"deadline ahead: wake then", testSnap(testPod(func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(90)) }), running("app", 0, 0)), "wake +30s"},
		{"deadline passed: stop", testSnap(testPod(func(p *corev1.Pod) {
			p.Spec.ActiveDeadlineSeconds = ptr(int64(30))
			p.Spec.TerminationGracePeriodSeconds = ptr(int64(3))
		}), running("app", 0, 0)), `stop app-0 3s "Stopping container app"`},
		{"pull failed 5s ago: wait", func() *snapshot {
			x := testSnap(testPod())
			x.failures["app"] = startFailure{Reason: reasonErrImagePull, Count: 2, At: x.now.Add(-5 * s)}
			return x
		}(), "wake +15s"},
		{"pull back-off over: try again", func() *snapshot {
			x := testSnap(testPod())
			x.failures["app"] = startFailure{Reason: reasonErrImagePull, Count: 1, At: x.now.Add(-10 * s)}
			return x
		}(), "start app#0"},
		{"sidecar starts, the next init waits for its startup probe", func() *snapshot {
			x := testSnap(testPod(withInit("side", "i2"), func(p *corev1.Pod) {
				p.Spec.InitContainers[0].RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
				p.Spec.InitContainers[0].StartupProbe = &corev1.Probe{}
			}), running("side", 0, 0))
			return x
		}(), "nothing"},
		{"sidecar started: next init", func() *snapshot {
			x := testSnap(testPod(withInit("side", "i2"), func(p *corev1.Pod) {
				p.Spec.InitContainers[0].RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
				p.Spec.InitContainers[0].StartupProbe = &corev1.Probe{}
			}), running("side", 0, 0))
			x.probes["side-0"] = probeResult{Started: true}
			return x
		}(), "start i2#0"},
		{"finished pod stops its sidecar", testSnap(testPod(withInit("side"), withPolicy(corev1.RestartPolicyNever), func(p *corev1.Pod) {
			p.Spec.InitContainers[0].RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
		}), running("side", 0, 0), exited("app", 0, 0, s, 2*s)), `stop side-0 30s "Stopping container side"`},
		{"terminal in the API: nothing more", testSnap(testPod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), exited("app", 0, 0, 0, s)), "teardown"},
		{"unknown container name: stopped", testSnap(testPod(), running("app", 0, 0), running("gone", 0, 0)), `stop gone-0 30s "Stopping container gone"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := describe(decide(c.snap), c.snap.now)
			if got != c.want {
				t.Errorf("decide:\n got: %s\nwant: %s", got, c.want)
			}
		})
	}
}

func TestBackoffDelays(t *testing.T) {
	b := backoffConfig{Base: 10 * time.Second, Max: 5 * time.Minute}
	want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for n, w := range want {
		if got := b.delay(n); got != w {
			t.Errorf("delay(%d) = %v, want %v", n, got, w)
		}
	}
}

func TestResolvePort(t *testing.T) {
	c := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}
	for _, tc := range []struct {
		in   intstr.IntOrString
		want int
		err  bool
	}{
		{intstr.FromInt32(80), 80, false},
		{intstr.FromString("http"), 8080, false},
		{intstr.FromString("9090"), 9090, false},
		{intstr.FromString("nope"), 0, true},
		{intstr.FromInt32(0), 0, true},
	} {
		got, err := resolvePort(tc.in, c)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("resolvePort(%v) = %d, %v; want %d (error %v)", tc.in.String(), got, err, tc.want, tc.err)
		}
	}
}
