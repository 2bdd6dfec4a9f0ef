package sim

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// base is the scenarios' time zero.
var testBase = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// summarize is the part of a plan and status the scenarios check, on one
// line: what to do, the phase, Ready, each container and when to wake.
func summarize(p podPlan, st *corev1.PodStatus, now time.Time) string {
	var b strings.Builder
	if p.remove {
		b.WriteString("remove ")
	}
	switch {
	case p.needIPs:
		return "needIPs"
	case p.status == nil:
		b.WriteString("same ")
	}
	fmt.Fprintf(&b, "%s", st.Phase)
	if st.Reason != "" {
		fmt.Fprintf(&b, "(%s)", st.Reason)
	}
	for _, c := range st.Conditions {
		if c.Type == corev1.PodReady {
			fmt.Fprintf(&b, " ready=%s", c.Status)
		}
	}
	for _, cs := range append(append([]corev1.ContainerStatus(nil), st.InitContainerStatuses...), st.ContainerStatuses...) {
		fmt.Fprintf(&b, " %s:", cs.Name)
		switch s := cs.State; {
		case s.Running != nil:
			fmt.Fprintf(&b, "running@%v", s.Running.StartedAt.Sub(testBase))
		case s.Waiting != nil:
			fmt.Fprintf(&b, "waiting(%s)", s.Waiting.Reason)
		case s.Terminated != nil:
			fmt.Fprintf(&b, "exited(%d)@%v", s.Terminated.ExitCode, s.Terminated.FinishedAt.Sub(testBase))
		}
		if cs.Ready {
			b.WriteString(",ready")
		}
		if cs.RestartCount > 0 {
			fmt.Fprintf(&b, ",restarts=%d", cs.RestartCount)
		}
	}
	if p.terminal {
		b.WriteString(" terminal")
	}
	if !p.wake.IsZero() {
		fmt.Fprintf(&b, " wake+%v", p.wake.Sub(now))
	}
	return b.String()
}

type step struct {
	at   time.Duration
	want string
	// noIPs: no IP can be had at this step.
	noIPs bool
	// deleteGrace: delete the pod with this grace period before deciding.
	deleteGrace *int64
}

// runScenario decides pod at each step's time, applying the status, and
// checks the summaries. Each step is decided twice: the second decision
// at the same time must change nothing (what decide writes is what it
// reads back).
func runScenario(t *testing.T, pod *corev1.Pod, steps []step) {
	t.Helper()
	pod.UID, pod.Namespace = "uid-1", "default"
	b, errs := parseBehavior(pod)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, s := range steps {
		now := testBase.Add(s.at)
		if s.deleteGrace != nil {
			dt := metav1.NewTime(now.Add(time.Duration(*s.deleteGrace) * time.Second))
			pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds = &dt, s.deleteGrace
		}
		in := podInput{now: now, hostIPs: []string{"127.240.0.1"}, podIPs: []string{"10.244.0.2"},
			backoff: 10 * time.Second, maxBackoff: 40 * time.Second}
		if s.noIPs {
			in.podIPs = nil
		}
		p := decide(pod, b, in)
		st := &pod.Status
		if p.status != nil {
			st = p.status
		}
		if got := summarize(p, st, now); got != s.want {
			t.Fatalf("at %v:\n got %s\nwant %s", s.at, got, s.want)
		}
		if p.status != nil {
			pod.Status = *roundTrip(t, p.status)
			again := decide(pod, b, in)
			if again.status != nil {
				t.Fatalf("at %v: a second decision changes the status again:\n%+v\n%+v", s.at, pod.Status, *again.status)
			}
		}
	}
}

// roundTrip is st as the API gives it back: times in whole seconds.
func roundTrip(t *testing.T, st *corev1.PodStatus) *corev1.PodStatus {
	t.Helper()
	p := &corev1.Pod{Status: *st}
	data, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var out corev1.Pod
	if err := out.Unmarshal(data); err != nil {
		t.Fatal(err)
	}
	return &out.Status
}

func scenarioPod(policy corev1.RestartPolicy, ann map[string]string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: ann}, Spec: corev1.PodSpec{RestartPolicy: policy, NodeName: "n"}}
	if len(containers) == 0 {
		containers = []string{"app"}
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "img"})
	}
	return p
}

func TestDecideScenarios(t *testing.T) {
	sec := time.Second
	grace := func(g int64) *int64 { return &g }
	for _, tc := range []struct {
		name  string
		pod   *corev1.Pod
		steps []step
	}{
		{"runs forever", scenarioPod(corev1.RestartPolicyAlways, nil), []step{
			{at: 0, want: "Running ready=True app:running@0s,ready"},
			{at: time.Hour, want: "same Running ready=True app:running@0s,ready"},
		}},
		{"waits for an IP", scenarioPod(corev1.RestartPolicyAlways, nil), []step{
			{at: 0, noIPs: true, want: "needIPs"},
			{at: 3 * sec, want: "Running ready=True app:running@3s,ready"},
		}},
		{"never, exit 0", scenarioPod(corev1.RestartPolicyNever, map[string]string{AnnotationRunSeconds: "5"}), []step{
			{at: 0, want: "Running ready=True app:running@0s,ready wake+5s"},
			{at: 5 * sec, want: "Succeeded ready=False app:exited(0)@5s terminal"},
			{at: 9 * sec, want: "same Succeeded ready=False app:exited(0)@5s terminal"},
		}},
		{"never, exit 2, caught up late", scenarioPod(corev1.RestartPolicyNever, map[string]string{AnnotationRunSeconds: "5", AnnotationExitCode: "2"}), []step{
			{at: 0, want: "Running ready=True app:running@0s,ready wake+5s"},
			{at: time.Minute, want: "Failed ready=False app:exited(2)@5s terminal"},
		}},
		{"on failure, exit 0", scenarioPod(corev1.RestartPolicyOnFailure, map[string]string{AnnotationRunSeconds: "1.5"}), []step{
			// Times in status are whole seconds: the run ends at 1 s.
			{at: 0, want: "Running ready=True app:running@0s,ready wake+1s"},
			{at: 2 * sec, want: "Succeeded ready=False app:exited(0)@1s terminal"},
		}},
		{"on failure, crash loop", scenarioPod(corev1.RestartPolicyOnFailure, map[string]string{AnnotationRunSeconds: "2", AnnotationExitCode: "1"}), []step{
			{at: 0, want: "Running ready=True app:running@0s,ready wake+2s"},
			// The first restart is at once, the next after 10 s, then 20 s,
			// 40 s (the cap), 40 s...: restarts at 2, 14, 36, 78, 120, 162, 204 s.
			{at: 2 * sec, want: "Running ready=True app:running@2s,ready,restarts=1 wake+2s"},
			{at: 4 * sec, want: "Running ready=False app:waiting(CrashLoopBackOff),restarts=1 wake+10s"},
			{at: 14 * sec, want: "Running ready=True app:running@14s,ready,restarts=2 wake+2s"},
			{at: 17 * sec, want: "Running ready=False app:waiting(CrashLoopBackOff),restarts=2 wake+19s"},
			{at: 200 * sec, want: "Running ready=False app:waiting(CrashLoopBackOff),restarts=6 wake+4s"},
		}},
		{"always restarts a clean exit", scenarioPod(corev1.RestartPolicyAlways, map[string]string{AnnotationExitCode: "0"}), []step{
			// Exit code without run-seconds: the containers exit at once.
			{at: 0, want: "Running ready=False app:waiting(CrashLoopBackOff),restarts=1 wake+10s"},
		}},
		{"ready after, never ready", scenarioPod(corev1.RestartPolicyAlways, map[string]string{AnnotationReadyAfterSeconds: "3"}), []step{
			{at: 0, want: "Running ready=False app:running@0s wake+3s"},
			{at: 3 * sec, want: "Running ready=True app:running@0s,ready"},
		}},
		{"never ready", scenarioPod(corev1.RestartPolicyAlways, map[string]string{AnnotationNeverReady: "true"}), []step{
			{at: 0, want: "Running ready=False app:running@0s"},
			{at: time.Hour, want: "same Running ready=False app:running@0s"},
		}},
		{"start after", scenarioPod(corev1.RestartPolicyAlways, map[string]string{AnnotationStartAfterSeconds: "4"}, "a", "b"), []step{
			{at: 0, want: "Pending ready=False a:waiting(ContainerCreating) b:waiting(ContainerCreating) wake+4s"},
			{at: 4 * sec, want: "Running ready=True a:running@4s,ready b:running@4s,ready"},
		}},
		{"deleted", scenarioPod(corev1.RestartPolicyAlways, nil), []step{
			{at: 0, want: "Running ready=True app:running@0s,ready"},
			{at: sec, deleteGrace: grace(30), want: "remove Failed ready=False app:exited(137)@1s terminal"},
			// Removed with grace 0, it waits for finalizers: nothing to do.
			{at: 2 * sec, deleteGrace: grace(0), want: "same Failed ready=False app:exited(137)@1s terminal"},
		}},
		{"deleted before it started", scenarioPod(corev1.RestartPolicyAlways, map[string]string{AnnotationStartAfterSeconds: "10"}), []step{
			{at: 0, want: "Pending ready=False app:waiting(ContainerCreating) wake+10s"},
			{at: sec, deleteGrace: grace(30), want: "remove Failed ready=False app:exited(137)@1s terminal"},
		}},
		{"finished, then deleted", scenarioPod(corev1.RestartPolicyNever, map[string]string{AnnotationRunSeconds: "1"}), []step{
			{at: 0, want: "Running ready=True app:running@0s,ready wake+1s"},
			{at: sec, want: "Succeeded ready=False app:exited(0)@1s terminal"},
			{at: 5 * sec, deleteGrace: grace(30), want: "remove same Succeeded ready=False app:exited(0)@1s terminal"},
		}},
		{"deleted, slow to stop", scenarioPod(corev1.RestartPolicyAlways, map[string]string{AnnotationTerminationSeconds: "5"}), []step{
			{at: 0, want: "Running ready=True app:running@0s,ready"},
			{at: 10 * sec, deleteGrace: grace(30), want: "same Running ready=True app:running@0s,ready wake+5s"},
			{at: 15 * sec, want: "remove Failed ready=False app:exited(137)@15s terminal"},
		}},
		{"deleted, grace shorter than the stop", scenarioPod(corev1.RestartPolicyAlways, map[string]string{AnnotationTerminationSeconds: "50"}), []step{
			{at: 0, want: "Running ready=True app:running@0s,ready"},
			{at: 10 * sec, deleteGrace: grace(2), want: "same Running ready=True app:running@0s,ready wake+2s"},
			{at: 12 * sec, want: "remove Failed ready=False app:exited(137)@12s terminal"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { runScenario(t, tc.pod, tc.steps) })
	}
}

func TestDecideSpec(t *testing.T) {
	sec := time.Second
	t.Run("active deadline", func(t *testing.T) {
		p := scenarioPod(corev1.RestartPolicyNever, nil)
		p.Spec.ActiveDeadlineSeconds = ptr(int64(30))
		runScenario(t, p, []step{
			{at: 0, want: "Running ready=True app:running@0s,ready wake+30s"},
			{at: 31 * sec, want: "Failed(DeadlineExceeded) ready=False app:exited(137)@30s terminal"},
		})
	})
	t.Run("readiness probe delay", func(t *testing.T) {
		p := scenarioPod(corev1.RestartPolicyAlways, nil)
		p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{InitialDelaySeconds: 7}
		runScenario(t, p, []step{
			{at: 0, want: "Running ready=False app:running@0s wake+7s"},
			{at: 7 * sec, want: "Running ready=True app:running@0s,ready"},
		})
	})
	t.Run("readiness gate", func(t *testing.T) {
		p := scenarioPod(corev1.RestartPolicyAlways, nil)
		p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}}
		runScenario(t, p, []step{{at: 0, want: "Running ready=False app:running@0s,ready"}})
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: "example.com/lb", Status: corev1.ConditionTrue})
		runScenario(t, p, []step{{at: sec, want: "Running ready=True app:running@0s,ready"}})
	})
	t.Run("init containers and a sidecar", func(t *testing.T) {
		p := scenarioPod(corev1.RestartPolicyNever, map[string]string{AnnotationRunSeconds: "10"})
		always := corev1.ContainerRestartPolicyAlways
		p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "i"}, {Name: "side", Image: "s", RestartPolicy: &always}}
		runScenario(t, p, []step{
			{at: 0, want: "Running ready=True init:exited(0)@0s,ready side:running@0s,ready app:running@0s,ready wake+10s"},
			{at: 10 * sec, want: "Succeeded ready=False init:exited(0)@0s,ready side:exited(0)@10s app:exited(0)@10s terminal"},
		})
	})
	t.Run("host network", func(t *testing.T) {
		p := scenarioPod(corev1.RestartPolicyAlways, nil)
		b, _ := parseBehavior(p)
		plan := decide(p, b, podInput{now: testBase, hostIPs: []string{"127.240.0.9"}, podIPs: []string{"127.240.0.9"}})
		if plan.status == nil || plan.status.PodIP != "127.240.0.9" || plan.status.HostIP != "127.240.0.9" {
			t.Fatalf("%+v", plan.status)
		}
	})
}

func TestBackoffDelay(t *testing.T) {
	for _, c := range []struct {
		restarts int32
		want     time.Duration
	}{{0, 0}, {1, 10 * time.Second}, {2, 20 * time.Second}, {5, 160 * time.Second}, {6, 300 * time.Second}, {1 << 30, 300 * time.Second}} {
		if got := backoffDelay(c.restarts, 10*time.Second, 5*time.Minute); got != c.want {
			t.Errorf("backoffDelay(%d) = %v, want %v", c.restarts, got, c.want)
		}
	}
}

func TestParseBehavior(t *testing.T) {
	p := scenarioPod(corev1.RestartPolicyAlways, map[string]string{
		AnnotationRunSeconds: "1m30s", AnnotationExitCode: "7", AnnotationStartAfterSeconds: "0.5",
		AnnotationNeverReady: "true", AnnotationTerminationSeconds: "3"})
	b, errs := parseBehavior(p)
	if len(errs) > 0 || !b.exits || b.run != 90*time.Second || b.exitCode != 7 || b.startAfter != 500*time.Millisecond ||
		!b.neverReady || b.termination != 3*time.Second {
		t.Fatalf("%+v %v", b, errs)
	}
	for k, v := range map[string]string{AnnotationRunSeconds: "-1", AnnotationExitCode: "256", AnnotationNeverReady: "maybe",
		AnnotationReadyAfterSeconds: "NaN", AnnotationStartAfterSeconds: "1e300", AnnotationTerminationSeconds: "forever"} {
		b, errs := parseBehavior(scenarioPod(corev1.RestartPolicyAlways, map[string]string{k: v}))
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), k) {
			t.Errorf("%s=%q: errors %v", k, v, errs)
		}
		if b.exits || b.neverReady {
			t.Errorf("%s=%q: a bad value acted: %+v", k, v, b)
		}
	}
}
