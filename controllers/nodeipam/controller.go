package nodeipam

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"

	"github.com/kelson-dev/kelson/controllers"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Defaults of the cluster settings, as `kelson server` and k3s use.
const (
	DefaultClusterCIDR      = "10.42.0.0/16"
	DefaultNodeCIDRMaskSize = 24
)

// Controller gives every Node a pod CIDR. See the package doc.
type Controller struct {
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	synced   cache.InformerSynced
	queue    controllers.Queue
	recorder record.EventRecorder
	log      *slog.Logger
	cluster  netip.Prefix
	maskSize int

	mu sync.Mutex
	// set is built at Run from every Node; nil before.
	set *CIDRSet
	// owned is which CIDRs each node holds in set, so a deleted node's
	// are released (and only those).
	owned map[string][]netip.Prefix
	// waiting are the nodes refused for want of a CIDR; a release
	// re-queues them.
	waiting map[string]bool
}

// New builds the controller from cctx.Cluster (ClusterCIDR default
// 10.42.0.0/16, NodeCIDRMaskSize default 24) and registers its Node
// handlers. No IO.
func New(cctx *controllers.Context) *Controller {
	inf := cctx.Informers.Core().V1().Nodes()
	c := &Controller{
		client:   cctx.Client,
		nodes:    inf.Lister(),
		synced:   inf.Informer().HasSynced,
		queue:    controllers.NewQueue("nodeipam"),
		recorder: cctx.RecorderFor("node-controller"),
		log:      cctx.Logger.With("controller", "nodeipam"),
		cluster:  clusterPrefix(cctx.Cluster.ClusterCIDR),
		maskSize: cctx.Cluster.NodeCIDRMaskSize,
		owned:    map[string][]netip.Prefix{},
		waiting:  map[string]bool{},
	}
	if c.maskSize == 0 {
		c.maskSize = DefaultNodeCIDRMaskSize
	}
	inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { controllers.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj any) { controllers.Enqueue(c.queue, obj) },
		DeleteFunc: func(obj any) { controllers.Enqueue(c.queue, obj) },
	})
	return c
}

func clusterPrefix(n *net.IPNet) netip.Prefix {
	if n == nil {
		return netip.MustParsePrefix(DefaultClusterCIDR)
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}
	}
	ones, _ := n.Mask.Size()
	a = a.Unmap()
	if a.Is4() && ones > 32 { // a 16-byte mask on a v4 address
		ones -= 96
	}
	return netip.PrefixFrom(a, ones)
}

// Run rebuilds the allocations from every Node (the informer's cache and
// a consistent list from the API, so a new leader never hands out what
// its predecessor wrote moments ago), then assigns CIDRs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	set, err := NewCIDRSet(c.cluster, c.maskSize)
	if err != nil {
		return fmt.Errorf("nodeipam: cluster CIDR %s, node mask /%d: %w", c.cluster, c.maskSize, err)
	}
	if !cache.WaitForNamedCacheSync("nodeipam", ctx.Done(), c.synced) {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%w: nodeipam", controllers.ErrCacheSync)
	}
	cached, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("nodeipam: list nodes: %w", err)
	}
	fresh, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("nodeipam: list nodes: %w", err)
	}
	all := cached
	for i := range fresh.Items {
		all = append(all, &fresh.Items[i])
	}
	c.mu.Lock()
	c.set = set
	for _, n := range all {
		c.occupyLocked(n)
	}
	c.log.Info("node CIDRs rebuilt", "cluster", c.cluster, "mask", c.maskSize, "inUse", set.InUse(), "size", set.Size())
	c.mu.Unlock()
	return controllers.RunWorkers(ctx, "nodeipam", c.log, c.queue, 1, c.sync, c.synced)
}

// NodeCIDRs are the pod CIDRs a node holds: spec.podCIDRs, or the older
// spec.podCIDR alone. Unparsable ones are left out.
func NodeCIDRs(n *corev1.Node) []netip.Prefix {
	list := n.Spec.PodCIDRs
	if len(list) == 0 && n.Spec.PodCIDR != "" {
		list = []string{n.Spec.PodCIDR}
	}
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// occupyLocked records n's CIDRs of this cluster's family as taken by n;
// a CIDR reserved for n that it does not hold (a write that failed) goes
// back.
func (c *Controller) occupyLocked(n *corev1.Node) {
	var held []netip.Prefix
	for _, p := range NodeCIDRs(n) {
		if p.Addr().Is4() != c.cluster.Addr().Is4() {
			continue
		}
		if err := c.set.Occupy(p); err != nil {
			c.log.Warn("node CIDR outside the cluster CIDR; left alone", "node", n.Name, "cidr", p, "cluster", c.cluster)
			continue
		}
		if !containsPrefix(c.owned[n.Name], p) && c.heldByOtherLocked(n.Name, p) {
			// Set by hand, or two leaders overlapped: pods of both nodes
			// would share addresses. Nothing here can take a CIDR back.
			c.log.Error("node CIDR overlaps another node's", "node", n.Name, "cidr", p)
		}
		held = append(held, p)
	}
	if len(held) == 0 {
		return
	}
	for _, p := range c.owned[n.Name] {
		if !containsPrefix(held, p) && !c.heldByOtherLocked(n.Name, p) {
			_ = c.set.Release(p)
		}
	}
	c.owned[n.Name] = held
}

func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.release(name)
		return nil
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	if len(NodeCIDRs(node)) > 0 {
		c.occupyLocked(node)
		delete(c.waiting, name)
		c.mu.Unlock()
		return nil
	}
	// A CIDR reserved by an earlier attempt whose write failed (or is not
	// in the cache yet) is offered again, so an ambiguous failure never
	// leaks one nor hands out two.
	var p netip.Prefix
	if owned := c.owned[name]; len(owned) > 0 {
		p = owned[0]
	} else if p, err = c.set.Allocate(); err != nil {
		first := !c.waiting[name]
		c.waiting[name] = true
		c.mu.Unlock()
		if first {
			c.recorder.Eventf(node, corev1.EventTypeNormal, "CIDRNotAvailable", "Node %s status is now: %s", name, "CIDRNotAvailable")
			c.log.Warn("no free node CIDR", "node", name, "cluster", c.cluster)
		}
		return nil // a release re-queues it
	} else {
		c.owned[name] = []netip.Prefix{p}
	}
	delete(c.waiting, name)
	c.mu.Unlock()

	n := node.DeepCopy()
	n.Spec.PodCIDR = p.String()
	n.Spec.PodCIDRs = []string{p.String()}
	// The update carries the cached resourceVersion: a node changed since
	// (by another leader, too) is a conflict, and the sync runs again on
	// the newer node.
	if _, err := c.client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			c.release(name)
			return nil
		}
		if !apierrors.IsConflict(err) {
			c.recorder.Eventf(node, corev1.EventTypeWarning, "CIDRAssignmentFailed", "Node %s status is now: %s", name, "CIDRAssignmentFailed")
		}
		return fmt.Errorf("nodeipam: set pod CIDR %s on node %s: %w", p, name, err)
	}
	c.log.Info("pod CIDR assigned", "node", name, "cidr", p)
	return nil
}

// release frees a deleted node's CIDRs and re-queues the nodes waiting
// for one.
func (c *Controller) release(name string) {
	c.mu.Lock()
	owned := c.owned[name]
	delete(c.owned, name)
	delete(c.waiting, name)
	for _, p := range owned {
		if !c.heldByOtherLocked(name, p) {
			_ = c.set.Release(p)
		}
	}
	var waiting []string
	if len(owned) > 0 {
		for w := range c.waiting {
			waiting = append(waiting, w)
		}
	}
	c.mu.Unlock()
	sort.Strings(waiting)
	for _, w := range waiting {
		c.queue.Add(w)
	}
	if len(owned) > 0 {
		c.log.Info("pod CIDRs released", "node", name, "cidrs", owned)
	}
}

// heldByOtherLocked: another node also holds p (two nodes given the same
// CIDR by hand); it stays taken.
func (c *Controller) heldByOtherLocked(name string, p netip.Prefix) bool {
	for other, list := range c.owned {
		if other == name {
			continue
		}
		for _, q := range list {
			if q.Overlaps(p) {
				return true
			}
		}
	}
	return false
}

func containsPrefix(list []netip.Prefix, p netip.Prefix) bool {
	for _, q := range list {
		if q == p {
			return true
		}
	}
	return false
}
