package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"
)

// The loops: registration (with back-off), the Lease renewals, the status
// checks (a ticker, and a kick from the Node's watch when its Ready
// condition is not True or the Node was deleted) and the usage reports.

// Registration retries back off from 1 s to 30 s; Lease renewals that
// fail are retried from 200 ms, doubling up to the renew interval.
const (
	registerRetryMin = time.Second
	registerRetryMax = 30 * time.Second
	leaseRetryMin    = 200 * time.Millisecond
)

// Run registers the Node (retrying until it succeeds), then renews its
// Lease, posts its status and reports its usage until ctx ends. It
// returns nil when ctx ends, an error only if the Node's watch cannot
// start.
func (n *Node) Run(ctx context.Context) error {
	if err := n.registerRetrying(ctx); err != nil {
		return nil // ctx ended
	}
	inf := cache.NewSharedIndexInformer(n.listWatch(), &corev1.Node{}, 0, cache.Indexers{})
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { n.observed(obj) },
		UpdateFunc: func(_, obj any) { n.observed(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			gone, ok := obj.(*corev1.Node)
			n.mu.Lock()
			// A Node we registered again already (after a NotFound) is not
			// the one deleted.
			mine := !ok || n.node == nil || gone.UID == n.node.UID
			if mine {
				n.deleted = true
			}
			n.mu.Unlock()
			if mine {
				n.log.Warn("the node was deleted; registering it again")
				n.poke()
			}
		},
	}); err != nil {
		return fmt.Errorf("node: watch node %s: %w", n.cfg.NodeName, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); inf.RunWithContext(ctx) }()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		wg.Wait()
		return nil
	}
	wg.Add(2)
	go func() { defer wg.Done(); n.leaseLoop(ctx) }()
	go func() { defer wg.Done(); n.usageLoop(ctx) }()
	n.statusLoop(ctx)
	wg.Wait()
	return nil
}

// observed records a copy of the Node from the watch, and asks for a
// status check at once if its Ready condition is not True (the
// nodelifecycle controller set it Unknown, say).
func (n *Node) observed(obj any) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	n.setNode(node)
	if readyStatus(node) != corev1.ConditionTrue {
		n.poke()
	}
}

// poke asks the status loop for a check now.
func (n *Node) poke() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// registerRetrying registers until it succeeds or ctx ends (its error).
func (n *Node) registerRetrying(ctx context.Context) error {
	wait := registerRetryMin
	for {
		err := n.Register(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		n.log.Warn("registering the node failed; retrying", "err", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
		wait = min(wait*2, registerRetryMax)
	}
}

// sleep waits d or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// leaseLoop renews the Lease every LeaseRenewInterval.
func (n *Node) leaseLoop(ctx context.Context) {
	next := n.cfg.LeaseRenewInterval
	retry := leaseRetryMin
	for sleep(ctx, next) {
		if n.isDeleted() {
			next = n.cfg.LeaseRenewInterval // the status loop registers it again, Lease included
			continue
		}
		if err := n.renew(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			n.log.Warn("renewing the node Lease failed; retrying", "err", err, "retry_in", retry)
			next, retry = retry, min(retry*2, n.cfg.LeaseRenewInterval)
			continue
		}
		next, retry = n.cfg.LeaseRenewInterval, leaseRetryMin
	}
}

func (n *Node) isDeleted() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.deleted
}

// statusLoop checks the status every StatusUpdateFrequency and when
// kicked: posts it if it changed or is due, registers the Node again if
// it was deleted.
func (n *Node) statusLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.StatusUpdateFrequency)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.kick:
		}
		if n.isDeleted() {
			if err := n.Register(ctx); err != nil && ctx.Err() == nil {
				n.log.Warn("registering the deleted node again failed; retrying", "err", err, "retry_in", n.cfg.StatusUpdateFrequency)
			}
			continue
		}
		w, err := n.want(ctx)
		if err == nil {
			err = n.syncStatus(ctx, w, false)
		}
		if err != nil && ctx.Err() == nil {
			if apierrors.IsNotFound(err) {
				n.mu.Lock()
				n.deleted = true
				n.mu.Unlock()
				n.poke()
			}
			n.log.Warn("posting the node status failed; retrying", "err", err, "retry_in", n.cfg.StatusUpdateFrequency)
		}
	}
}

// usageLoop samples and reports usage every UsageInterval.
func (n *Node) usageLoop(ctx context.Context) {
	if n.cfg.UsageClient == nil {
		n.log.Info("no usage client: the node reports no usage (kubectl top and the HPA see nothing of it)")
		return
	}
	prev, _ := n.sampleUsage(ctx)
	t := time.NewTicker(n.cfg.UsageInterval)
	defer t.Stop()
	var warned string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur, pods := n.sampleUsage(ctx)
		node := n.Current()
		if node == nil || node.UID == "" || n.isDeleted() {
			prev = cur
			continue
		}
		u := usageReport(node, prev, cur, pods)
		prev = cur
		if u == nil {
			continue
		}
		if _, err := n.cfg.UsageClient.Report(ctx, u); err != nil {
			if ctx.Err() != nil {
				return
			}
			n.failures.Add(1)
			if err.Error() != warned {
				n.log.Warn("reporting the node's usage failed; retrying at the next interval", "err", err)
				warned = err.Error()
			}
			continue
		}
		warned = ""
		n.usageReports.Add(1)
	}
}

// sampleUsage reads /proc/stat, /proc/meminfo and the pods' stats.
// What fails is left out of the sample (and logged at debug level).
func (n *Node) sampleUsage(ctx context.Context) (*usageSample, []PodUsage) {
	var cpu *cpuTimes
	if c, err := n.host.sampleCPU(); err == nil {
		cpu = &c
	} else {
		n.log.Debug("reading /proc/stat failed", "err", err)
	}
	var mem *int64
	if m, err := n.host.memUsage(); err == nil {
		mem = &m
	} else {
		n.log.Debug("reading /proc/meminfo failed", "err", err)
	}
	var pods []PodUsage
	if n.cfg.PodUsage != nil {
		var err error
		if pods, err = n.cfg.PodUsage(ctx); err != nil {
			n.log.Debug("reading the pods' usage failed", "err", err)
		}
	}
	return newUsageSample(n.cfg.Now(), cpu, mem, pods), pods
}
