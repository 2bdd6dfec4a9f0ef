package sim

import (
	"context"
	"fmt"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The node side: registration, Lease renewals and status reports, each a
// timed item in one delaying queue (a heap, one timer) drained by
// HeartbeatWorkers goroutines, so 5,000 nodes cost no goroutine each. A
// worker handles an item, then queues the node's next one of that kind.
// The first renewals and reports of the nodes are spread at random over
// their interval, so the load is even.

// hbKind is a kind of node work.
type hbKind uint8

const (
	kindRegister hbKind = iota // create or adopt the node and its Lease
	kindLease                  // renew the Lease
	kindStatus                 // report the status if changed or due
)

// hbItem is one node's next piece of work.
type hbItem struct {
	node int32
	kind hbKind
}

// Registration retries back off from 1 s to 30 s.
const (
	registerRetryMin = time.Second
	registerRetryMax = 30 * time.Second
	leaseRetry       = time.Second
)

func (s *Sim) heartbeatWorker(ctx context.Context) {
	for {
		it, quit := s.hbQueue.Get()
		if quit {
			return
		}
		next := s.heartbeat(ctx, it)
		s.hbQueue.Done(it)
		if next > 0 && ctx.Err() == nil {
			s.hbQueue.AddAfter(it, next)
		}
	}
}

// heartbeat does it and says when the node's next item of that kind is
// due (0: none).
func (s *Sim) heartbeat(ctx context.Context, it hbItem) time.Duration {
	i := int(it.node)
	ns := s.nodes[i]
	switch it.kind {
	case kindRegister:
		if err := s.register(ctx, i); err != nil {
			s.stats.nodeFailures.Add(1)
			ns.mu.Lock()
			ns.failures++
			wait := registerRetryMin << min(ns.failures-1, 5)
			ns.mu.Unlock()
			if ctx.Err() == nil {
				s.log.Warn("registering a simulated node failed; retrying", "node", ns.name, "err", err, "retry_in", min(wait, registerRetryMax))
			}
			return min(wait, registerRetryMax)
		}
		ns.mu.Lock()
		ns.registered, ns.failures = true, 0
		first := !ns.everRegistered
		ns.everRegistered = true
		ns.mu.Unlock()
		if first && s.nRegistered.Add(1) == int64(len(s.nodes)) {
			s.registeredOnce.Do(func() {
				s.log.Info("simulated nodes registered", "nodes", len(s.nodes))
				close(s.registered)
			})
		}
		s.enqueuePodsOf(ns.name)
		s.hbQueue.AddAfter(hbItem{node: it.node, kind: kindLease}, s.jitter(s.cfg.LeaseRenewInterval))
		s.hbQueue.AddAfter(hbItem{node: it.node, kind: kindStatus}, s.jitter(s.cfg.NodeStatusUpdateFrequency))
		return 0
	case kindLease:
		if !ns.isRegistered() {
			return 0 // registration starts the renewals again
		}
		if err := s.renewLease(ctx, i); err != nil {
			s.stats.leaseFailures.Add(1)
			if ctx.Err() == nil {
				s.log.Debug("renewing a node Lease failed; retrying", "node", ns.name, "err", err)
			}
			return min(leaseRetry, s.cfg.LeaseRenewInterval)
		}
		s.stats.leaseRenewals.Add(1)
		return s.cfg.LeaseRenewInterval
	case kindStatus:
		if !ns.isRegistered() {
			return 0
		}
		if err := s.reportStatus(ctx, i); err != nil {
			s.stats.nodeFailures.Add(1)
			if apierrors.IsNotFound(err) {
				return 0 // deleted: the node informer registers it again
			}
			if ctx.Err() == nil {
				s.log.Debug("updating a node's status failed; retrying", "node", ns.name, "err", err)
			}
		}
		return s.cfg.NodeStatusUpdateFrequency
	}
	return 0
}

// register creates node i with its status, or adopts the node of that
// name, then creates (or takes over) its Lease.
func (s *Sim) register(ctx context.Context, i int) error {
	nodes := s.client.CoreV1().Nodes()
	now := time.Now()
	want := s.cfg.newNode(i, now)
	node, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	switch {
	case err == nil:
		if lastHeartbeat(&node.Status).IsZero() {
			// An API that drops status on create: report it now.
			node = node.DeepCopy()
			node.Status = want.Status
			if node, err = nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("report node status: %w", err)
			}
		}
	case apierrors.IsAlreadyExists(err):
		if node, err = nodes.Get(ctx, want.Name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("get existing node: %w", err)
		}
		if upd := s.cfg.adoptNode(i, node); upd != nil {
			if node, err = nodes.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("adopt existing node: %w", err)
			}
		}
		node = node.DeepCopy()
		node.Status, _ = s.cfg.nodeStatus(i, &node.Status, now, true)
		if node, err = nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("report node status: %w", err)
		}
		s.log.Debug("adopted an existing node", "node", node.Name)
	default:
		return fmt.Errorf("create node: %w", err)
	}
	ns := s.nodes[i]
	ns.mu.Lock()
	ns.node = node
	ns.mu.Unlock()

	lease, err := s.ensureLease(ctx, node)
	if err != nil {
		return err
	}
	ns.mu.Lock()
	ns.lease = lease
	ns.mu.Unlock()
	return nil
}

// ensureLease creates node's Lease, or renews and takes over the one that
// exists.
func (s *Sim) ensureLease(ctx context.Context, node *corev1.Node) (*coordinationv1.Lease, error) {
	leases := s.client.CoordinationV1().Leases(NodeLeaseNamespace)
	want := s.cfg.newLease(node, time.Now())
	l, err := leases.Create(ctx, want, metav1.CreateOptions{})
	if err == nil {
		return l, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create node Lease: %w", err)
	}
	if l, err = leases.Get(ctx, node.Name, metav1.GetOptions{}); err != nil {
		return nil, fmt.Errorf("get node Lease: %w", err)
	}
	l = l.DeepCopy()
	s.cfg.renewLease(l, node.Name, time.Now())
	l.OwnerReferences = want.OwnerReferences
	if l, err = leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("take over node Lease: %w", err)
	}
	return l, nil
}

// renewLease renews node i's Lease from the copy we last wrote; on a
// conflict or a missing Lease it starts over from the API's.
func (s *Sim) renewLease(ctx context.Context, i int) error {
	ns := s.nodes[i]
	ns.mu.Lock()
	l, node := ns.lease, ns.node
	ns.mu.Unlock()
	if l == nil || node == nil {
		return fmt.Errorf("node %s has no Lease yet", ns.name)
	}
	l = l.DeepCopy()
	s.cfg.renewLease(l, ns.name, time.Now())
	upd, err := s.client.CoordinationV1().Leases(NodeLeaseNamespace).Update(ctx, l, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		upd, err = s.ensureLease(ctx, node)
	}
	if err != nil {
		return err
	}
	ns.mu.Lock()
	ns.lease = upd
	ns.mu.Unlock()
	return nil
}

// reportStatus writes node i's status when it differs from what kubelet
// would report, or when NodeStatusReportFrequency passed since the last
// heartbeat.
func (s *Sim) reportStatus(ctx context.Context, i int) error {
	nodes := s.client.CoreV1().Nodes()
	cur := s.currentNode(i)
	if cur == nil {
		return fmt.Errorf("node %s: not known yet", s.nodes[i].name)
	}
	for attempt := 0; ; attempt++ {
		now := time.Now()
		due := now.Sub(lastHeartbeat(&cur.Status)) >= s.cfg.NodeStatusReportFrequency
		st, changed := s.cfg.nodeStatus(i, &cur.Status, now, due)
		if !changed && !due {
			return nil
		}
		n := cur.DeepCopy()
		n.Status = st
		upd, err := nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
		if err == nil {
			s.stats.nodeStatusUpdates.Add(1)
			ns := s.nodes[i]
			ns.mu.Lock()
			ns.node = upd
			ns.mu.Unlock()
			return nil
		}
		if !apierrors.IsConflict(err) || attempt > 0 {
			return err
		}
		if cur, err = nodes.Get(ctx, cur.Name, metav1.GetOptions{}); err != nil {
			return err
		}
	}
}

// deleteNodes deletes the nodes and their Leases (DeleteNodesOnExit),
// HeartbeatWorkers at a time, within 30 s.
func (s *Sim) deleteNodes(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	work := make(chan string)
	var wg sync.WaitGroup
	for range s.cfg.HeartbeatWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				err := s.client.CoordinationV1().Leases(NodeLeaseNamespace).Delete(ctx, name, metav1.DeleteOptions{})
				if err != nil && !apierrors.IsNotFound(err) {
					s.log.Warn("deleting a node Lease failed", "node", name, "err", err)
				}
				err = s.client.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
				if err != nil && !apierrors.IsNotFound(err) {
					s.log.Warn("deleting a simulated node failed", "node", name, "err", err)
				}
			}
		}()
	}
	for _, ns := range s.nodes {
		work <- ns.name
	}
	close(work)
	wg.Wait()
}
