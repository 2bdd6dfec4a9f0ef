package podenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
)

// ErrNotFound is wrapped by errors for a ConfigMap, Secret or key an
// environment needs and that does not exist (not optional): the pod
// worker reports it (CreateContainerConfigError) and retries.
var ErrNotFound = errors.New("not found")

// Defaults.
const (
	DefaultClusterDomain  = "cluster.local"
	DefaultHostResolvConf = "/etc/resolv.conf"
	DefaultHostHosts      = "/etc/hosts"
	// SystemdResolvConf is used instead of the host's resolv.conf when
	// that one names only loopback nameservers (systemd-resolved's stub
	// at 127.0.0.53, unreachable from a pod's network namespace).
	SystemdResolvConf = "/run/systemd/resolve/resolv.conf"
)

// Files under Root/<pod uid>/.
const (
	HostsFileName    = "etc-hosts"
	ResolvFileName   = "resolv.conf"
	HostnameFileName = "hostname"
)

// Config configures a Resolver. Zero values mean the defaults.
type Config struct {
	// Client reads Services, ConfigMaps and Secrets. Required.
	Client kubernetes.Interface
	// Services, when set, is read instead of listing Services through
	// Client at every container start (the agent's informer).
	Services corelisters.ServiceLister
	// ClusterDomain; default "cluster.local".
	ClusterDomain string
	// ClusterDNS are the cluster DNS Service's IPs; none makes
	// ClusterFirst pods fall back to Default (with a warning).
	ClusterDNS []netip.Addr
	// Root is the directory holding a directory per pod (by UID) where
	// the hosts, resolv.conf and hostname files are written. Required.
	// The agent gives volumes.Config the same Root, so that
	// volumes.Teardown removes these files with the pod's directory.
	Root string
	// HostResolvConf is the node's resolv.conf; default /etc/resolv.conf
	// (or /run/systemd/resolve/resolv.conf when the former has only
	// loopback nameservers).
	HostResolvConf string
	// HostHosts is the node's hosts file, for hostNetwork pods; default
	// /etc/hosts.
	HostHosts string
	// NodeName and NodeIP: status.hostIP(s) of pods whose status does not
	// have it yet.
	NodeName string
	NodeIP   netip.Addr
	// Allocatable is the node's allocatable resources: what
	// resourceFieldRef reads for a limit a container does not set.
	Allocatable corev1.ResourceList
	// Recorder, when set, records warnings (invalid envFrom keys, DNS
	// limits) as Events on the pod.
	Recorder record.EventRecorder
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Resolver implements the pod worker's Env: a container's environment
// and the pod's hosts/resolv.conf files. Safe for concurrent use.
type Resolver struct {
	cfg Config
	log *slog.Logger
	mu  sync.Mutex // serialises file writes of one Resolver
}

// New checks cfg and returns a Resolver.
func New(cfg Config) (*Resolver, error) {
	if cfg.Client == nil {
		return nil, errors.New("podenv: Config.Client is required")
	}
	if cfg.Root == "" {
		return nil, errors.New("podenv: Config.Root is required (the per-pod files directory, e.g. DATA_DIR/pods)")
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = DefaultClusterDomain
	}
	if cfg.HostResolvConf == "" {
		cfg.HostResolvConf = DefaultHostResolvConf
	}
	if cfg.HostHosts == "" {
		cfg.HostHosts = DefaultHostHosts
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Resolver{cfg: cfg, log: cfg.Logger.With("component", "podenv")}, nil
}

// Env is container c's environment, KEY=VALUE (see Compose). The pod's
// status.podIP(s) should hold the sandbox's address (the pod worker sets
// them on its copy before starting containers); status.hostIP defaults
// to Config.NodeIP. A missing ConfigMap, Secret or key that is not
// optional is an error wrapping ErrNotFound.
func (r *Resolver) Env(ctx context.Context, pod *corev1.Pod, c *corev1.Container) ([]string, error) {
	services, err := r.services(ctx, pod.Namespace)
	if err != nil {
		return nil, err
	}
	enable := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	src := Sources{
		Pod:         r.withNode(pod),
		ServiceVars: ServiceLinkVars(LinkedServices(pod.Namespace, enable, services)),
		ConfigMaps:  map[string]*corev1.ConfigMap{},
		Secrets:     map[string]*corev1.Secret{},
		Allocatable: r.cfg.Allocatable,
	}
	cms, secrets := ReferencedObjects(c)
	for _, name := range cms {
		cm, err := r.cfg.Client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("podenv: read configmap %s/%s: %w", pod.Namespace, name, err)
		default:
			src.ConfigMaps[name] = cm
		}
	}
	for _, name := range secrets {
		s, err := r.cfg.Client.CoreV1().Secrets(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("podenv: read secret %s/%s: %w", pod.Namespace, name, err)
		default:
			src.Secrets[name] = s
		}
	}
	env, warns, err := Compose(c, src)
	r.warn(pod, warns)
	return env, err
}

// withNode returns pod, or a shallow copy whose status names the node's
// address when the pod's does not.
func (r *Resolver) withNode(pod *corev1.Pod) *corev1.Pod {
	needIP := pod.Status.HostIP == "" && r.cfg.NodeIP.IsValid()
	needName := pod.Spec.NodeName == "" && r.cfg.NodeName != ""
	if !needIP && !needName {
		return pod
	}
	p := *pod
	if needIP {
		p.Status.HostIP = r.cfg.NodeIP.String()
		p.Status.HostIPs = []corev1.HostIP{{IP: p.Status.HostIP}}
	}
	if needName {
		p.Spec.NodeName = r.cfg.NodeName
	}
	return &p
}

// services are the Services of ns and default/kubernetes.
func (r *Resolver) services(ctx context.Context, ns string) ([]*corev1.Service, error) {
	var out []*corev1.Service
	if l := r.cfg.Services; l != nil {
		list, err := l.Services(ns).List(labels.Everything())
		if err != nil {
			return nil, fmt.Errorf("podenv: list services of %s: %w", ns, err)
		}
		out = append(out, list...)
		if ns != metav1.NamespaceDefault {
			if s, err := l.Services(metav1.NamespaceDefault).Get(MasterService); err == nil {
				out = append(out, s)
			}
		}
		return out, nil
	}
	list, err := r.cfg.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("podenv: list services of %s: %w", ns, err)
	}
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	if ns != metav1.NamespaceDefault {
		s, err := r.cfg.Client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, MasterService, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("podenv: read service default/%s: %w", MasterService, err)
		default:
			out = append(out, s)
		}
	}
	return out, nil
}

// Files writes the pod's hosts, resolv.conf and hostname files under
// Root/<uid>/ (a file is rewritten only when its content changed, so
// running containers keep seeing the same file) and returns their
// read-only mounts at /etc/hosts, /etc/resolv.conf and /etc/hostname.
func (r *Resolver) Files(ctx context.Context, pod *corev1.Pod, podIP netip.Addr) ([]runtime.Mount, error) {
	if pod.UID == "" {
		return nil, errors.New("podenv: pod has no UID")
	}
	hostHosts := []byte(nil)
	if pod.Spec.HostNetwork {
		b, err := os.ReadFile(r.cfg.HostHosts)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("podenv: read the node's hosts file: %w", err)
		}
		hostHosts = b
	}
	host, err := r.hostResolv()
	if err != nil {
		return nil, err
	}
	resolv, warns := PodDNS(pod, DNSParams{ClusterDNS: r.cfg.ClusterDNS, ClusterDomain: r.cfg.ClusterDomain, Host: host})
	r.warn(pod, warns)
	hostname, _ := Hostname(pod, r.cfg.ClusterDomain)
	if pod.Spec.HostNetwork {
		if h, err := os.Hostname(); err == nil {
			hostname = h
		}
	}
	dir := filepath.Join(r.cfg.Root, string(pod.UID))
	files := []struct {
		name, target string
		data         []byte
	}{
		{HostsFileName, "/etc/hosts", HostsFile(pod, PodIPs(pod, podIP), r.cfg.ClusterDomain, hostHosts)},
		{ResolvFileName, "/etc/resolv.conf", resolv.Format()},
		{HostnameFileName, "/etc/hostname", []byte(hostname + "\n")},
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("podenv: make the pod's directory: %w", err)
	}
	mounts := make([]runtime.Mount, 0, len(files))
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := writeIfChanged(p, f.data); err != nil {
			return nil, fmt.Errorf("podenv: write %s: %w", p, err)
		}
		mounts = append(mounts, runtime.Mount{HostPath: p, ContainerPath: f.target, ReadOnly: true})
	}
	return mounts, nil
}

// Remove deletes the files Files wrote for uid (volumes.Teardown does it
// too when both share Root). An unknown UID is a no-op.
func (r *Resolver) Remove(uid types.UID) error {
	if uid == "" {
		return nil
	}
	dir := filepath.Join(r.cfg.Root, string(uid))
	for _, n := range []string{HostsFileName, ResolvFileName, HostnameFileName} {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("podenv: remove pod files: %w", err)
		}
	}
	return nil
}

func (r *Resolver) hostResolv() (ResolvConf, error) {
	b, err := os.ReadFile(r.cfg.HostResolvConf)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ResolvConf{}, fmt.Errorf("podenv: read the node's resolv.conf %s: %w", r.cfg.HostResolvConf, err)
	}
	rc := ParseResolvConf(b)
	if rc.OnlyLoopback() && r.cfg.HostResolvConf == DefaultHostResolvConf {
		if b2, err := os.ReadFile(SystemdResolvConf); err == nil {
			return ParseResolvConf(b2), nil
		}
	}
	return rc, nil
}

func (r *Resolver) warn(pod *corev1.Pod, warns []Warning) {
	for _, w := range warns {
		r.log.Warn(w.Message, "reason", w.Reason, "pod", pod.Namespace+"/"+pod.Name)
		if r.cfg.Recorder != nil {
			r.cfg.Recorder.Event(pod, corev1.EventTypeWarning, w.Reason, w.Message)
		}
	}
}

// writeIfChanged replaces p with data (write to a temporary file, then
// rename) unless p already holds exactly data.
func writeIfChanged(p string, data []byte) error {
	if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
