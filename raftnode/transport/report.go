package transport

import (
	"sync"

	"go.etcd.io/raft/v3"
)

// reporter delivers ReportUnreachable and ReportSnapshot from one goroutine,
// so that Send never calls into the Handler. Unreachable reports for a peer
// coalesce; snapshot reports are all delivered, in order.
type reporter struct {
	wake chan struct{} // capacity 1
	mu   struct {
		sync.Mutex
		unreachable map[uint64]struct{}
		snapshots   []snapReport
	}
}

type snapReport struct {
	id     uint64
	status raft.SnapshotStatus
}

func (r *reporter) init() {
	r.wake = make(chan struct{}, 1)
	r.mu.unreachable = make(map[uint64]struct{})
}

func (r *reporter) unreachable(id uint64) {
	r.mu.Lock()
	r.mu.unreachable[id] = struct{}{}
	r.mu.Unlock()
	r.signal()
}

func (r *reporter) snapshot(id uint64, s raft.SnapshotStatus) {
	r.mu.Lock()
	r.mu.snapshots = append(r.mu.snapshots, snapReport{id, s})
	r.mu.Unlock()
	r.signal()
}

func (r *reporter) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// take returns and clears the pending reports.
func (r *reporter) take() (map[uint64]struct{}, []snapReport) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var u map[uint64]struct{}
	if len(r.mu.unreachable) > 0 {
		u = r.mu.unreachable
		r.mu.unreachable = make(map[uint64]struct{})
	}
	s := r.mu.snapshots
	r.mu.snapshots = nil
	return u, s
}

// runReporter calls the Handler's report methods until Stop, then delivers
// what is left.
func (t *Transport) runReporter() {
	defer t.wg.Done()
	deliver := func() {
		u, s := t.rep.take()
		for id := range u {
			t.h.ReportUnreachable(id)
		}
		for _, r := range s {
			t.h.ReportSnapshot(r.id, r.status)
		}
	}
	for {
		select {
		case <-t.rep.wake:
			deliver()
		case <-t.ctx.Done():
			// Other goroutines may still report while they wind down; Stop
			// waits for them, and whatever they report after this last
			// delivery is dropped with the transport.
			deliver()
			return
		}
	}
}
