package sim

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The pod side: one informer over every bound pod, a queue of pod keys,
// Workers goroutines that plan each pod with decide and write what it
// says. A pod whose state changes by itself later (a run that ends, a
// back-off that expires) is queued again for then.

// retryFullPool is how soon a pod waiting for a free IP is tried again.
const retryFullPool = 5 * time.Second

// maxStatusAttempts bounds the conflict retries of one status write.
const maxStatusAttempts = 5

func (s *Sim) podWorker(ctx context.Context) {
	for {
		key, quit := s.podQueue.Get()
		if quit {
			return
		}
		wake, err := s.syncPod(ctx, key)
		if err != nil {
			s.stats.podFailures.Add(1)
			if ctx.Err() == nil {
				s.log.Debug("pod write failed; retrying", "pod", key, "err", err)
				s.podQueue.AddRateLimited(key)
			}
		} else {
			s.podQueue.Forget(key)
			if !wake.IsZero() {
				s.podQueue.AddAfter(key, time.Until(wake))
			}
		}
		s.podQueue.Done(key)
	}
}

// claimPodIPs records the IPs of the running pods on our nodes, so that a
// restarted simulator hands out no IP twice. Run calls it after the
// caches sync, before any pod is synced.
func (s *Sim) claimPodIPs() {
	for i, ns := range s.nodes {
		objs, err := s.podInformer.GetIndexer().ByIndex(nodeIndexName, ns.name)
		if err != nil || len(objs) == 0 {
			continue
		}
		var cidrs []netip.Prefix
		if n := s.currentNode(i); n != nil {
			cidrs = parseCIDRs(n.Spec.PodCIDRs, n.Spec.PodCIDR)
		}
		for _, obj := range objs {
			p := obj.(*corev1.Pod)
			if isTerminal(p) || p.Spec.HostNetwork {
				continue
			}
			if ips := statusIPs(p); len(ips) > 0 {
				if err := s.ipam.claim(ns.name, cidrs, p.UID, ips); err != nil {
					s.log.Warn("two pods show the same IP", "pod", p.Namespace+"/"+p.Name, "err", err)
				}
			}
		}
	}
}

// statusIPs are the pod IPs in p's status.
func statusIPs(p *corev1.Pod) []netip.Addr {
	var ips []netip.Addr
	for _, ip := range p.Status.PodIPs {
		if a, err := netip.ParseAddr(ip.IP); err == nil {
			ips = append(ips, a)
		}
	}
	if len(ips) == 0 && p.Status.PodIP != "" {
		if a, err := netip.ParseAddr(p.Status.PodIP); err == nil {
			ips = append(ips, a)
		}
	}
	return ips
}

// syncPod brings one pod to what decide says, and returns when it should
// be looked at again (zero: when it changes).
func (s *Sim) syncPod(ctx context.Context, key string) (time.Time, error) {
	obj, exists, err := s.podInformer.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return time.Time{}, nil
	}
	pod := obj.(*corev1.Pod)
	i, ours := s.byName[pod.Spec.NodeName]
	if !ours || !s.nodes[i].isRegistered() {
		return time.Time{}, nil // registration queues the node's pods
	}
	pods := s.client.CoreV1().Pods(pod.Namespace)
	for attempt := 1; ; attempt++ {
		plan, err := s.plan(pod, i)
		if err != nil {
			return time.Now().Add(retryFullPool), nil
		}
		if plan.status != nil {
			p := pod.DeepCopy()
			p.Status = *plan.status
			_, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
			if apierrors.IsConflict(err) && attempt < maxStatusAttempts {
				s.stats.podConflicts.Add(1)
				if pod, err = pods.Get(ctx, pod.Name, metav1.GetOptions{}); err != nil {
					if apierrors.IsNotFound(err) {
						return time.Time{}, nil
					}
					return time.Time{}, fmt.Errorf("get pod %s: %w", key, err)
				}
				if pod.Spec.NodeName != s.nodes[i].name {
					return time.Time{}, nil
				}
				_, _ = dropManagedFields(pod)
				continue
			}
			if apierrors.IsNotFound(err) {
				return time.Time{}, nil
			}
			if err != nil {
				return time.Time{}, fmt.Errorf("update pod %s status: %w", key, err)
			}
			s.stats.podStatusUpdates.Add(1)
		}
		if plan.remove && !s.firstRemoval(pod) && plan.status == nil && len(pod.Finalizers) > 0 {
			// Asked already; the pod waits for its finalizers, and is
			// asked again when they are gone.
			plan.remove = false
		}
		if plan.remove {
			// As kubelet: the final status first (above), then the pod
			// goes, with grace 0, if it is still the pod we stopped.
			uid := pod.UID
			err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{
				GracePeriodSeconds: ptr(int64(0)),
				Preconditions:      &metav1.Preconditions{UID: &uid},
			})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return time.Time{}, fmt.Errorf("delete pod %s: %w", key, err)
			}
			s.stats.podDeletions.Add(1)
		}
		if plan.terminal {
			s.ipam.release(pod.UID)
		}
		return plan.wake, nil
	}
}

// firstRemoval records that pod is being deleted by the simulator, and
// reports whether it is the first time.
func (s *Sim) firstRemoval(pod *corev1.Pod) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed[pod.UID] {
		return false
	}
	s.removed[pod.UID] = true
	return true
}

// plan gives pod its IPs (when it needs and can have them) and decides.
// An error means the node's pool is full.
func (s *Sim) plan(pod *corev1.Pod, i int) (podPlan, error) {
	node := s.nodes[i]
	b, errs := parseBehavior(pod)
	if len(errs) > 0 {
		s.mu.Lock()
		warned := s.warned[pod.UID]
		s.warned[pod.UID] = true
		s.mu.Unlock()
		if !warned {
			s.log.Warn("ignoring simulator annotations that do not parse", "pod", pod.Namespace+"/"+pod.Name, "err", errors.Join(errs...))
		}
	}
	hostIP := nodeIP(i)
	in := podInput{
		now:        time.Now(),
		hostIPs:    []string{hostIP},
		backoff:    s.cfg.RestartBackoff,
		maxBackoff: s.cfg.MaxRestartBackoff,
	}
	if pod.DeletionTimestamp == nil && !isTerminal(pod) {
		switch ips := statusIPs(pod); {
		case pod.Spec.HostNetwork:
			in.podIPs = in.hostIPs
		default:
			var cidrs []netip.Prefix
			if n := s.currentNode(i); n != nil {
				cidrs = parseCIDRs(n.Spec.PodCIDRs, n.Spec.PodCIDR)
			}
			if len(ips) > 0 {
				// Already has them (after a restart, claimPodIPs did this;
				// claiming again is harmless).
				if err := s.ipam.claim(node.name, cidrs, pod.UID, ips); err != nil {
					s.log.Warn("two pods show the same IP", "pod", pod.Namespace+"/"+pod.Name, "err", err)
				}
				break
			}
			if len(cidrs) == 0 {
				break // no pod CIDR yet: the node's update queues the pod again
			}
			got, err := s.ipam.allocate(node.name, cidrs, pod.UID)
			if err != nil {
				s.log.Warn("no pod IP for a pod", "pod", pod.Namespace+"/"+pod.Name, "node", node.name, "err", err)
				return podPlan{}, err
			}
			for _, ip := range got {
				in.podIPs = append(in.podIPs, ip.String())
			}
		}
	}
	return decide(pod, b, in), nil
}
