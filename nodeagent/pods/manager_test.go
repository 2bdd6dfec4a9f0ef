package pods

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testcluster"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const testTimeout = 30 * time.Second

type rig struct {
	t   *testing.T
	c   *testcluster.Cluster
	rt  *fakeRuntime
	net *fakeNetwork
	vol *fakeVolumes
}

func newRig(t *testing.T) *rig {
	r := &rig{t: t, c: testcluster.Start(t), rt: newFakeRuntime(), net: newFakeNetwork(), vol: newFakeVolumes()}
	// Pods get 127.0.0.1: probes reach the test's servers on loopback.
	r.net.fixedIP = netip.MustParseAddr("127.0.0.1")
	return r
}

// start runs a Manager until the returned stop is called (or the test
// ends).
func (r *rig) start() (*Manager, func()) {
	m, err := New(Config{
		NodeName: "n1", NodeIP: netip.MustParseAddr("127.0.0.1"), Client: r.c.Client,
		Runtime: r.rt, Network: r.net, Volumes: r.vol, Env: fakeEnv{},
		LogRoot: r.t.TempDir(), Logger: testcluster.Logger(), Resync: 500 * time.Millisecond,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				r.t.Errorf("Run: %v", err)
			}
		})
	}
	r.t.Cleanup(stop)
	return m, stop
}

func (r *rig) create(p *corev1.Pod) *corev1.Pod {
	r.t.Helper()
	got, err := r.c.Client.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		r.t.Fatalf("create pod: %v", err)
	}
	return got
}

func (r *rig) get(name string) (*corev1.Pod, error) {
	return r.c.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
}

// wait polls pod name until cond says nil.
func (r *rig) wait(name string, cond func(*corev1.Pod) error) *corev1.Pod {
	r.t.Helper()
	var last *corev1.Pod
	testcluster.Eventually(r.t, testTimeout, func() error {
		p, err := r.get(name)
		if err != nil {
			return err
		}
		last = p
		return cond(p)
	})
	return last
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func runningReady(p *corev1.Pod) error {
	if p.Status.Phase != corev1.PodRunning || !podReady(p) {
		return fmt.Errorf("phase %s ready %v: %+v", p.Status.Phase, podReady(p), p.Status.ContainerStatuses)
	}
	return nil
}

// events are the reasons and messages of the Events about pod uid.
func (r *rig) events(uid types.UID) []string {
	list, err := r.c.Client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.uid", string(uid)).String()})
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Reason+": "+e.Message)
	}
	return out
}

func (r *rig) waitEvent(uid types.UID, prefix string) {
	r.t.Helper()
	testcluster.Eventually(r.t, testTimeout, func() error {
		ev := r.events(uid)
		for _, e := range ev {
			if strings.HasPrefix(e, prefix) {
				return nil
			}
		}
		return fmt.Errorf("no event %q among %q", prefix, ev)
	})
}

// healthServer serves /healthz on loopback: 200 while ok.
func healthServer(t *testing.T) (port int, ok *atomicBool) {
	ok = &atomicBool{v: true}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/healthz" || req.Header.Get("X-Probe") != "yes" || !ok.get() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.Close)
	_, p, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "http://"))
	port, _ = strconv.Atoi(p)
	return port, ok
}

type atomicBool struct {
	mu sync.Mutex
	v  bool
}

func (b *atomicBool) get() bool  { b.mu.Lock(); defer b.mu.Unlock(); return b.v }
func (b *atomicBool) set(v bool) { b.mu.Lock(); b.v = v; b.mu.Unlock() }

func webPod(name string, healthPort int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName: "n1",
			Containers: []corev1.Container{{
				Name: "app", Image: "httpd",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(healthPort)}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
						Path: "/healthz", Port: intstr.FromString("http"),
						HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Probe", Value: "yes"}}}},
					PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 1,
				},
			}},
		},
	}
}

// TestPodLifecycle: a pod bound to the node goes Running and Ready (its
// readiness probe reaching a server on loopback); a container that exits
// is restarted (restartCount 1); readiness follows the probe; a deleted
// pod's containers stop, its network and volumes go, and the pod
// disappears.
func TestPodLifecycle(t *testing.T) {
	r := newRig(t)
	m, _ := r.start()
	port, healthy := healthServer(t)
	pod := r.create(webPod("web", port))

	p := r.wait("web", runningReady)
	cs := p.Status.ContainerStatuses[0]
	if !strings.HasPrefix(cs.ContainerID, "containerd://") || cs.RestartCount != 0 || cs.Started == nil || !*cs.Started {
		t.Errorf("container status %+v", cs)
	}
	if p.Status.PodIP != "127.0.0.1" || p.Status.HostIP != "127.0.0.1" || p.Status.StartTime == nil || p.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("status fields: %+v", p.Status)
	}
	t.Logf("status writes from Pending to Ready: %d", m.StatusWrites(pod.UID))
	r.waitEvent(pod.UID, "Started: Started container app")
	r.waitEvent(pod.UID, "Created: Created container: app")

	// The runtime saw the spec the worker resolved.
	r.rt.mu.Lock()
	for _, s := range r.rt.specs {
		if s.NetNSPath != "/var/run/netns/fake-"+string(pod.UID) || s.Env[0] != "POD_NAME=web" || s.Mounts[0].ContainerPath != "/etc/hosts" ||
			!strings.HasSuffix(s.LogPath, "/default_web_"+string(pod.UID)+"/app/0.log") || s.Hostname != "web" {
			t.Errorf("spec %+v", s)
		}
	}
	r.rt.mu.Unlock()

	// Readiness follows the probe.
	healthy.set(false)
	r.wait("web", func(p *corev1.Pod) error {
		if podReady(p) {
			return errors.New("still ready")
		}
		return nil
	})
	r.waitEvent(pod.UID, "Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 503")
	healthy.set(true)
	r.wait("web", runningReady)

	// An exit under restartPolicy Always: restarted at once.
	if !r.rt.exit(pod.UID, "app", 1) {
		t.Fatal("no running container to exit")
	}
	p = r.wait("web", func(p *corev1.Pod) error {
		cs := p.Status.ContainerStatuses[0]
		if cs.RestartCount != 1 || cs.State.Running == nil || cs.LastTerminationState.Terminated == nil {
			return fmt.Errorf("not restarted: %+v", cs)
		}
		return runningReady(p)
	})
	if lt := p.Status.ContainerStatuses[0].LastTerminationState.Terminated; lt.ExitCode != 1 || lt.Reason != "Error" {
		t.Errorf("lastState %+v", lt)
	}

	// Delete: stopped, torn down, gone.
	if err := r.c.Client.CoreV1().Pods("default").Delete(context.Background(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, testTimeout, func() error {
		if _, err := r.get("web"); !apierrors.IsNotFound(err) {
			return fmt.Errorf("pod still there (err %v)", err)
		}
		if n := r.rt.count(pod.UID); n != 0 {
			return fmt.Errorf("%d instances left", n)
		}
		if r.net.has(pod.UID) {
			return errors.New("network not torn down")
		}
		r.vol.mu.Lock()
		defer r.vol.mu.Unlock()
		if r.vol.torn[pod.UID] == 0 {
			return errors.New("volumes not torn down")
		}
		return nil
	})
	r.waitEvent(pod.UID, "Killing: Stopping container app")
}

// TestRestartAdoptsAndCleansOrphans: a new Manager over the same runtime
// adopts the running container of a pod that still exists (no restart),
// and removes the instances and network of a pod the API no longer has.
func TestRestartAdoptsAndCleansOrphans(t *testing.T) {
	r := newRig(t)
	m1, stop := r.start()
	pod := r.create(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "keep", Namespace: "default"},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app", Image: "httpd"}}},
	})
	r.wait("keep", runningReady)
	t.Logf("status writes from Pending to Ready (no probe): %d", m1.StatusWrites(pod.UID))
	stop()

	// An orphan left by a pod deleted while the agent was down.
	orphan := types.UID("gone-uid")
	id, _ := r.rt.CreateContainer(context.Background(), runtime.ContainerSpec{PodUID: orphan, PodNamespace: "default", PodName: "gone", Name: "app", Image: "httpd"})
	_ = r.rt.StartContainer(context.Background(), id)
	if _, err := r.net.Setup(context.Background(), podnetRef(orphan)); err != nil {
		t.Fatal(err)
	}
	before := r.rt.running(pod.UID)

	m2, _ := r.start()
	testcluster.Eventually(t, testTimeout, func() error {
		if n := r.rt.count(orphan); n != 0 {
			return fmt.Errorf("orphan has %d instances", n)
		}
		if r.net.has(orphan) {
			return errors.New("orphan network still there")
		}
		return nil
	})
	if before != 1 || r.rt.running(pod.UID) != 1 || r.rt.count(pod.UID) != 1 || m2.Stats().Starts != 0 {
		t.Errorf("the running container was not adopted: before %d, running %d, instances %d, starts %d",
			before, r.rt.running(pod.UID), r.rt.count(pod.UID), m2.Stats().Starts)
	}
	r.wait("keep", runningReady)
}

// TestLivenessRestarts: a failing exec liveness probe kills the container
// (Killing with the reason), and it runs again.
func TestLivenessRestarts(t *testing.T) {
	r := newRig(t)
	r.rt.execCode["check"] = 1
	r.start()
	pod := r.create(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sick", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app", Image: "httpd",
			LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"check"}}},
				PeriodSeconds: 1, FailureThreshold: 2}}}},
	})
	r.wait("sick", func(p *corev1.Pod) error {
		if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].RestartCount < 1 {
			return errors.New("not restarted yet")
		}
		return nil
	})
	r.waitEvent(pod.UID, "Killing: Container app failed liveness probe, will be restarted")
	r.waitEvent(pod.UID, "Unhealthy: Liveness probe failed")
}

// TestInitContainersAndCompletion: init containers run in order, then
// the container; under restartPolicy Never the pod Succeeds when it
// exits 0, and its network goes.
func TestInitContainersAndCompletion(t *testing.T) {
	r := newRig(t)
	r.start()
	pod := r.create(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "job", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "n1", RestartPolicy: corev1.RestartPolicyNever,
			InitContainers: []corev1.Container{{Name: "i1", Image: "busybox"}, {Name: "i2", Image: "busybox"}},
			Containers:     []corev1.Container{{Name: "app", Image: "busybox"}}},
	})
	for _, name := range []string{"i1", "i2"} {
		testcluster.Eventually(t, testTimeout, func() error {
			if r.rt.exit(pod.UID, name, 0) {
				return nil
			}
			return fmt.Errorf("%s not running", name)
		})
	}
	testcluster.Eventually(t, testTimeout, func() error {
		if r.rt.exit(pod.UID, "app", 0) {
			return nil
		}
		return errors.New("app not running")
	})
	p := r.wait("job", func(p *corev1.Pod) error {
		if p.Status.Phase != corev1.PodSucceeded {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		return nil
	})
	if st := p.Status.InitContainerStatuses; len(st) != 2 || st[0].State.Terminated == nil || st[0].State.Terminated.Reason != "Completed" {
		t.Errorf("init statuses %+v", st)
	}
	testcluster.Eventually(t, testTimeout, func() error {
		if r.net.has(pod.UID) {
			return errors.New("network still there")
		}
		return nil
	})
}
