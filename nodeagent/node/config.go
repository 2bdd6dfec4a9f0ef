package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	usagev1alpha1 "github.com/kelson-dev/kelson/api/metrics/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
)

// ErrBadConfig marks a Config that cannot run; the message says which
// field and why.
var ErrBadConfig = errors.New("node: bad config")

// Defaults of Config's fields.
const (
	DefaultDaemonPort            = 10250
	DefaultMaxPods               = 110
	DefaultKubeletVersion        = "v1.37.2"
	DefaultRuntimeVersion        = "containerd://unknown"
	DefaultLeaseDuration         = 40 * time.Second
	DefaultLeaseRenewInterval    = 10 * time.Second
	DefaultStatusUpdateFrequency = 10 * time.Second
	DefaultStatusReportFrequency = 5 * time.Minute
	DefaultUsageInterval         = 15 * time.Second
	// DefaultMemoryAvailable is kubelet's hard eviction threshold
	// memory.available<100Mi.
	DefaultMemoryAvailable = 100 << 20
	// DefaultDiskAvailablePercent and DefaultInodesFreePercent are
	// kubelet's nodefs.available<10% and nodefs.inodesFree<5%.
	DefaultDiskAvailablePercent = 10
	DefaultInodesFreePercent    = 5
	// DefaultPIDAvailablePercent: PIDPressure when fewer than 10% of
	// kernel.pid_max are left.
	DefaultPIDAvailablePercent = 10
)

// NodeLeaseNamespace holds the nodes' Leases.
const NodeLeaseNamespace = corev1.NamespaceNodeLease

// UsageReporter writes a node's usage report, replacing the one it had.
// *usagev1alpha1.Client (api/metrics/v1alpha1) is one.
type UsageReporter interface {
	Report(ctx context.Context, u *usagev1alpha1.NodeUsage) (*usagev1alpha1.NodeUsage, error)
}

// Thresholds are the levels under which the node reports a pressure
// condition. Zero fields take their defaults; a negative field disables
// its check.
type Thresholds struct {
	// MemoryAvailable (bytes, /proc/meminfo MemAvailable): default 100Mi.
	// It is also held back from allocatable memory, as kubelet does with
	// its hard eviction threshold.
	MemoryAvailable int64
	// DiskAvailablePercent and InodesFreePercent of DataDir's filesystem:
	// defaults 10 and 5. DiskAvailablePercent of the filesystem is also
	// held back from allocatable ephemeral-storage.
	DiskAvailablePercent, InodesFreePercent int
	// PIDAvailablePercent of kernel.pid_max: default 10.
	PIDAvailablePercent int
}

// Config is one node agent's Node. The zero value of every field but
// Client means its default.
type Config struct {
	// NodeName names the Node and its Lease; default the host name,
	// lower-cased. It must be a DNS-1123 subdomain.
	NodeName string
	// Hostname is the node's Hostname address; default os.Hostname().
	Hostname string
	// Client reaches the API. Required.
	Client kubernetes.Interface
	// UsageClient receives the usage reports (every UsageInterval); nil:
	// no usage reports (kubectl top and the HPA see nothing of this node).
	UsageClient UsageReporter
	// PodUsage returns the cumulative stats of the pods' running
	// containers (the agent fills it from runtime.Stats); nil: the usage
	// reports hold the node's usage only.
	PodUsage func(ctx context.Context) ([]PodUsage, error)
	// Healthy, if set, is asked before each status post: an error makes
	// the node Ready=False (reason KubeletNotReady, the error as message),
	// as kubelet reports a runtime or network that is not ready.
	Healthy func(ctx context.Context) error

	// NodeIPs are the node's InternalIP addresses (--node-ip); empty:
	// detected (DetectNodeIPs: the address of the interface holding the
	// default route, else the first global unicast address).
	NodeIPs []netip.Addr
	// Labels are added to kubernetes.io/hostname, kubernetes.io/os and
	// kubernetes.io/arch (--node-label; ParseLabels) and win over them.
	Labels map[string]string
	// Taints are set at registration (--node-taint; ParseTaints); an
	// adopted node keeps the taints others set.
	Taints []corev1.Taint
	// DaemonPort is the agent's HTTPS port (logs, exec), reported as
	// daemonEndpoints.kubeletEndpoint.port; default 10250.
	DaemonPort int32
	// DataDir is the agent's data directory: its filesystem is the node's
	// ephemeral-storage (statfs). Default "/".
	DataDir string
	// RuntimeVersion is nodeInfo.containerRuntimeVersion, such as
	// "containerd://1.6.20"; default "containerd://unknown".
	RuntimeVersion string
	// KubeletVersion is nodeInfo.kubeletVersion and kubeProxyVersion: the
	// Kubernetes release the API server reports; default "v1.37.2".
	KubeletVersion string
	// MaxPods is the pods capacity; default 110.
	MaxPods int
	// Reserved (system-reserved: cpu, memory, ephemeral-storage) is taken
	// from capacity to make allocatable.
	Reserved corev1.ResourceList
	// Thresholds of the pressure conditions.
	Thresholds Thresholds

	// LeaseDuration is the Lease's leaseDurationSeconds (whole seconds);
	// default 40s. LeaseRenewInterval: how often it is renewed; default
	// 10s.
	LeaseDuration, LeaseRenewInterval time.Duration
	// StatusUpdateFrequency is how often the status is computed (and
	// posted if it changed, or if the node's Ready condition was set to
	// something else); default 10s. StatusReportFrequency is how often it
	// is posted when nothing changed; default 5m.
	StatusUpdateFrequency, StatusReportFrequency time.Duration
	// UsageInterval is how often usage is sampled and reported; default
	// 15s, at most 1m (the API ignores reports older than 2m).
	UsageInterval time.Duration

	// HostFS is the host's root, where /proc, /sys and /etc are read;
	// default os.DirFS("/"). Tests give a fstest.MapFS.
	HostFS fs.FS
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// withDefaults returns c with defaults filled in, or an error wrapping
// ErrBadConfig. NodeIPs are not detected here (New does that).
func (c Config) withDefaults() (Config, error) {
	bad := func(format string, a ...any) (Config, error) {
		return c, fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, a...)...)
	}
	if c.Client == nil {
		return bad("Client is required")
	}
	if c.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return bad("no Hostname given and the host name is unknown (%v)", err)
		}
		c.Hostname = h
	}
	if c.NodeName == "" {
		c.NodeName = strings.ToLower(c.Hostname)
	}
	if errs := validation.IsDNS1123Subdomain(c.NodeName); len(errs) > 0 {
		return bad("node name %q: %s (set --node-name)", c.NodeName, strings.Join(errs, "; "))
	}
	if err := validateLabels(c.Labels); err != nil {
		return bad("%v", err)
	}
	for _, t := range c.Taints {
		if err := validateTaint(t); err != nil {
			return bad("%v", err)
		}
	}
	for _, ip := range c.NodeIPs {
		if !ip.IsValid() || ip.IsUnspecified() {
			return bad("node IP %q is not a usable address", ip)
		}
	}
	if c.DaemonPort == 0 {
		c.DaemonPort = DefaultDaemonPort
	}
	if c.DaemonPort < 0 || c.DaemonPort > 65535 {
		return bad("DaemonPort %d is not a port", c.DaemonPort)
	}
	if c.DataDir == "" {
		c.DataDir = "/"
	}
	if c.RuntimeVersion == "" {
		c.RuntimeVersion = DefaultRuntimeVersion
	}
	if c.KubeletVersion == "" {
		c.KubeletVersion = DefaultKubeletVersion
	}
	if c.MaxPods == 0 {
		c.MaxPods = DefaultMaxPods
	}
	if c.MaxPods < 0 {
		return bad("MaxPods %d is negative", c.MaxPods)
	}
	for name, q := range c.Reserved {
		if q.Sign() < 0 {
			return bad("reserved %s %s is negative", name, q.String())
		}
	}
	th := &c.Thresholds
	if th.MemoryAvailable == 0 {
		th.MemoryAvailable = DefaultMemoryAvailable
	}
	if th.DiskAvailablePercent == 0 {
		th.DiskAvailablePercent = DefaultDiskAvailablePercent
	}
	if th.InodesFreePercent == 0 {
		th.InodesFreePercent = DefaultInodesFreePercent
	}
	if th.PIDAvailablePercent == 0 {
		th.PIDAvailablePercent = DefaultPIDAvailablePercent
	}
	if th.DiskAvailablePercent > 100 || th.InodesFreePercent > 100 || th.PIDAvailablePercent > 100 {
		return bad("a threshold percentage is above 100: %+v", *th)
	}
	durations := []struct {
		d   *time.Duration
		def time.Duration
		n   string
	}{
		{&c.LeaseDuration, DefaultLeaseDuration, "LeaseDuration"},
		{&c.LeaseRenewInterval, DefaultLeaseRenewInterval, "LeaseRenewInterval"},
		{&c.StatusUpdateFrequency, DefaultStatusUpdateFrequency, "StatusUpdateFrequency"},
		{&c.StatusReportFrequency, DefaultStatusReportFrequency, "StatusReportFrequency"},
		{&c.UsageInterval, DefaultUsageInterval, "UsageInterval"},
	}
	for _, d := range durations {
		if *d.d == 0 {
			*d.d = d.def
		}
		if *d.d < 0 {
			return bad("%s %v is negative", d.n, *d.d)
		}
	}
	if c.LeaseDuration < time.Second {
		return bad("LeaseDuration %v is under a second", c.LeaseDuration)
	}
	if c.LeaseRenewInterval >= c.LeaseDuration {
		return bad("LeaseRenewInterval %v must be shorter than LeaseDuration %v", c.LeaseRenewInterval, c.LeaseDuration)
	}
	if c.UsageInterval > time.Minute {
		return bad("UsageInterval %v is over a minute: the API ignores reports older than 2m", c.UsageInterval)
	}
	if c.HostFS == nil {
		c.HostFS = os.DirFS("/")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// reservedOf is the reserved amount of a resource (zero if none).
func (c *Config) reservedOf(name corev1.ResourceName) resource.Quantity {
	if q, ok := c.Reserved[name]; ok {
		return q.DeepCopy()
	}
	return resource.Quantity{}
}
