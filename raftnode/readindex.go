package raftnode

import (
	"context"
	"encoding/binary"
	"sync"
	"time"
)

// readIndexer batches linearizable reads: every read that arrives while a
// ReadIndex round is in flight joins the next round, so one round trip to a
// quorum serves any number of concurrent reads. A round resolves when raft
// returns the read index and this member has applied up to it.
type readIndexer struct {
	n    *Node
	kick chan struct{}
	stop func()
	done chan struct{}

	mu      sync.Mutex
	cur     *readBatch            // collects reads for the next round
	pending map[uint64]*readBatch // rounds in flight by request context
	nextID  uint64
}

type readBatch struct {
	resolved chan uint64   // the read index, from the raft loop
	done     chan struct{} // closed when served (err set before)
	err      error
}

func newReadBatch() *readBatch {
	return &readBatch{resolved: make(chan uint64, 1), done: make(chan struct{})}
}

func newReadIndexer(n *Node) *readIndexer {
	ctx, cancel := context.WithCancel(context.Background())
	r := &readIndexer{n: n, kick: make(chan struct{}, 1), stop: cancel, done: make(chan struct{}),
		cur: newReadBatch(), pending: map[uint64]*readBatch{}}
	go r.loop(ctx)
	return r
}

// wait blocks until a read started now may be served locally.
func (r *readIndexer) wait(ctx context.Context) error {
	r.mu.Lock()
	b := r.cur
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// resolved is called by the raft loop for each ReadState.
func (r *readIndexer) resolved(rctx []byte, index uint64) {
	if len(rctx) != 8 {
		return
	}
	id := binary.BigEndian.Uint64(rctx)
	r.mu.Lock()
	b := r.pending[id]
	delete(r.pending, id)
	r.mu.Unlock()
	if b != nil {
		b.resolved <- index
	}
}

func (r *readIndexer) loop(ctx context.Context) {
	defer close(r.done)
	for {
		select {
		case <-ctx.Done():
			r.failCurrent(ErrStopped)
			return
		case <-r.kick:
		}
		r.mu.Lock()
		b := r.cur
		r.cur = newReadBatch()
		r.mu.Unlock()
		b.err = r.round(ctx, b)
		close(b.done)
	}
}

// round gets a read index for b (retrying while raft drops the request, as
// it does without a leader) and waits until it is applied.
func (r *readIndexer) round(ctx context.Context, b *readBatch) error {
	deadline := time.NewTimer(r.n.requestTimeout)
	defer deadline.Stop()
	retry := time.NewTicker(500 * time.Millisecond)
	defer retry.Stop()
	var index uint64
	for index == 0 {
		r.mu.Lock()
		r.nextID++
		id := r.nextID
		r.pending[id] = b
		r.mu.Unlock()
		rctx := binary.BigEndian.AppendUint64(nil, id)
		if !r.n.do(func() { r.n.rn.ReadIndex(rctx) }) {
			return ErrStopped
		}
		select {
		case index = <-b.resolved:
		case <-retry.C:
			r.mu.Lock()
			delete(r.pending, id)
			r.mu.Unlock()
		case <-deadline.C:
			if r.n.leader.Load() == 0 {
				return ErrNoLeader
			}
			return ErrTimeout
		case <-ctx.Done():
			return ErrStopped
		}
	}
	select {
	case <-r.n.appliedWait.wait(index):
		return nil
	case <-deadline.C:
		return ErrTimeout
	case <-ctx.Done():
		return ErrStopped
	}
}

func (r *readIndexer) failCurrent(err error) {
	r.mu.Lock()
	b := r.cur
	r.cur = newReadBatch()
	r.cur.err = err
	close(r.cur.done) // later readers fail at once
	r.mu.Unlock()
	b.err = err
	close(b.done)
}

func (r *readIndexer) stopAndWait() {
	r.stop()
	<-r.done
}
