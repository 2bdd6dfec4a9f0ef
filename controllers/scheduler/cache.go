package scheduler

import (
	"maps"
	"sync"

	"github.com/kelson-dev/kelson/controllers/scheduler/core"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// cache is the scheduler's view of the cluster, fed by the node and pod
// informers and by the scheduler itself: a pod it chose a node for is
// "assumed" on that node at once, before the binding is written, so the
// next decision counts it without waiting for the watch round trip. The
// informer's bound pod confirms the assumption; a failed binding forgets
// it.
//
// The cache produces the decisions' Snapshot incrementally: every change
// marks its node dirty, and UpdateSnapshot hands the snapshot clones of
// the dirty nodes only (copy on write), so a decision never sees a node
// change under it and a cycle costs O(changed nodes), not O(nodes).
//
// Methods are safe for concurrent use.
type cache struct {
	mu         sync.Mutex
	nodes      map[string]*core.NodeInfo
	pods       map[string]*cachedPod
	dirty      map[string]struct{}
	namespaces map[string]labels.Set // replaced, never changed in place
	nsChanged  bool
	changes    map[string]*core.NodeInfo // UpdateSnapshot's scratch
}

type cachedPod struct {
	info    *core.PodInfo
	node    string
	assumed bool
}

func newCache() *cache {
	return &cache{nodes: map[string]*core.NodeInfo{}, pods: map[string]*cachedPod{},
		dirty: map[string]struct{}{}, namespaces: map[string]labels.Set{}, changes: map[string]*core.NodeInfo{}}
}

func (c *cache) nodeLocked(name string) *core.NodeInfo {
	n := c.nodes[name]
	if n == nil {
		n = core.NewNodeInfo(name, nil)
		c.nodes[name] = n
	}
	c.dirty[name] = struct{}{}
	return n
}

// SetNode adds or updates a node.
func (c *cache) SetNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodeLocked(node.Name).SetNode(node)
}

// RemoveNode removes a node; its pods stay counted until they go.
func (c *cache) RemoveNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[name]
	if n == nil {
		return
	}
	n.SetNode(nil)
	if len(n.Pods) == 0 {
		delete(c.nodes, name)
	}
	c.dirty[name] = struct{}{}
}

// SetPod records a pod bound to a node (from the informer), confirming
// an assumption.
func (c *cache) SetPod(info *core.PodInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(info.Key)
	c.addLocked(info, info.Pod.Spec.NodeName, false)
}

// RemovePod forgets a pod (deleted, or finished).
func (c *cache) RemovePod(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(key)
}

// Assume places a pod on node before its binding is written.
func (c *cache) Assume(info *core.PodInfo, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(info.Key)
	c.addLocked(info, node, true)
}

// Forget undoes Assume after a failed binding (not if the informer has
// confirmed the pod meanwhile).
func (c *cache) Forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.pods[key]; p != nil && p.assumed {
		c.removeLocked(key)
	}
}

// Has reports whether the pod is placed (bound or assumed).
func (c *cache) Has(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pods[key] != nil
}

func (c *cache) addLocked(info *core.PodInfo, node string, assumed bool) {
	c.pods[info.Key] = &cachedPod{info: info, node: node, assumed: assumed}
	c.nodeLocked(node).AddPod(info)
}

func (c *cache) removeLocked(key string) {
	p := c.pods[key]
	if p == nil {
		return
	}
	delete(c.pods, key)
	n := c.nodes[p.node]
	if n == nil {
		return
	}
	n.RemovePod(key)
	c.dirty[p.node] = struct{}{}
	if n.Node == nil && len(n.Pods) == 0 {
		delete(c.nodes, p.node)
	}
}

// SetNamespace records a namespace's labels (for namespaceSelector).
func (c *cache) SetNamespace(name string, l map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ns := maps.Clone(c.namespaces)
	ns[name] = labels.Set(l)
	c.namespaces, c.nsChanged = ns, true
}

// RemoveNamespace forgets a namespace.
func (c *cache) RemoveNamespace(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ns := maps.Clone(c.namespaces)
	delete(ns, name)
	c.namespaces, c.nsChanged = ns, true
}

// UpdateSnapshot brings snap up to date: clones of the nodes changed
// since the last call, and the namespaces. Only one goroutine (the
// scheduling loop) calls it and owns snap.
func (c *cache) UpdateSnapshot(snap *core.Snapshot) {
	c.mu.Lock()
	if snap.Namespaces == nil || c.nsChanged {
		snap.Namespaces, c.nsChanged = c.namespaces, false
	}
	if len(c.dirty) == 0 {
		c.mu.Unlock()
		return
	}
	// A Go map does not shrink, and ranging over it costs its capacity:
	// after a burst (the nodes' first listing) start small again.
	if len(c.changes) > 64 {
		c.changes = map[string]*core.NodeInfo{}
	}
	clear(c.changes)
	for name := range c.dirty {
		if n := c.nodes[name]; n != nil && n.Node != nil {
			c.changes[name] = n.Clone()
		} else {
			c.changes[name] = nil
		}
	}
	if len(c.dirty) > 64 {
		c.dirty = map[string]struct{}{}
	}
	clear(c.dirty)
	c.mu.Unlock()
	snap.Apply(c.changes)
}

// Counts reports the nodes with a Node object, the placed pods and how
// many of those are assumed.
func (c *cache) Counts() (nodes, pods, assumed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.Node != nil {
			nodes++
		}
	}
	for _, p := range c.pods {
		if p.assumed {
			assumed++
		}
	}
	return nodes, len(c.pods), assumed
}
