package scheduler

import (
	"container/heap"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/controllers/scheduler/core"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// queuedPod is a pending pod in the scheduling queue.
type queuedPod struct {
	info   *core.PodInfo
	policy corev1.PreemptionPolicy
	// seq orders pods of equal priority and creation time: first come.
	seq int64
	// attempts counts scheduling attempts; the back-off doubles with each.
	attempts int
	// failedAt is when the last attempt found the pod unschedulable.
	failedAt time.Time
	// cycle is the scheduling cycle of the last Pop.
	cycle int64
	// updated: the pod changed while it was being scheduled.
	updated bool
	state   podQueueState
	index   int // in its heap
}

type podQueueState uint8

const (
	stateActive podQueueState = iota + 1
	stateBackoff
	stateUnschedulable
	stateInFlight
)

// queueConfig: the back-off of a pod found unschedulable is initial,
// doubling per attempt up to max; a pod left unschedulable for
// maxUnschedulable is retried even without a cluster event.
type queueConfig struct {
	initialBackoff, maxBackoff, maxUnschedulable time.Duration
}

// schedulingQueue holds the pods waiting for a node, in three places:
//
//	active         ready to schedule, a heap: higher priority first, then
//	               older (creation time), then first enqueued
//	backoff        failed recently; a heap by back-off expiry (1 s doubling
//	               to 10 s), moved to active by flush when it expires
//	unschedulable  failed and waiting for a cluster event that may help
//	               (node added or changed, pod deleted, ...: moveAll), or
//	               for maxUnschedulable to pass (flush)
//
// A popped pod is in flight until Done (bound, or gone), Unschedulable or
// Backoff. A cluster event during a pod's attempt sends the pod to
// back-off rather than to unschedulable, so the event is not missed.
// All methods are safe for concurrent use; now is the clock.
type schedulingQueue struct {
	cfg queueConfig
	now func() time.Time

	mu               sync.Mutex
	cond             *sync.Cond
	pods             map[string]*queuedPod
	unsched          map[string]*queuedPod
	active           podHeap
	backoff          podHeap
	seq              int64
	cycle            int64
	last             *queuedPod // the last popped: the pod being decided
	moveRequestCycle int64
	closed           bool
}

func newSchedulingQueue(cfg queueConfig, now func() time.Time) *schedulingQueue {
	q := &schedulingQueue{cfg: cfg, now: now, pods: map[string]*queuedPod{}, unsched: map[string]*queuedPod{}}
	q.cond = sync.NewCond(&q.mu)
	q.active.less = func(a, b *queuedPod) bool {
		if a.info.Priority != b.info.Priority {
			return a.info.Priority > b.info.Priority
		}
		ta, tb := a.info.Pod.CreationTimestamp.Time, b.info.Pod.CreationTimestamp.Time
		if !ta.Equal(tb) {
			return ta.Before(tb)
		}
		return a.seq < b.seq
	}
	q.backoff.less = func(a, b *queuedPod) bool { return q.backoffExpiry(a).Before(q.backoffExpiry(b)) }
	return q
}

// backoffDuration is initial × 2^(attempts-1), at most max.
func (q *schedulingQueue) backoffDuration(p *queuedPod) time.Duration {
	d := q.cfg.initialBackoff
	for i := 1; i < p.attempts && d < q.cfg.maxBackoff; i++ {
		d *= 2
	}
	return min(d, q.cfg.maxBackoff)
}

func (q *schedulingQueue) backoffExpiry(p *queuedPod) time.Time {
	return p.failedAt.Add(q.backoffDuration(p))
}

// Add queues a new pending pod, or updates it if queued.
func (q *schedulingQueue) Add(info *core.PodInfo, policy corev1.PreemptionPolicy) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if p, ok := q.pods[info.Key]; ok {
		q.updateLocked(p, info, policy)
		return
	}
	q.seq++
	p := &queuedPod{info: info, policy: policy, seq: q.seq}
	q.pods[info.Key] = p
	q.pushActiveLocked(p)
}

// Update replaces a queued pod's info. An unschedulable pod whose spec or
// labels changed is retried (after its back-off).
func (q *schedulingQueue) Update(info *core.PodInfo, policy corev1.PreemptionPolicy) {
	q.Add(info, policy)
}

func (q *schedulingQueue) updateLocked(p *queuedPod, info *core.PodInfo, policy corev1.PreemptionPolicy) {
	changed := podChanged(p.info.Pod, info.Pod)
	p.info, p.policy = info, policy
	switch p.state {
	case stateActive:
		heap.Fix(&q.active, p.index)
	case stateBackoff:
		heap.Fix(&q.backoff, p.index)
	case stateInFlight:
		p.updated = p.updated || changed
	case stateUnschedulable:
		if changed {
			q.requeueLocked(p)
		}
	}
}

// podChanged: a change other than status and metadata bookkeeping.
func podChanged(a, b *corev1.Pod) bool {
	if a.Generation != b.Generation || !mapsEqual(a.Labels, b.Labels) || !mapsEqual(a.Annotations, b.Annotations) {
		return true
	}
	return !equality.Semantic.DeepEqual(&a.Spec, &b.Spec)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Delete removes a pod from the queue.
func (q *schedulingQueue) Delete(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p, ok := q.pods[key]
	if !ok {
		return
	}
	q.removeLocked(p)
	delete(q.pods, key)
}

func (q *schedulingQueue) removeLocked(p *queuedPod) {
	switch p.state {
	case stateActive:
		heap.Remove(&q.active, p.index)
	case stateBackoff:
		heap.Remove(&q.backoff, p.index)
	case stateUnschedulable:
		delete(q.unsched, p.info.Key)
	}
	p.state = 0
}

// Pop waits for an active pod and returns it in flight; false once the
// queue is closed.
func (q *schedulingQueue) Pop() (*queuedPod, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil, false
	}
	p := heap.Pop(&q.active).(*queuedPod)
	q.cycle++
	p.cycle, p.updated, p.state = q.cycle, false, stateInFlight
	p.attempts++
	q.last = p
	return p, true
}

// current reports whether p is still the queue's entry for its pod.
func (q *schedulingQueue) currentLocked(p *queuedPod) bool {
	return q.pods[p.info.Key] == p
}

// Done removes a pod that no longer needs scheduling (bound, or gone).
func (q *schedulingQueue) Done(p *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.currentLocked(p) {
		q.removeLocked(p)
		delete(q.pods, p.info.Key)
	}
}

// Unschedulable parks a pod that fits nowhere until an event may help; if
// one came (or the pod changed) during its attempt, it backs off instead.
func (q *schedulingQueue) Unschedulable(p *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.currentLocked(p) || p.state != stateInFlight {
		return
	}
	p.failedAt = q.now()
	if p.updated || q.moveRequestCycle >= p.cycle {
		q.requeueLocked(p)
		return
	}
	p.state = stateUnschedulable
	q.unsched[p.info.Key] = p
}

// Backoff requeues a pod after an error (a failed binding) with back-off.
func (q *schedulingQueue) Backoff(p *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.currentLocked(p) || p.state != stateInFlight {
		return
	}
	p.failedAt = q.now()
	q.requeueLocked(p)
}

// requeueLocked moves p to back-off, or to active if its back-off is over.
func (q *schedulingQueue) requeueLocked(p *queuedPod) {
	q.removeLocked(p)
	if q.now().Before(q.backoffExpiry(p)) {
		p.state = stateBackoff
		heap.Push(&q.backoff, p)
		return
	}
	q.pushActiveLocked(p)
}

func (q *schedulingQueue) pushActiveLocked(p *queuedPod) {
	p.state = stateActive
	heap.Push(&q.active, p)
	q.cond.Signal()
}

// MoveAll retries the unschedulable pods that match (all, if match is
// nil) after a cluster event that may let them fit; a pod being decided
// meanwhile (that matches) will back off rather than park.
func (q *schedulingQueue) MoveAll(match func(*core.PodInfo) bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if match == nil {
		q.moveRequestCycle = q.cycle
	} else if p := q.last; p != nil && p.state == stateInFlight && match(p.info) {
		p.updated = true
	}
	for _, p := range q.unsched {
		if match == nil || match(p.info) {
			q.requeueLocked(p)
		}
	}
}

// Flush moves pods whose back-off expired to active, and pods
// unschedulable for longer than maxUnschedulable back to the queue.
func (q *schedulingQueue) Flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	for q.backoff.Len() > 0 {
		p := q.backoff.items[0]
		if now.Before(q.backoffExpiry(p)) {
			break
		}
		heap.Pop(&q.backoff)
		q.pushActiveLocked(p)
	}
	for _, p := range q.unsched {
		if now.Sub(p.failedAt) >= q.cfg.maxUnschedulable {
			q.requeueLocked(p)
		}
	}
}

// Close wakes Pop for good.
func (q *schedulingQueue) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

// queueStats counts the pods in each place.
type queueStats struct{ Active, Backoff, Unschedulable, InFlight int }

func (q *schedulingQueue) Stats() queueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	var s queueStats
	for _, p := range q.pods {
		switch p.state {
		case stateActive:
			s.Active++
		case stateBackoff:
			s.Backoff++
		case stateUnschedulable:
			s.Unschedulable++
		case stateInFlight:
			s.InFlight++
		}
	}
	return s
}

// podHeap is a heap of queued pods that tracks their indexes.
type podHeap struct {
	items []*queuedPod
	less  func(a, b *queuedPod) bool
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}
func (h *podHeap) Push(x any) {
	p := x.(*queuedPod)
	p.index = len(h.items)
	h.items = append(h.items, p)
}
func (h *podHeap) Pop() any {
	n := len(h.items)
	p := h.items[n-1]
	h.items[n-1] = nil
	h.items = h.items[:n-1]
	return p
}
