package volumes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
)

// Errors, wrapped with the volume and object they concern.
var (
	// ErrNotFound: a ConfigMap, Secret, key or claim a volume needs does
	// not exist (and is not optional). The pod worker reports FailedMount
	// and retries.
	ErrNotFound = errors.New("not found")
	// ErrNotBound: a persistentVolumeClaim has no volume yet.
	ErrNotBound = errors.New("claim not bound")
	// ErrUnsupported: a volume type the agent cannot set up.
	ErrUnsupported = errors.New("unsupported volume")
)

// Plugin directory names under ROOT/<uid>/volumes/, kubelet's.
const (
	PluginEmptyDir    = "kubernetes.io~empty-dir"
	PluginConfigMap   = "kubernetes.io~configmap"
	PluginSecret      = "kubernetes.io~secret"
	PluginDownwardAPI = "kubernetes.io~downward-api"
	PluginProjected   = "kubernetes.io~projected"
)

// Config configures a Manager.
type Config struct {
	// Root holds a directory per pod, by UID (DATA_DIR/pods). Required.
	Root string
	// Client reads ConfigMaps, Secrets, PersistentVolumeClaims and
	// PersistentVolumes, and requests the service account tokens of
	// serviceAccountToken projections (TokenRequest,
	// serviceaccounts/<name>/token). Required.
	Client kubernetes.Interface
	// NodeName is this node's name (for messages).
	NodeName string
	// Allocatable is the node's allocatable resources: what a
	// downwardAPI resourceFieldRef reads for a limit a container does not
	// set, and the size of a memory emptyDir without sizeLimit in a pod
	// without memory limits.
	Allocatable corev1.ResourceList
	// ContainerEnv, when set, is the container's full environment
	// (podenv.Resolver.Env): subPathExpr expands against it. When nil a
	// subPathExpr sees the container's literal env values and fieldRef
	// values only.
	ContainerEnv func(ctx context.Context, pod *corev1.Pod, c *corev1.Container) ([]string, error)
	// Recorder, when set, records warnings (a skipped clusterTrustBundle
	// projection, a missing kube-root-ca.crt) as Events on the pod.
	Recorder record.EventRecorder
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock of token refreshes; default time.Now.
	Now func() time.Time
}

// Manager implements the pod worker's Volumes. Safe for concurrent use:
// calls for one pod are serialised, pods proceed in parallel.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu sync.Mutex // guards the fields below; never held across IO
	// pods serialises Setup and Teardown of one pod; an entry lives
	// while a call holds or waits for it.
	pods map[types.UID]*podLock
	// warned: warnings already reported, per pod, so that a Setup every
	// resync does not repeat them.
	warned map[types.UID]map[string]bool
	// tokens: the service account tokens issued per pod, until Teardown.
	tokens map[types.UID]map[TokenSource]issuedToken
}

// New checks cfg and returns a Manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Root == "" {
		return nil, errors.New("volumes: Config.Root is required (DATA_DIR/pods)")
	}
	if cfg.Client == nil {
		return nil, errors.New("volumes: Config.Client is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("volumes: root %s: %w", cfg.Root, err)
	}
	cfg.Root = root
	return &Manager{cfg: cfg, log: cfg.Logger.With("component", "volumes"),
		pods: map[types.UID]*podLock{}, warned: map[types.UID]map[string]bool{},
		tokens: map[types.UID]map[TokenSource]issuedToken{}}, nil
}

// PodDir is the directory of the pod with uid.
func (m *Manager) PodDir(uid types.UID) string { return filepath.Join(m.cfg.Root, string(uid)) }

// VolumeDir is where a volume the agent makes (emptyDir, configMap,
// secret, downwardAPI, projected) lives.
func (m *Manager) VolumeDir(uid types.UID, plugin, name string) string {
	return filepath.Join(m.cfg.Root, string(uid), "volumes", plugin, name)
}

type podLock struct {
	sync.Mutex
	refs int // guarded by Manager.mu
}

// lockPod waits for the pod's lock and returns its release.
func (m *Manager) lockPod(uid types.UID) func() {
	m.mu.Lock()
	l, ok := m.pods[uid]
	if !ok {
		l = &podLock{}
		m.pods[uid] = l
	}
	l.refs++
	m.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		m.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(m.pods, uid)
		}
		m.mu.Unlock()
	}
}

func validUID(uid types.UID) error {
	s := string(uid)
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\x00") {
		return fmt.Errorf("volumes: invalid pod UID %q", s)
	}
	return nil
}

// Setup makes every volume of pod ready and returns each container's
// mounts (init and ephemeral containers included) by container name. It
// is meant to be called again at every sync: configMap, secret,
// downwardAPI and projected contents are rewritten (atomically) when
// they changed. Every failing volume is named in the error (errors.Is
// ErrNotFound, ErrNotBound or ErrUnsupported); no mounts are returned
// then.
func (m *Manager) Setup(ctx context.Context, pod *corev1.Pod) (map[string][]runtime.Mount, error) {
	if err := validUID(pod.UID); err != nil {
		return nil, err
	}
	defer m.lockPod(pod.UID)()
	objs, err := m.readObjects(ctx, pod)
	if err != nil {
		return nil, err
	}
	vols := map[string]volumeInfo{}
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		info, warns, err := m.setupVolume(ctx, pod, v, objs)
		m.warnOnce(pod, v.Name, warns)
		if err != nil {
			errs = append(errs, fmt.Errorf("volume %q: %w", v.Name, err))
			continue
		}
		vols[v.Name] = info
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("volumes: pod %s/%s: %w", pod.Namespace, pod.Name, errors.Join(errs...))
	}
	out := map[string][]runtime.Mount{}
	var containers []*corev1.Container
	for i := range pod.Spec.InitContainers {
		containers = append(containers, &pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		containers = append(containers, &pod.Spec.Containers[i])
	}
	for i := range pod.Spec.EphemeralContainers {
		c := corev1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		containers = append(containers, &c)
	}
	for _, c := range containers {
		env, err := m.envFor(ctx, pod, c)
		if err != nil {
			return nil, err
		}
		reqs, err := containerMounts(c, vols, env)
		if err != nil {
			return nil, fmt.Errorf("volumes: pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		mounts := make([]runtime.Mount, 0, len(reqs))
		for _, r := range reqs {
			hp, err := resolveSubPath(r.Root, r.SubPath, !r.Managed)
			if err != nil {
				return nil, fmt.Errorf("volumes: pod %s/%s: container %s: volumeMount %q: %w", pod.Namespace, pod.Name, c.Name, r.Volume, err)
			}
			mounts = append(mounts, runtime.Mount{HostPath: hp, ContainerPath: r.ContainerPath, ReadOnly: r.ReadOnly})
		}
		out[c.Name] = mounts
	}
	return out, nil
}

func (m *Manager) envFor(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (map[string]string, error) {
	need := false
	for _, vm := range c.VolumeMounts {
		need = need || vm.SubPathExpr != ""
	}
	if !need {
		return nil, nil
	}
	if m.cfg.ContainerEnv == nil {
		return simpleEnv(pod, c), nil
	}
	lines, err := m.cfg.ContainerEnv(ctx, pod, c)
	if err != nil {
		return nil, fmt.Errorf("volumes: pod %s/%s: container %s: environment for subPathExpr: %w", pod.Namespace, pod.Name, c.Name, err)
	}
	return envMap(lines), nil
}

// readObjects reads the ConfigMaps and Secrets the pod's volumes name,
// and the service account tokens they project.
func (m *Manager) readObjects(ctx context.Context, pod *corev1.Pod) (Objects, error) {
	objs := Objects{ConfigMaps: map[string]*corev1.ConfigMap{}, Secrets: map[string]*corev1.Secret{},
		Tokens: map[TokenSource]string{}, TokenErrors: map[TokenSource]error{}}
	m.readTokens(ctx, pod, &objs)
	var cms, secrets []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			cms = append(cms, v.ConfigMap.Name)
		case v.Secret != nil:
			secrets = append(secrets, v.Secret.SecretName)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					cms = append(cms, s.ConfigMap.Name)
				}
				if s.Secret != nil {
					secrets = append(secrets, s.Secret.Name)
				}
			}
		}
	}
	core := m.cfg.Client.CoreV1()
	for _, name := range cms {
		if _, done := objs.ConfigMaps[name]; done {
			continue
		}
		cm, err := core.ConfigMaps(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return objs, fmt.Errorf("volumes: read configmap %s/%s: %w", pod.Namespace, name, err)
		default:
			objs.ConfigMaps[name] = cm
		}
	}
	for _, name := range secrets {
		if _, done := objs.Secrets[name]; done {
			continue
		}
		s, err := core.Secrets(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return objs, fmt.Errorf("volumes: read secret %s/%s: %w", pod.Namespace, name, err)
		default:
			objs.Secrets[name] = s
		}
	}
	return objs, nil
}

func fsGroup(pod *corev1.Pod) int64 {
	if sc := pod.Spec.SecurityContext; sc != nil && sc.FSGroup != nil {
		return *sc.FSGroup
	}
	return -1
}

func (m *Manager) setupVolume(ctx context.Context, pod *corev1.Pod, v *corev1.Volume, objs Objects) (volumeInfo, []Warning, error) {
	gid := fsGroup(pod)
	switch {
	case v.EmptyDir != nil:
		dir := m.VolumeDir(pod.UID, PluginEmptyDir, v.Name)
		switch v.EmptyDir.Medium {
		case corev1.StorageMediumDefault:
			if err := makeEmptyDir(dir, gid); err != nil {
				return volumeInfo{}, nil, err
			}
		case corev1.StorageMediumMemory:
			if err := mountTmpfs(dir, memorySize(pod, v.EmptyDir, m.cfg.Allocatable), 0o777); err != nil {
				return volumeInfo{}, nil, err
			}
			if err := makeEmptyDir(dir, gid); err != nil {
				return volumeInfo{}, nil, err
			}
		default:
			return volumeInfo{}, nil, fmt.Errorf("emptyDir medium %q: %w (use \"\" or Memory)", v.EmptyDir.Medium, ErrUnsupported)
		}
		return volumeInfo{Path: dir}, nil, nil
	case v.HostPath != nil:
		p := filepath.Clean(v.HostPath.Path)
		if !filepath.IsAbs(p) {
			return volumeInfo{}, nil, fmt.Errorf("hostPath %q must be absolute", v.HostPath.Path)
		}
		if err := ensureHostPath(p, v.HostPath.Type); err != nil {
			return volumeInfo{}, nil, err
		}
		if v.HostPath.Type == nil || *v.HostPath.Type == corev1.HostPathUnset {
			// No check asked; a missing path becomes a directory, as
			// containerd's CRI plugin does for kubelet.
			if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
				if err := os.MkdirAll(p, 0o755); err != nil {
					return volumeInfo{}, nil, fmt.Errorf("hostPath %s: %w", p, err)
				}
			}
		}
		return volumeInfo{Path: p}, nil, nil
	case v.ConfigMap != nil:
		s := v.ConfigMap
		p, err := configMapPayload(pod.Namespace, s.Name, s.Items, optional(s.Optional), mode(s.DefaultMode, DefaultMode), objs)
		if err != nil {
			return volumeInfo{}, nil, err
		}
		return m.writeManaged(pod, PluginConfigMap, v.Name, p, gid, false)
	case v.Secret != nil:
		s := v.Secret
		p, err := secretPayload(pod.Namespace, s.SecretName, s.Items, optional(s.Optional), mode(s.DefaultMode, DefaultMode), objs)
		if err != nil {
			return volumeInfo{}, nil, err
		}
		return m.writeManaged(pod, PluginSecret, v.Name, p, gid, true)
	case v.DownwardAPI != nil:
		p, err := downwardPayload(pod, v.DownwardAPI.Items, mode(v.DownwardAPI.DefaultMode, DefaultMode), m.cfg.Allocatable)
		if err != nil {
			return volumeInfo{}, nil, err
		}
		return m.writeManaged(pod, PluginDownwardAPI, v.Name, p, gid, false)
	case v.Projected != nil:
		p, warns, err := projectedPayload(pod, v.Projected, objs, m.cfg.Allocatable)
		if err != nil {
			return volumeInfo{}, warns, err
		}
		info, _, err := m.writeManaged(pod, PluginProjected, v.Name, p, gid, true)
		return info, warns, err
	case v.PersistentVolumeClaim != nil:
		p, err := m.claimPath(ctx, pod, v.PersistentVolumeClaim.ClaimName, false)
		return volumeInfo{Path: p, ReadOnly: v.PersistentVolumeClaim.ReadOnly}, nil, err
	case v.Ephemeral != nil:
		// A generic ephemeral volume is the claim <pod>-<volume>, owned
		// by the pod.
		p, err := m.claimPath(ctx, pod, pod.Name+"-"+v.Name, true)
		return volumeInfo{Path: p}, nil, err
	}
	return volumeInfo{}, nil, fmt.Errorf("%w: the Kelson node agent sets up emptyDir, hostPath, configMap, secret, downwardAPI, projected, persistentVolumeClaim and ephemeral volumes", ErrUnsupported)
}

// writeManaged writes an atomically updated volume; secrets (and
// projected volumes, which may hold them) live on a tmpfs so they never
// reach the node's disk.
func (m *Manager) writeManaged(pod *corev1.Pod, plugin, name string, p Payload, gid int64, tmpfs bool) (volumeInfo, []Warning, error) {
	dir := m.VolumeDir(pod.UID, plugin, name)
	if tmpfs {
		if err := mountTmpfs(dir, 0, 0o755); err != nil {
			return volumeInfo{}, nil, err
		}
	}
	changed, err := writeAtomic(dir, p, gid)
	if err != nil {
		return volumeInfo{}, nil, fmt.Errorf("write %s: %w", dir, err)
	}
	if changed {
		m.log.Debug("volume content written", "pod", pod.Namespace+"/"+pod.Name, "volume", name, "files", len(p))
	}
	return volumeInfo{Path: dir, ReadOnly: true, Managed: true}, nil, nil
}

func makeEmptyDir(dir string, gid int64) error {
	fi, err := os.Stat(dir)
	if err == nil && fi.IsDir() && fi.Mode().Perm() == 0o777 {
		st, ok := fi.Sys().(*syscall.Stat_t)
		if gid < 0 || ok && int64(st.Gid) == gid {
			return nil
		}
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	perm := os.FileMode(0o777)
	if gid >= 0 {
		if err := os.Lchown(dir, -1, int(gid)); err != nil {
			return err
		}
		perm |= os.ModeSetgid
	}
	return os.Chmod(dir, perm)
}

// memorySize is the size of a memory emptyDir: its sizeLimit, else the
// sum of the pod's container memory limits when every container has one,
// else the node's allocatable memory (0: the kernel's default).
func memorySize(pod *corev1.Pod, e *corev1.EmptyDirVolumeSource, alloc corev1.ResourceList) int64 {
	if e.SizeLimit != nil && e.SizeLimit.Value() > 0 {
		return e.SizeLimit.Value()
	}
	var sum int64
	for _, c := range pod.Spec.Containers {
		l, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok {
			sum = 0
			break
		}
		sum += l.Value()
	}
	if sum > 0 {
		return sum
	}
	if a, ok := alloc[corev1.ResourceMemory]; ok {
		return a.Value()
	}
	return 0
}

// claimPath resolves a claim to the node path of its bound volume and
// makes the directory of a hostPath volume when its type asks.
func (m *Manager) claimPath(ctx context.Context, pod *corev1.Pod, claimName string, ephemeral bool) (string, error) {
	core := m.cfg.Client.CoreV1()
	pvc, err := core.PersistentVolumeClaims(pod.Namespace).Get(ctx, claimName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("persistentvolumeclaim %q not found in namespace %s: %w", claimName, pod.Namespace, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("read persistentvolumeclaim %s/%s: %w", pod.Namespace, claimName, err)
	}
	if ephemeral && !metav1.IsControlledBy(pvc, pod) {
		return "", fmt.Errorf("persistentvolumeclaim %q was not created for the pod (not owned by it)", claimName)
	}
	if pvc.Spec.VolumeName == "" {
		return "", fmt.Errorf("persistentvolumeclaim %q is not bound yet (phase %s): %w", claimName, pvc.Status.Phase, ErrNotBound)
	}
	pv, err := core.PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("persistentvolume %q of claim %q not found: %w", pvc.Spec.VolumeName, claimName, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("read persistentvolume %s: %w", pvc.Spec.VolumeName, err)
	}
	p, typ, err := claimVolume(pvc, pv)
	if err != nil {
		return "", err
	}
	if typ != nil || pv.Spec.Local == nil {
		if err := ensureHostPath(p, typ); err != nil {
			return "", fmt.Errorf("persistentvolume %q: %w", pv.Name, err)
		}
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("persistentvolume %q: path %s on node %s: %w", pv.Name, p, m.cfg.NodeName, err)
	}
	return p, nil
}

// claimVolume is the node path of claim's volume pv: hostPath and local
// volumes only, bound to this very claim.
func claimVolume(pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) (string, *corev1.HostPathType, error) {
	ref := pv.Spec.ClaimRef
	if ref == nil || ref.Name != pvc.Name || ref.Namespace != pvc.Namespace || ref.UID != "" && ref.UID != pvc.UID {
		return "", nil, fmt.Errorf("persistentvolume %q is not bound to claim %s/%s: %w", pv.Name, pvc.Namespace, pvc.Name, ErrNotBound)
	}
	switch {
	case pv.Spec.HostPath != nil:
		p := filepath.Clean(pv.Spec.HostPath.Path)
		if !filepath.IsAbs(p) {
			return "", nil, fmt.Errorf("persistentvolume %q: hostPath %q must be absolute", pv.Name, pv.Spec.HostPath.Path)
		}
		return p, pv.Spec.HostPath.Type, nil
	case pv.Spec.Local != nil:
		p := filepath.Clean(pv.Spec.Local.Path)
		if !filepath.IsAbs(p) {
			return "", nil, fmt.Errorf("persistentvolume %q: local path %q must be absolute", pv.Name, pv.Spec.Local.Path)
		}
		return p, nil, nil
	}
	return "", nil, fmt.Errorf("persistentvolume %q: %w: only hostPath and local persistent volumes can be mounted by the Kelson node agent", pv.Name, ErrUnsupported)
}

// Teardown unmounts what Setup mounted for the pod (tmpfs volumes) and
// removes its directory, Root/<uid>, never following a symlink and never
// entering a mount point: hostPath and persistent volumes are bound by
// the runtime from their own paths and are never under the pod's
// directory, and a container's link to elsewhere is removed, not
// followed. An unknown UID is a no-op.
func (m *Manager) Teardown(ctx context.Context, uid types.UID) error {
	if err := validUID(uid); err != nil {
		return err
	}
	defer m.lockPod(uid)()
	m.mu.Lock()
	delete(m.warned, uid)
	m.mu.Unlock()
	m.forgetTokens(uid)
	dir := m.PodDir(uid)
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("volumes: teardown %s: %w", uid, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("volumes: teardown %s: %s is not a directory: left alone", uid, dir)
	}
	if err := unmountAll(dir); err != nil {
		return fmt.Errorf("volumes: teardown %s: %w", uid, err)
	}
	if err := removeTree(dir); err != nil {
		return fmt.Errorf("volumes: teardown %s: %w", uid, err)
	}
	return nil
}

func (m *Manager) warnOnce(pod *corev1.Pod, volume string, warns []Warning) {
	for _, w := range warns {
		key := volume + "\x00" + w.Reason + "\x00" + w.Message
		m.mu.Lock()
		seen := m.warned[pod.UID][key]
		if !seen {
			if m.warned[pod.UID] == nil {
				m.warned[pod.UID] = map[string]bool{}
			}
			m.warned[pod.UID][key] = true
		}
		m.mu.Unlock()
		if seen {
			continue
		}
		m.log.Warn(w.Message, "reason", w.Reason, "pod", pod.Namespace+"/"+pod.Name, "volume", volume)
		if m.cfg.Recorder != nil {
			m.cfg.Recorder.Eventf(pod, corev1.EventTypeWarning, w.Reason, "volume %q: %s", volume, w.Message)
		}
	}
}
