package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	goruntime "runtime"
	"strconv"
	"sync"
	"sync/atomic"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// Node is the agent's Node: it registers it, keeps its Lease and status
// fresh and reports its usage. Create it with New; Run runs the loops.
// Its methods are safe for concurrent use.
type Node struct {
	cfg  Config
	log  *slog.Logger
	host *host

	// kick asks the status loop for a check now (buffered, 1).
	kick chan struct{}

	statusPosts, leaseRenewals, usageReports, failures atomic.Uint64

	// mu guards the fields below; never held across IO.
	mu sync.Mutex
	// node is the newest copy of the Node known (our writes' results and
	// the watch's events, whichever has the higher resourceVersion).
	node *corev1.Node
	// lease is the Lease as last written.
	lease *coordinationv1.Lease
	// deleted: the watch saw the Node deleted; the status loop registers
	// it again.
	deleted bool
	// warned is the last observation error logged (each logged once).
	warned string
}

// Metrics are counters of a Node's work since New.
type Metrics struct {
	StatusPosts, LeaseRenewals, UsageReports uint64
	// Failures counts failed API writes (each retried).
	Failures uint64
}

// New checks cfg, fills in its defaults and detects the node IPs if none
// are given. It does no API call.
func New(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(cfg.NodeIPs) == 0 {
		ips, err := DetectNodeIPs(cfg.HostFS)
		if err != nil {
			return nil, err
		}
		cfg.NodeIPs = ips
	}
	return &Node{
		cfg:  cfg,
		log:  cfg.Logger.With("node", cfg.NodeName),
		host: &host{fs: cfg.HostFS, dataDir: cfg.DataDir, numCPU: goruntime.NumCPU(), statfs: statfs},
		kick: make(chan struct{}, 1),
	}, nil
}

// Name is the Node's name.
func (n *Node) Name() string { return n.cfg.NodeName }

// NodeIPs are the node's InternalIPs (given or detected).
func (n *Node) NodeIPs() []netip.Addr { return append([]netip.Addr(nil), n.cfg.NodeIPs...) }

// Metrics returns the counters.
func (n *Node) Metrics() Metrics {
	return Metrics{
		StatusPosts:   n.statusPosts.Load(),
		LeaseRenewals: n.leaseRenewals.Load(),
		UsageReports:  n.usageReports.Load(),
		Failures:      n.failures.Load(),
	}
}

// Current is the newest copy of the Node known (nil before Register);
// the caller must not modify it.
func (n *Node) Current() *corev1.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.node
}

// setNode records node if it is newer than the copy held.
func (n *Node) setNode(node *corev1.Node) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.node != nil && node.UID == n.node.UID && olderRV(node.ResourceVersion, n.node.ResourceVersion) {
		return
	}
	n.node, n.deleted = node, false
}

// olderRV reports whether resourceVersion a is older than b; versions
// that are not numbers are never older (the newest arrival wins).
func olderRV(a, b string) bool {
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	return err1 == nil && err2 == nil && x < y
}

// conditions are the conditions to report now.
func (n *Node) conditions(ctx context.Context) []condition {
	o, errs := n.host.observe()
	if err := errors.Join(errs...); err != nil {
		n.mu.Lock()
		first := n.warned != err.Error()
		n.warned = err.Error()
		n.mu.Unlock()
		if first {
			n.log.Warn("some pressure signals cannot be read; their conditions stay False", "err", err)
		}
	}
	conds := pressureConditions(o, n.cfg.Thresholds)
	var unhealthy error
	if n.cfg.Healthy != nil {
		unhealthy = n.cfg.Healthy(ctx)
	}
	return append(conds, readyCondition(unhealthy))
}

// want is the status to report now.
func (n *Node) want(ctx context.Context) (wantStatus, error) {
	f, err := n.host.facts()
	if err != nil {
		return wantStatus{}, err
	}
	return n.cfg.wantStatusOf(f, n.conditions(ctx)), nil
}

// Register creates the Node with its status, or adopts the existing Node
// of that name (our labels, annotations and taints merged in; its pod
// CIDR and other fields kept) and reports its status; then it creates or
// takes over the Node's Lease. One attempt: Run retries it.
func (n *Node) Register(ctx context.Context) error {
	w, err := n.want(ctx)
	if err != nil {
		return err
	}
	nodes := n.cfg.Client.CoreV1().Nodes()
	want := n.cfg.newNode(w, n.cfg.Now())
	node, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	switch {
	case err == nil:
		n.log.Info("registered the node")
		if lastHeartbeat(&node.Status).IsZero() {
			// The API dropped the status on create: report it now.
			n.setNode(node)
			if err := n.syncStatus(ctx, w, true); err != nil {
				return fmt.Errorf("node: report the status of new node %s: %w", n.cfg.NodeName, err)
			}
			node = n.Current()
		}
	case apierrors.IsAlreadyExists(err):
		if node, err = n.adopt(ctx); err != nil {
			return err
		}
		n.setNode(node)
		if err := n.syncStatus(ctx, w, true); err != nil {
			return fmt.Errorf("node: report the status of node %s: %w", n.cfg.NodeName, err)
		}
		node = n.Current()
		n.log.Info("adopted the existing node", "podCIDR", node.Spec.PodCIDR)
	default:
		n.failures.Add(1)
		return fmt.Errorf("node: create node %s (can the agent's credentials create nodes?): %w", n.cfg.NodeName, err)
	}
	n.setNode(node)
	return n.ensureLease(ctx)
}

// adopt merges our metadata and taints into the existing Node, retrying
// on conflicts.
func (n *Node) adopt(ctx context.Context) (*corev1.Node, error) {
	nodes := n.cfg.Client.CoreV1().Nodes()
	for attempt := 0; ; attempt++ {
		cur, err := nodes.Get(ctx, n.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("node: get existing node %s: %w", n.cfg.NodeName, err)
		}
		upd := n.cfg.adoptNode(cur)
		if upd == nil {
			return cur, nil
		}
		res, err := nodes.Update(ctx, upd, metav1.UpdateOptions{})
		if err == nil {
			return res, nil
		}
		if !apierrors.IsConflict(err) || attempt >= conflictRetries {
			n.failures.Add(1)
			return nil, fmt.Errorf("node: adopt existing node %s: %w", n.cfg.NodeName, err)
		}
	}
}

// conflictRetries bounds the re-reads after a write conflict.
const conflictRetries = 3

// syncStatus posts the status w over the current Node when it changed,
// when StatusReportFrequency passed since the last heartbeat, or when
// force; on a conflict it reads the Node again and retries.
func (n *Node) syncStatus(ctx context.Context, w wantStatus, force bool) error {
	nodes := n.cfg.Client.CoreV1().Nodes()
	cur := n.Current()
	if cur == nil {
		return fmt.Errorf("node: %s is not registered", n.cfg.NodeName)
	}
	for attempt := 0; ; attempt++ {
		now := n.cfg.Now()
		due := force || now.Sub(lastHeartbeat(&cur.Status)) >= n.cfg.StatusReportFrequency
		st, changed := mergeStatus(&cur.Status, w, now, due)
		if !changed && !due {
			return nil
		}
		upd := cur.DeepCopy()
		upd.Status = st
		res, err := nodes.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		if err == nil {
			n.statusPosts.Add(1)
			n.setNode(res)
			if changed {
				n.log.Debug("posted the node status", "ready", readyStatus(res))
			}
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= conflictRetries {
			n.failures.Add(1)
			return fmt.Errorf("node: update the status of node %s: %w", n.cfg.NodeName, err)
		}
		if cur, err = nodes.Get(ctx, n.cfg.NodeName, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("node: get node %s: %w", n.cfg.NodeName, err)
		}
		n.setNode(cur)
	}
}

// ensureLease creates the Node's Lease, or takes over and renews the one
// that exists.
func (n *Node) ensureLease(ctx context.Context) error {
	node := n.Current()
	leases := n.cfg.Client.CoordinationV1().Leases(NodeLeaseNamespace)
	l, err := leases.Create(ctx, newLease(node, n.cfg.LeaseDuration, n.cfg.Now()), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		if l, err = leases.Get(ctx, node.Name, metav1.GetOptions{}); err != nil {
			n.failures.Add(1)
			return fmt.Errorf("node: get the Lease of node %s: %w", node.Name, err)
		}
		l = l.DeepCopy()
		renewLease(l, node, n.cfg.LeaseDuration, n.cfg.Now())
		l, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	}
	if err != nil {
		n.failures.Add(1)
		return fmt.Errorf("node: write the Lease %s/%s: %w", NodeLeaseNamespace, node.Name, err)
	}
	n.leaseRenewals.Add(1)
	n.mu.Lock()
	n.lease = l
	n.mu.Unlock()
	return nil
}

// renew renews the Lease from the copy last written; on a conflict or a
// missing Lease it starts over from the API's.
func (n *Node) renew(ctx context.Context) error {
	n.mu.Lock()
	l, node := n.lease, n.node
	n.mu.Unlock()
	if node == nil {
		return fmt.Errorf("node: %s is not registered", n.cfg.NodeName)
	}
	if l == nil {
		return n.ensureLease(ctx)
	}
	l = l.DeepCopy()
	renewLease(l, node, n.cfg.LeaseDuration, n.cfg.Now())
	res, err := n.cfg.Client.CoordinationV1().Leases(NodeLeaseNamespace).Update(ctx, l, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return n.ensureLease(ctx)
	}
	if err != nil {
		n.failures.Add(1)
		return fmt.Errorf("node: renew the Lease %s/%s: %w", NodeLeaseNamespace, node.Name, err)
	}
	n.leaseRenewals.Add(1)
	n.mu.Lock()
	n.lease = res
	n.mu.Unlock()
	return nil
}

// listWatch lists and watches this Node only.
func (n *Node) listWatch() *cache.ListWatch {
	sel := fields.OneTermEqualSelector("metadata.name", n.cfg.NodeName).String()
	nodes := n.cfg.Client.CoreV1().Nodes()
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return nodes.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return nodes.Watch(ctx, o)
		},
	}
}

// ErrBadPodCIDR: the Node's spec.podCIDR does not parse.
var ErrBadPodCIDR = errors.New("node: bad spec.podCIDR")

// WaitForPodCIDR watches the Node until its spec.podCIDR is set (by the
// server's nodeipam controller, or already at adoption) and returns it
// (spec.podCIDRs[0] if only that is set). It does not need Register or
// Run to have happened: it waits for the Node to appear too. It returns
// ctx's error when ctx ends first, and ErrBadPodCIDR for a CIDR that does
// not parse.
func (n *Node) WaitForPodCIDR(ctx context.Context) (netip.Prefix, error) {
	ev, err := watchtools.UntilWithSync(ctx, n.listWatch(), &corev1.Node{}, nil, func(ev watch.Event) (bool, error) {
		node, ok := ev.Object.(*corev1.Node)
		if !ok || ev.Type == watch.Deleted {
			return false, nil
		}
		return podCIDROf(node) != "", nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return netip.Prefix{}, fmt.Errorf("node: waiting for the pod CIDR of node %s (is the server's nodeipam controller running with --cluster-cidr?): %w", n.cfg.NodeName, ctx.Err())
		}
		return netip.Prefix{}, fmt.Errorf("node: watch node %s for its pod CIDR: %w", n.cfg.NodeName, err)
	}
	s := podCIDROf(ev.Object.(*corev1.Node))
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%w: node %s has %q: %v", ErrBadPodCIDR, n.cfg.NodeName, s, err)
	}
	return p.Masked(), nil
}

// podCIDROf is spec.podCIDR, else spec.podCIDRs[0] ("" if none).
func podCIDROf(node *corev1.Node) string {
	if node.Spec.PodCIDR != "" {
		return node.Spec.PodCIDR
	}
	if len(node.Spec.PodCIDRs) > 0 {
		return node.Spec.PodCIDRs[0]
	}
	return ""
}
