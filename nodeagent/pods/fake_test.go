package pods

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/podnet"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// fakeRuntime simulates containers: they run from StartContainer until
// the test makes them exit (exit) or StopContainer stops them.
type fakeRuntime struct {
	mu         sync.Mutex
	seq        int
	containers map[string]*runtime.ContainerStatus
	specs      map[string]runtime.ContainerSpec
	images     map[string]bool
	pullErr    map[string]error
	// execCode is what Exec returns, by command's first word.
	execCode map[string]int
	execs    []string
	exits    chan runtime.Exit
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{containers: map[string]*runtime.ContainerStatus{}, specs: map[string]runtime.ContainerSpec{},
		images: map[string]bool{}, pullErr: map[string]error{}, execCode: map[string]int{}, exits: make(chan runtime.Exit, 1024)}
}

func (f *fakeRuntime) EnsureImage(_ context.Context, image string, _ corev1.PullPolicy) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.pullErr[image]; err != nil {
		return "", err
	}
	f.images[image] = true
	return "docker.io/library/" + image + "@sha256:feed", nil
}

func (f *fakeRuntime) HasImage(_ context.Context, image string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.images[image], nil
}

func (f *fakeRuntime) CreateContainer(_ context.Context, s runtime.ContainerSpec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, c := range f.containers {
		if c.PodUID == s.PodUID && c.Name == s.Name && c.Attempt == s.Attempt {
			return id, nil
		}
	}
	f.seq++
	id := fmt.Sprintf("c%04d", f.seq)
	f.containers[id] = &runtime.ContainerStatus{ID: id, PodUID: s.PodUID, PodNamespace: s.PodNamespace, PodName: s.PodName,
		Name: s.Name, Attempt: s.Attempt, Init: s.Init, State: runtime.StateCreated, CreatedAt: time.Now(),
		Image: "docker.io/library/" + s.Image, ImageRef: "docker.io/library/" + s.Image + "@sha256:feed", LogPath: s.LogPath}
	f.specs[id] = s
	return id, nil
}

func (f *fakeRuntime) StartContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	if c == nil {
		return fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	c.State, c.StartedAt = runtime.StateRunning, time.Now()
	return nil
}

func (f *fakeRuntime) StopContainer(_ context.Context, id string, _ time.Duration) error {
	f.mu.Lock()
	c := f.containers[id]
	if c == nil || c.State == runtime.StateExited {
		f.mu.Unlock()
		return nil
	}
	c.State, c.ExitCode, c.Reason, c.FinishedAt = runtime.StateExited, exitCodeKilled, reasonError, time.Now()
	uid := c.PodUID
	f.mu.Unlock()
	f.exits <- runtime.Exit{ID: id, PodUID: uid}
	return nil
}

func (f *fakeRuntime) RemoveContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, id)
	return nil
}

func (f *fakeRuntime) ListContainers(context.Context) ([]runtime.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runtime.ContainerStatus
	for _, c := range f.containers {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeRuntime) ContainerStatus(_ context.Context, id string) (runtime.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.containers[id]; c != nil {
		return *c, nil
	}
	return runtime.ContainerStatus{}, fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
}

func (f *fakeRuntime) Exec(_ context.Context, id string, o runtime.ExecOptions) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.execs = append(f.execs, fmt.Sprint(o.Command))
	if len(o.Command) == 0 {
		return 127, nil
	}
	return f.execCode[o.Command[0]], nil
}

func (f *fakeRuntime) Stats(context.Context, string) (runtime.Stats, error) {
	return runtime.Stats{}, nil
}
func (f *fakeRuntime) Exits() <-chan runtime.Exit { return f.exits }

// exit makes the running instance of pod uid's container name exit.
func (f *fakeRuntime) exit(uid types.UID, name string, code int32) bool {
	f.mu.Lock()
	var hit *runtime.ContainerStatus
	for _, c := range f.containers {
		if c.PodUID == uid && c.Name == name && c.State == runtime.StateRunning {
			hit = c
		}
	}
	if hit == nil {
		f.mu.Unlock()
		return false
	}
	hit.State, hit.ExitCode, hit.FinishedAt = runtime.StateExited, code, time.Now()
	hit.Reason = reasonCompleted
	if code != 0 {
		hit.Reason = reasonError
	}
	f.mu.Unlock()
	f.exits <- runtime.Exit{ID: hit.ID, PodUID: uid}
	return true
}

// running counts running instances of pod uid.
func (f *fakeRuntime) running(uid types.UID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.containers {
		if c.PodUID == uid && c.State == runtime.StateRunning {
			n++
		}
	}
	return n
}

func (f *fakeRuntime) count(uid types.UID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.containers {
		if c.PodUID == uid {
			n++
		}
	}
	return n
}

// fakeNetwork hands out loopback addresses (127.0.1.x), so probes of a
// test reach servers on loopback only.
type fakeNetwork struct {
	mu       sync.Mutex
	next     int
	attached map[types.UID]podnet.Attachment
	torn     map[types.UID]int
	fixedIP  netip.Addr
}

func newFakeNetwork() *fakeNetwork {
	return &fakeNetwork{attached: map[types.UID]podnet.Attachment{}, torn: map[types.UID]int{}}
}

func (n *fakeNetwork) Setup(_ context.Context, p podnet.PodRef) (podnet.Attachment, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if a, ok := n.attached[p.UID]; ok {
		return a, nil
	}
	n.next++
	ip := netip.AddrFrom4([4]byte{127, 0, 1, byte(n.next)})
	if n.fixedIP.IsValid() {
		ip = n.fixedIP
	}
	a := podnet.Attachment{NetNSPath: "/var/run/netns/fake-" + string(p.UID), IP: ip, Gateway: netip.MustParseAddr("127.0.1.254")}
	n.attached[p.UID] = a
	return a, nil
}

func (n *fakeNetwork) Teardown(_ context.Context, uid types.UID) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.attached[uid]; ok {
		n.torn[uid]++
	}
	delete(n.attached, uid)
	return nil
}

func (n *fakeNetwork) SetRoutes(context.Context, []podnet.NodeRoute) error { return nil }

func (n *fakeNetwork) Attached(context.Context) ([]types.UID, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []types.UID
	for uid := range n.attached {
		out = append(out, uid)
	}
	return out, nil
}

func (n *fakeNetwork) has(uid types.UID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.attached[uid]
	return ok
}

type fakeVolumes struct {
	mu   sync.Mutex
	set  map[types.UID]int
	torn map[types.UID]int
}

func newFakeVolumes() *fakeVolumes {
	return &fakeVolumes{set: map[types.UID]int{}, torn: map[types.UID]int{}}
}

func (v *fakeVolumes) Setup(_ context.Context, pod *corev1.Pod) (map[string][]runtime.Mount, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.set[pod.UID]++
	out := map[string][]runtime.Mount{}
	for _, c := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
		for _, m := range c.VolumeMounts {
			out[c.Name] = append(out[c.Name], runtime.Mount{HostPath: "/fake/" + string(pod.UID) + "/" + m.Name, ContainerPath: m.MountPath, ReadOnly: m.ReadOnly})
		}
	}
	return out, nil
}

func (v *fakeVolumes) Teardown(_ context.Context, uid types.UID) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.torn[uid]++
	return nil
}

type fakeEnv struct{}

func (fakeEnv) Env(_ context.Context, pod *corev1.Pod, c *corev1.Container) ([]string, error) {
	env := []string{"POD_NAME=" + pod.Name}
	for _, e := range c.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	return env, nil
}

func (fakeEnv) Files(_ context.Context, pod *corev1.Pod, ip netip.Addr) ([]runtime.Mount, error) {
	return []runtime.Mount{{HostPath: "/fake/" + string(pod.UID) + "/hosts", ContainerPath: "/etc/hosts"}}, nil
}

func podnetRef(uid types.UID) podnet.PodRef {
	return podnet.PodRef{UID: uid, Namespace: "default", Name: "gone"}
}
