package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"net/netip"
	"runtime"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
)

// ErrBadConfig marks a Config that cannot run; the message says which
// field and why.
var ErrBadConfig = errors.New("sim: bad config")

// Config is a fleet of simulated nodes. The zero value of every field but
// Client means its default.
type Config struct {
	// Client reaches the API. Required. The simulator writes a lot (500
	// Lease renewals a second at 5,000 nodes): give it a client without a
	// client-side rate limit (rest.Config QPS -1).
	Client kubernetes.Interface

	// Nodes is how many nodes to simulate; default 1.
	Nodes int
	// NamePrefix names the nodes NamePrefix-0 ... NamePrefix-(Nodes-1);
	// default "sim-node". Nodes of that name that exist already are adopted
	// (a restarted simulator carries on with its nodes and their pods).
	NamePrefix string

	// CPU, Memory, EphemeralStorage and Pods are each node's capacity and
	// allocatable; defaults 8 cores, 32Gi, 100Gi and 110 pods.
	CPU, Memory, EphemeralStorage resource.Quantity
	Pods                          int
	// ExtraResources are more capacity (extended resources such as
	// "example.com/gpu": 4), or overrides of the above.
	ExtraResources corev1.ResourceList

	// Labels are added to the standard ones (kubernetes.io/hostname,
	// kubernetes.io/os=linux, kubernetes.io/arch, node.kubernetes.io/
	// instance-type=sim, sim.kelson.dev/simulated=true) and win over them.
	Labels map[string]string
	// Taints are set on every node at registration (an adopted node keeps
	// taints others added, such as the node lifecycle controller's).
	Taints []corev1.Taint
	// Arch is kubernetes.io/arch and nodeInfo.architecture; default
	// runtime.GOARCH.
	Arch string
	// KubeletVersion is reported in nodeInfo; default KubeletVersion.
	KubeletVersion string

	// LeaseDuration is each node Lease's leaseDurationSeconds; default 40s
	// (kubelet's). LeaseRenewInterval is how often the Leases are renewed;
	// default a quarter of LeaseDuration. Renewals are spread over the
	// interval.
	LeaseDuration, LeaseRenewInterval time.Duration
	// NodeStatusUpdateFrequency: how often each node's status is computed
	// and written when it changed (say, something marked it NotReady);
	// default 10s. NodeStatusReportFrequency: how often it is written
	// anyway, refreshing the conditions' lastHeartbeatTime; default 5m. As
	// kubelet's flags of those names.
	NodeStatusUpdateFrequency, NodeStatusReportFrequency time.Duration

	// AssignPodCIDRs makes the simulator give each node without a pod
	// CIDR its own at registration (node i gets the i-th NodeCIDRMaskSize
	// subnet of ClusterCIDR), for use without a node IPAM controller. By
	// default the simulator waits for spec.podCIDRs to be set by the
	// controller, and a pod on a node without one stays Pending.
	AssignPodCIDRs bool
	// ClusterCIDR and NodeCIDRMaskSize (AssignPodCIDRs only); defaults
	// 10.42.0.0/16 and 24. The range must hold Nodes subnets.
	ClusterCIDR      netip.Prefix
	NodeCIDRMaskSize int

	// RestartBackoff and MaxRestartBackoff shape CrashLoopBackOff: a
	// container that exited is restarted at once the first time, then
	// after RestartBackoff doubling with each restart up to
	// MaxRestartBackoff; defaults 10s and 5m (kubelet's). Tests shorten
	// them.
	RestartBackoff, MaxRestartBackoff time.Duration

	// Workers bounds the concurrent pod writes (status updates,
	// deletions); default 32. HeartbeatWorkers bounds the concurrent node
	// writes (registration, Leases, node status); default 64. The two
	// pools are separate so a burst of pods never starves the Leases.
	Workers, HeartbeatWorkers int

	// ReportUsage makes every node report its resource usage each
	// UsageInterval (a metrics.kelson.dev/v1alpha1 NodeUsage, from which
	// the API serves metrics.k8s.io, what `kubectl top` and
	// HorizontalPodAutoscalers read): its Running pods' containers use
	// what AnnotationCPUUsage and AnnotationMemoryUsage say, by default
	// half their requests; the node uses their sum plus NodeOverheadMilliCPU
	// and NodeOverheadMemory. Needs UsageClient. Default false.
	ReportUsage bool
	// UsageClient writes the reports (ReportUsage only): the client of
	// package api/metrics/v1alpha1 (v1alpha1.NewForConfig) or a fake.
	UsageClient UsageReporter
	// UsageInterval is how often each node reports, and the window its
	// usage is said to be averaged over; default 15s (metrics-server's
	// resolution), at most 1m (readers ignore reports older than 2m). The
	// nodes' reports are spread over the interval.
	UsageInterval time.Duration

	// DeleteNodesOnExit deletes the nodes and their Leases when Run
	// returns. By default they stay, and go NotReady when their Leases
	// expire (the node lifecycle controller's work), as a stopped
	// kubelet's do.
	DeleteNodesOnExit bool

	// Seed seeds the jitter of heartbeats; 0 picks one from the clock.
	Seed uint64

	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultNodes          = 1
	DefaultNamePrefix     = "sim-node"
	DefaultPods           = 110
	DefaultKubeletVersion = "v1.37.2-kelson-sim"
	// NodeLeaseNamespace holds the node Leases, as in Kubernetes.
	NodeLeaseNamespace = "kube-node-lease"
)

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Nodes == 0 {
		c.Nodes = DefaultNodes
	}
	if c.NamePrefix == "" {
		c.NamePrefix = DefaultNamePrefix
	}
	if c.CPU.IsZero() {
		c.CPU = resource.MustParse("8")
	}
	if c.Memory.IsZero() {
		c.Memory = resource.MustParse("32Gi")
	}
	if c.EphemeralStorage.IsZero() {
		c.EphemeralStorage = resource.MustParse("100Gi")
	}
	if c.Pods == 0 {
		c.Pods = DefaultPods
	}
	if c.Arch == "" {
		c.Arch = runtime.GOARCH
	}
	if c.KubeletVersion == "" {
		c.KubeletVersion = DefaultKubeletVersion
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = 40 * time.Second
	}
	if c.LeaseRenewInterval == 0 {
		c.LeaseRenewInterval = c.LeaseDuration / 4
	}
	if c.NodeStatusUpdateFrequency == 0 {
		c.NodeStatusUpdateFrequency = 10 * time.Second
	}
	if c.NodeStatusReportFrequency == 0 {
		c.NodeStatusReportFrequency = 5 * time.Minute
	}
	if !c.ClusterCIDR.IsValid() {
		c.ClusterCIDR = netip.MustParsePrefix("10.42.0.0/16")
	}
	if c.NodeCIDRMaskSize == 0 {
		c.NodeCIDRMaskSize = 24
		if c.ClusterCIDR.Addr().Is6() {
			c.NodeCIDRMaskSize = 64
		}
	}
	if c.RestartBackoff == 0 {
		c.RestartBackoff = 10 * time.Second
	}
	if c.MaxRestartBackoff == 0 {
		c.MaxRestartBackoff = 5 * time.Minute
	}
	if c.Workers == 0 {
		c.Workers = 32
	}
	if c.HeartbeatWorkers == 0 {
		c.HeartbeatWorkers = 64
	}
	if c.UsageInterval == 0 {
		c.UsageInterval = DefaultUsageInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// maxNodes bounds Nodes: the node addresses come from 127.240.0.0/12.
const maxNodes = 1 << 20

// Validate checks c (with its defaults) as New does, but for Client: an
// error wraps ErrBadConfig and names the field.
func (c Config) Validate() error {
	c = c.withDefaults()
	return c.validate()
}

// validate checks a Config that has its defaults, but for Client.
func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadConfig, fmt.Sprintf(format, args...))
	}
	if c.Nodes < 1 || c.Nodes > maxNodes-2 {
		return bad("Nodes %d: want 1 to %d", c.Nodes, maxNodes-2)
	}
	if msgs := validation.IsDNS1123Subdomain(c.NamePrefix + "-0"); len(msgs) > 0 ||
		len(fmt.Sprintf("%s-%d", c.NamePrefix, c.Nodes-1)) > validation.DNS1123LabelMaxLength {
		return bad("name prefix %q does not make valid node names (lower-case letters, digits and '-', under 60 characters): %s",
			c.NamePrefix, strings.Join(msgs, "; "))
	}
	for name, q := range map[string]resource.Quantity{"CPU": c.CPU, "Memory": c.Memory, "EphemeralStorage": c.EphemeralStorage} {
		if q.Sign() < 0 {
			return bad("%s %s is negative", name, q.String())
		}
	}
	if c.Pods < 0 {
		return bad("Pods %d is negative", c.Pods)
	}
	for name, q := range c.ExtraResources {
		if msgs := validation.IsQualifiedName(string(name)); len(msgs) > 0 {
			return bad("resource name %q: %s", name, strings.Join(msgs, "; "))
		}
		if q.Sign() < 0 {
			return bad("resource %s: %s is negative", name, q.String())
		}
	}
	for k, v := range c.Labels {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			return bad("label key %q: %s", k, strings.Join(msgs, "; "))
		}
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			return bad("label %s value %q: %s", k, v, strings.Join(msgs, "; "))
		}
	}
	seen := map[string]bool{}
	for _, t := range c.Taints {
		if err := ValidateTaint(t); err != nil {
			return fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
		k := t.Key + ":" + string(t.Effect)
		if seen[k] {
			return bad("taint %s given twice", k)
		}
		seen[k] = true
	}
	if c.LeaseDuration < time.Second || c.LeaseRenewInterval <= 0 || c.LeaseRenewInterval >= c.LeaseDuration {
		return bad("LeaseDuration %v and LeaseRenewInterval %v: want a duration of at least 1s and a shorter positive interval", c.LeaseDuration, c.LeaseRenewInterval)
	}
	if c.NodeStatusUpdateFrequency <= 0 || c.NodeStatusReportFrequency < c.NodeStatusUpdateFrequency {
		return bad("NodeStatusUpdateFrequency %v and NodeStatusReportFrequency %v: want positive durations, the report no more frequent than the update",
			c.NodeStatusUpdateFrequency, c.NodeStatusReportFrequency)
	}
	if c.RestartBackoff < 0 || c.MaxRestartBackoff < c.RestartBackoff {
		return bad("RestartBackoff %v and MaxRestartBackoff %v: want 0 <= RestartBackoff <= MaxRestartBackoff", c.RestartBackoff, c.MaxRestartBackoff)
	}
	if c.Workers < 1 || c.HeartbeatWorkers < 1 {
		return bad("Workers %d and HeartbeatWorkers %d: want at least 1", c.Workers, c.HeartbeatWorkers)
	}
	if c.UsageInterval <= 0 || c.UsageInterval > maxUsageInterval {
		return bad("UsageInterval %v: want a positive duration up to %v (readers ignore reports older than 2m)", c.UsageInterval, maxUsageInterval)
	}
	if c.AssignPodCIDRs {
		p := c.ClusterCIDR
		if p != p.Masked() {
			return bad("cluster CIDR %s has host bits set: did you mean %s?", p, p.Masked())
		}
		hostBits := p.Addr().BitLen() - c.NodeCIDRMaskSize
		if c.NodeCIDRMaskSize < p.Bits() || hostBits < 2 {
			return bad("node CIDR mask size /%d does not fit cluster CIDR %s: want a size from /%d to /%d",
				c.NodeCIDRMaskSize, p, p.Bits(), p.Addr().BitLen()-2)
		}
		if subnetBits := c.NodeCIDRMaskSize - p.Bits(); subnetBits < bits.UintSize-1 && c.Nodes > 1<<subnetBits {
			return bad("cluster CIDR %s holds %d /%d node CIDRs, fewer than %d nodes: use a wider cluster CIDR or a longer node mask",
				p, 1<<subnetBits, c.NodeCIDRMaskSize, c.Nodes)
		}
	}
	return nil
}

// ValidateTaint checks a taint as the API does: a qualified key, a label
// value, one of the three effects.
func ValidateTaint(t corev1.Taint) error {
	if msgs := validation.IsQualifiedName(t.Key); len(msgs) > 0 {
		return fmt.Errorf("taint key %q: %s", t.Key, strings.Join(msgs, "; "))
	}
	if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
		return fmt.Errorf("taint %s value %q: %s", t.Key, t.Value, strings.Join(msgs, "; "))
	}
	switch t.Effect {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		return nil
	}
	return fmt.Errorf("taint %s effect %q: want NoSchedule, PreferNoSchedule or NoExecute", t.Key, t.Effect)
}

// ParseTaint parses a taint as kubectl taint writes it: key=value:Effect
// or key:Effect.
func ParseTaint(s string) (corev1.Taint, error) {
	kv, effect, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || strings.Contains(effect, ":") {
		return corev1.Taint{}, fmt.Errorf("taint %q: want key=value:Effect or key:Effect, like dedicated=infra:NoSchedule", s)
	}
	k, v, _ := strings.Cut(kv, "=")
	t := corev1.Taint{Key: k, Value: v, Effect: corev1.TaintEffect(effect)}
	if err := ValidateTaint(t); err != nil {
		return corev1.Taint{}, err
	}
	return t, nil
}
