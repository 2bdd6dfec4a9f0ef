package pods

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// brief prints the parts of a status the cases check: phase (reason),
// conditions, then each container's state, ready, started, restarts and
// last state.
func brief(st corev1.PodStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", st.Phase)
	if st.Reason != "" {
		fmt.Fprintf(&b, " (%s)", st.Reason)
	}
	for _, c := range st.Conditions {
		if c.Type == corev1.PodScheduled {
			continue
		}
		fmt.Fprintf(&b, " %s=%s", c.Type, c.Status)
		if c.Reason != "" {
			fmt.Fprintf(&b, "/%s", c.Reason)
		}
	}
	for _, list := range [][]corev1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses} {
		for _, c := range list {
			fmt.Fprintf(&b, "\n%s: %s ready=%v started=%v restarts=%d", c.Name, state(c.State), c.Ready, c.Started != nil && *c.Started, c.RestartCount)
			if c.LastTerminationState.Terminated != nil {
				fmt.Fprintf(&b, " last=%s", state(c.LastTerminationState))
			}
		}
	}
	return b.String()
}

func state(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Terminated != nil:
		return fmt.Sprintf("terminated(%s,%d)", s.Terminated.Reason, s.Terminated.ExitCode)
	case s.Waiting != nil:
		if s.Waiting.Message != "" {
			return fmt.Sprintf("waiting(%s: %s)", s.Waiting.Reason, s.Waiting.Message)
		}
		return fmt.Sprintf("waiting(%s)", s.Waiting.Reason)
	}
	return "none"
}

func statusSnap(pod *corev1.Pod, observed ...runtime.ContainerStatus) *snapshot {
	x := testSnap(pod, observed...)
	x.podIP, x.hostIP = netip.MustParseAddr("10.42.0.5"), netip.MustParseAddr("192.0.2.1")
	return x
}

func TestComputeStatus(t *testing.T) {
	s := time.Second
	cases := []struct {
		name string
		snap *snapshot
		want string
	}{
		{"sandbox not ready", func() *snapshot { x := statusSnap(testPod()); x.sandboxReady = false; return x }(),
			`Pending PodReadyToStartContainers=False Initialized=True Ready=False/ContainersNotReady ContainersReady=False/ContainersNotReady
app: waiting(ContainerCreating) ready=false started=false restarts=0`},
		{"running and ready", statusSnap(testPod(), running("app", 0, 0)),
			`Running PodReadyToStartContainers=True Initialized=True Ready=True ContainersReady=True
app: running ready=true started=true restarts=0`},
		{"readiness not passed yet", statusSnap(testPod(func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{} }), running("app", 0, 0)),
			`Running PodReadyToStartContainers=True Initialized=True Ready=False/ContainersNotReady ContainersReady=False/ContainersNotReady
app: running ready=false started=true restarts=0`},
		{"startup probe pending: not started", statusSnap(testPod(func(p *corev1.Pod) { p.Spec.Containers[0].StartupProbe = &corev1.Probe{} }), running("app", 0, 0)),
			`Running PodReadyToStartContainers=True Initialized=True Ready=False/ContainersNotReady ContainersReady=False/ContainersNotReady
app: running ready=false started=false restarts=0`},
		{"restarted once", statusSnap(testPod(), running("app", 1, 30*s), exited("app", 0, 2, 0, 30*s)),
			`Running PodReadyToStartContainers=True Initialized=True Ready=True ContainersReady=True
app: running ready=true started=true restarts=1 last=terminated(Error,2)`},
		{"crash loop", statusSnap(testPod(), exited("app", 1, 1, 50*s, 55*s), exited("app", 0, 1, 0, 30*s)),
			`Running PodReadyToStartContainers=True Initialized=True Ready=False/ContainersNotReady ContainersReady=False/ContainersNotReady
app: waiting(CrashLoopBackOff: back-off 10s restarting failed container=app pod=web_default(u1)) ready=false started=false restarts=1 last=terminated(Error,1)`},
		{"init running", statusSnap(testPod(withInit("i1", "i2")), running("i1", 0, 0)),
			`Pending PodReadyToStartContainers=True Initialized=False/ContainersNotInitialized Ready=False/ContainersNotReady ContainersReady=False/ContainersNotReady
i1: running ready=false started=true restarts=0
i2: waiting(PodInitializing) ready=false started=false restarts=0
app: waiting(PodInitializing) ready=false started=false restarts=0`},
		{"inits done, app starting", statusSnap(testPod(withInit("i1")), exited("i1", 0, 0, 0, s)),
			`Pending PodReadyToStartContainers=True Initialized=True Ready=False/ContainersNotReady ContainersReady=False/ContainersNotReady
i1: terminated(Completed,0) ready=true started=false restarts=0
app: waiting(ContainerCreating) ready=false started=false restarts=0`},
		{"init failed under Never", statusSnap(testPod(withInit("i1"), withPolicy(corev1.RestartPolicyNever)), exited("i1", 0, 3, 0, s)),
			`Failed PodReadyToStartContainers=False Initialized=True Ready=False/ContainersNotReady ContainersReady=False/ContainersNotReady
i1: terminated(Error,3) ready=false started=false restarts=0
app: terminated(ContainerStatusUnknown,137) ready=false started=false restarts=0`},
		{"succeeded", statusSnap(testPod(withPolicy(corev1.RestartPolicyNever)), exited("app", 0, 0, 0, s)),
			`Succeeded PodReadyToStartContainers=False Initialized=True/PodCompleted Ready=False/PodCompleted ContainersReady=False/PodCompleted
app: terminated(Completed,0) ready=false started=false restarts=0`},
		{"OOMKilled under Never", func() *snapshot {
			i := exited("app", 0, 137, 0, s)
			i.Reason = "OOMKilled"
			return statusSnap(testPod(withPolicy(corev1.RestartPolicyNever)), i)
		}(),
			`Failed PodReadyToStartContainers=False Initialized=True Ready=False/ContainersNotReady ContainersReady=False/ContainersNotReady
app: terminated(OOMKilled,137) ready=false started=false restarts=0`},
		{"OnFailure: one done, one restarting", statusSnap(testPod(withPolicy(corev1.RestartPolicyOnFailure), func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "b", Image: "busybox"})
		}), exited("app", 0, 0, 0, s), exited("b", 0, 1, 0, 59*s)),
			`Running PodReadyToStartContainers=True Initialized=True Ready=False/ContainersNotReady ContainersReady=False/ContainersNotReady
app: terminated(Completed,0) ready=false started=false restarts=0
b: waiting(ContainerCreating) ready=false started=false restarts=0 last=terminated(Error,1)`},
		{"image pull failed", func() *snapshot {
			x := statusSnap(testPod())
			x.failures["app"] = startFailure{Reason: reasonErrImagePull, Message: "not found", Count: 1, At: x.now, Image: "httpd"}
			return x
		}(),
			`Pending PodReadyToStartContainers=True Initialized=True Ready=False/ContainersNotReady ContainersReady=False/ContainersNotReady
app: waiting(ErrImagePull: not found) ready=false started=false restarts=0`},
		{"image pull backing off", func() *snapshot {
			x := statusSnap(testPod())
			x.failures["app"] = startFailure{Reason: reasonErrImagePull, Message: "not found", Count: 1, At: x.now, Image: "httpd", Shown: true}
			return x
		}(),
			`Pending PodReadyToStartContainers=True Initialized=True Ready=False/ContainersNotReady ContainersReady=False/ContainersNotReady
app: waiting(ImagePullBackOff: Back-off pulling image "httpd": ErrImagePull: not found) ready=false started=false restarts=0`},
		{"deadline exceeded", statusSnap(testPod(func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(30)) }), exited("app", 0, 137, 0, 31*s)),
			`Failed (DeadlineExceeded) PodReadyToStartContainers=False Initialized=True Ready=False/ContainersNotReady ContainersReady=False/ContainersNotReady
app: terminated(Error,137) ready=false started=false restarts=0`},
		{"deleted, still stopping", statusSnap(testPod(deleted(30)), running("app", 0, 0)),
			`Running PodReadyToStartContainers=True Initialized=True Ready=True ContainersReady=True
app: running ready=true started=true restarts=0`},
		{"deleted and stopped", statusSnap(testPod(deleted(30)), exited("app", 0, 137, 0, 59*s)),
			`Failed PodReadyToStartContainers=False Initialized=True Ready=False/ContainersNotReady ContainersReady=False/ContainersNotReady
app: terminated(Error,137) ready=false started=false restarts=0`},
		{"sidecar counts for readiness", statusSnap(testPod(withInit("side"), func(p *corev1.Pod) {
			p.Spec.InitContainers[0].RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
			p.Spec.InitContainers[0].ReadinessProbe = &corev1.Probe{}
		}), running("side", 0, 0), running("app", 0, s)),
			`Running PodReadyToStartContainers=True Initialized=True Ready=False/ContainersNotReady ContainersReady=False/ContainersNotReady
side: running ready=false started=true restarts=0
app: running ready=true started=true restarts=0`},
		{"readiness gate missing", statusSnap(testPod(func(p *corev1.Pod) {
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}}
		}), running("app", 0, 0)),
			`Running PodReadyToStartContainers=True Initialized=True Ready=False/ReadinessGatesNotReady ContainersReady=True
app: running ready=true started=true restarts=0`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := brief(computeStatus(c.snap))
			if got != c.want {
				t.Errorf("status:\n got: %s\nwant: %s", got, c.want)
			}
		})
	}
}

// TestComputeStatusFields checks the fields beside states: IPs, start
// time, container IDs and images, the QoS class, the kept PodScheduled
// condition, and transition times that move only with a change.
func TestComputeStatusFields(t *testing.T) {
	pod := testPod()
	x := statusSnap(pod, running("app", 1, 30*time.Second), exited("app", 0, 1, 0, 20*time.Second))
	st := computeStatus(x)
	if st.PodIP != "10.42.0.5" || len(st.PodIPs) != 1 || st.HostIP != "192.0.2.1" || len(st.HostIPs) != 1 {
		t.Errorf("IPs: pod %s %v host %s %v", st.PodIP, st.PodIPs, st.HostIP, st.HostIPs)
	}
	if st.StartTime == nil || !st.StartTime.Time.Equal(t0) {
		t.Errorf("startTime %v, want %v", st.StartTime, t0)
	}
	if st.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("qosClass %s", st.QOSClass)
	}
	cs := st.ContainerStatuses[0]
	if cs.ContainerID != "containerd://app-1" || cs.Image != "docker.io/library/httpd:latest" || cs.ImageID != "docker.io/library/httpd@sha256:ab" {
		t.Errorf("container: id %s image %s imageID %s", cs.ContainerID, cs.Image, cs.ImageID)
	}
	if lt := cs.LastTerminationState.Terminated; lt == nil || lt.ContainerID != "containerd://app-0" || !lt.FinishedAt.Time.Equal(t0.Add(20*time.Second)) {
		t.Errorf("lastState %+v", cs.LastTerminationState)
	}
	if cs.State.Running.StartedAt.Time != t0.Add(30*time.Second) {
		t.Errorf("startedAt %v", cs.State.Running.StartedAt)
	}
	if st.Conditions[len(st.Conditions)-1].Type != corev1.PodScheduled {
		t.Errorf("PodScheduled not kept last: %v", st.Conditions)
	}
	for _, c := range st.Conditions {
		if c.Type != corev1.PodScheduled && !c.LastTransitionTime.Time.Equal(x.now) {
			t.Errorf("condition %s transition %v, want now", c.Type, c.LastTransitionTime)
		}
	}

	// A second computation a minute later, from the written status,
	// changes nothing: transition times stay.
	pod.Status = st
	y := statusSnap(pod, running("app", 1, 30*time.Second), exited("app", 0, 1, 0, 20*time.Second))
	y.now = x.now.Add(time.Minute)
	again := computeStatus(y)
	if d := brief(again); d != brief(st) {
		t.Fatalf("status changed: %s", d)
	}
	for i := range again.Conditions {
		if !again.Conditions[i].LastTransitionTime.Equal(&st.Conditions[i].LastTransitionTime) {
			t.Errorf("condition %s moved its transition time", again.Conditions[i].Type)
		}
	}
	// Readiness lost: Ready's transition moves, Initialized's does not.
	pod.Spec.Containers[0].ReadinessProbe = &corev1.Probe{}
	lost := computeStatus(y)
	for _, c := range lost.Conditions {
		moved := !c.LastTransitionTime.Time.Equal(x.now)
		want := c.Type == corev1.PodReady || c.Type == corev1.ContainersReady
		if c.Type != corev1.PodScheduled && moved != want {
			t.Errorf("condition %s moved=%v, want %v", c.Type, moved, want)
		}
	}
}

func TestQOSClass(t *testing.T) {
	rl := func(cpu, mem string) corev1.ResourceList {
		l := corev1.ResourceList{}
		if cpu != "" {
			l[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return l
	}
	for _, tc := range []struct {
		name     string
		req, lim corev1.ResourceList
		want     corev1.PodQOSClass
	}{
		{"none", nil, nil, corev1.PodQOSBestEffort},
		{"limits only", nil, rl("100m", "64Mi"), corev1.PodQOSGuaranteed},
		{"equal", rl("100m", "64Mi"), rl("100m", "64Mi"), corev1.PodQOSGuaranteed},
		{"request below limit", rl("50m", "64Mi"), rl("100m", "64Mi"), corev1.PodQOSBurstable},
		{"requests only", rl("50m", ""), nil, corev1.PodQOSBurstable},
		{"memory limit only", nil, rl("", "64Mi"), corev1.PodQOSBurstable},
	} {
		p := testPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: tc.req, Limits: tc.lim}
		})
		if got := qosClass(p); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	_ = metav1.Now
}
