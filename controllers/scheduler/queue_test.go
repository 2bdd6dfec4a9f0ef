package scheduler

import (
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers/scheduler/core"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func testQueue() (*schedulingQueue, *fakeClock) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	return newSchedulingQueue(queueConfig{initialBackoff: time.Second, maxBackoff: 10 * time.Second, maxUnschedulable: time.Minute}, clk.now), clk
}

func qpod(name string, prio int32, created int64) *core.PodInfo {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", CreationTimestamp: metav1.Unix(created, 0)}}
	return core.NewPodInfo(p, prio)
}

// popNow pops without blocking; "" if nothing is active.
func popNow(t *testing.T, q *schedulingQueue) *queuedPod {
	t.Helper()
	if q.Stats().Active == 0 {
		return nil
	}
	p, ok := q.Pop()
	if !ok {
		t.Fatal("queue closed")
	}
	return p
}

func name(p *queuedPod) string {
	if p == nil {
		return ""
	}
	return p.info.Pod.Name
}

func TestQueueOrder(t *testing.T) {
	q, _ := testQueue()
	q.Add(qpod("old-low", 0, 1), "")
	q.Add(qpod("new-high", 100, 5), "")
	q.Add(qpod("old-high", 100, 2), "")
	q.Add(qpod("same-time-first", 0, 3), "")
	q.Add(qpod("same-time-second", 0, 3), "")
	want := []string{"old-high", "new-high", "old-low", "same-time-first", "same-time-second"}
	for _, w := range want {
		if got := name(popNow(t, q)); got != w {
			t.Fatalf("popped %q, want %q", got, w)
		}
	}
	if p := popNow(t, q); p != nil {
		t.Fatalf("popped %q from an empty queue", name(p))
	}
}

func TestQueueBackoffDoubles(t *testing.T) {
	q, _ := testQueue()
	p := &queuedPod{}
	for attempts, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 30: 10 * time.Second} {
		p.attempts = attempts
		if got := q.backoffDuration(p); got != want {
			t.Errorf("attempt %d: back-off %v, want %v", attempts, got, want)
		}
	}
}

// TestQueueUnschedulableLifecycle walks one pod through the places.
func TestQueueUnschedulableLifecycle(t *testing.T) {
	q, clk := testQueue()
	q.Add(qpod("p", 0, 1), "")
	p := popNow(t, q)

	// Found unschedulable with no event meanwhile: parked.
	q.Unschedulable(p)
	if s := q.Stats(); s.Unschedulable != 1 {
		t.Fatalf("after Unschedulable: %+v", s)
	}
	q.Flush()
	if s := q.Stats(); s.Unschedulable != 1 {
		t.Fatalf("Flush moved a parked pod before maxUnschedulable: %+v", s)
	}

	// A node is added: back to the queue, but still backing off (1 s).
	q.MoveAll(nil)
	if s := q.Stats(); s.Backoff != 1 {
		t.Fatalf("after MoveAll: %+v", s)
	}
	clk.advance(999 * time.Millisecond)
	q.Flush()
	if s := q.Stats(); s.Backoff != 1 {
		t.Fatalf("back-off ended early: %+v", s)
	}
	clk.advance(time.Millisecond)
	q.Flush()
	if p = popNow(t, q); name(p) != "p" {
		t.Fatalf("after back-off popped %q", name(p))
	}

	// An event while the pod is in flight: it backs off instead of parking
	// (the event might have made it fit).
	q.MoveAll(nil)
	q.Unschedulable(p)
	if s := q.Stats(); s.Backoff != 1 || s.Unschedulable != 0 {
		t.Fatalf("event during the attempt: %+v", s)
	}
	clk.advance(2 * time.Second) // second attempt: 2 s
	q.Flush()
	p = popNow(t, q)

	// Parked, then left alone for maxUnschedulable: retried anyway.
	q.Unschedulable(p)
	clk.advance(time.Minute)
	q.Flush()
	if s := q.Stats(); s.Active != 1 {
		t.Fatalf("after maxUnschedulable: %+v", s)
	}
	p = popNow(t, q)

	// Bound: gone from the queue.
	q.Done(p)
	if s := q.Stats(); s != (queueStats{}) {
		t.Fatalf("after Done: %+v", s)
	}
}

func TestQueueUpdateAndDelete(t *testing.T) {
	q, clk := testQueue()
	info := qpod("p", 0, 1)
	q.Add(info, "")
	p := popNow(t, q)
	q.Unschedulable(p)

	// A status-only change (our own PodScheduled=False) leaves it parked.
	st := *info.Pod
	st.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse}}
	q.Update(core.NewPodInfo(&st, 0), "")
	if s := q.Stats(); s.Unschedulable != 1 {
		t.Fatalf("status update moved the pod: %+v", s)
	}
	// A spec change (a toleration added) retries it after back-off.
	sp := st
	sp.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	q.Update(core.NewPodInfo(&sp, 0), "")
	if s := q.Stats(); s.Backoff != 1 {
		t.Fatalf("spec update: %+v", s)
	}
	clk.advance(time.Second)
	q.Flush()
	p = popNow(t, q)
	if len(p.info.Pod.Spec.Tolerations) != 1 {
		t.Fatal("popped the old version of the pod")
	}

	// Deleted while in flight, then recreated: the old attempt's Done does
	// not remove the new pod.
	q.Delete(p.info.Key)
	q.Add(qpod("p", 0, 2), "")
	q.Done(p)
	q.Unschedulable(p)
	if s := q.Stats(); s.Active != 1 {
		t.Fatalf("stale attempt touched the recreated pod: %+v", s)
	}
}

func TestQueueMoveAllFilter(t *testing.T) {
	q, clk := testQueue()
	plain := qpod("plain", 0, 1)
	aff := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "aff", Namespace: "ns"}, Spec: corev1.PodSpec{Affinity: &corev1.Affinity{
		PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}, TopologyKey: "zone"}}}}}}
	q.Add(plain, "")
	q.Add(core.NewPodInfo(aff, 0), "")
	q.Unschedulable(popNow(t, q))
	q.Unschedulable(popNow(t, q))
	clk.advance(time.Hour / 2) // past back-off, not past maxUnschedulable
	q.MoveAll(func(p *core.PodInfo) bool { return len(p.RequiredAffinity) > 0 })
	if got := name(popNow(t, q)); got != "aff" {
		t.Fatalf("popped %q, want aff", got)
	}
	if s := q.Stats(); s.Unschedulable != 1 {
		t.Fatalf("%+v", s)
	}
}

func TestQueueCloseWakesPop(t *testing.T) {
	q, _ := testQueue()
	done := make(chan bool)
	go func() { _, ok := q.Pop(); done <- ok }()
	time.Sleep(10 * time.Millisecond)
	q.Close()
	if ok := <-done; ok {
		t.Fatal("Pop returned a pod from a closed, empty queue")
	}
}

// A filtered event (a bound pod added: only pods with required affinity
// care) does not send an unrelated pod being decided to back-off.
func TestQueueFilteredEventDuringAttempt(t *testing.T) {
	q, _ := testQueue()
	q.Add(qpod("plain", 0, 1), "")
	p := popNow(t, q)
	q.MoveAll(func(p *core.PodInfo) bool { return len(p.RequiredAffinity) > 0 })
	q.Unschedulable(p)
	if s := q.Stats(); s.Unschedulable != 1 {
		t.Fatalf("%+v", s)
	}
}
