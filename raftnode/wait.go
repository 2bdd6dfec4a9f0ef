package raftnode

import (
	"sync"

	"github.com/kelson-dev/kelson/kvstore"
)

// waitRegistry connects a proposal to its result: the proposer registers
// the request ID, the raft loop delivers the result when it applies the
// entry with that ID on this member.
type waitRegistry struct {
	mu sync.Mutex
	m  map[uint64]chan kvstore.Result
}

func newWaitRegistry() *waitRegistry { return &waitRegistry{m: map[uint64]chan kvstore.Result{}} }

func (w *waitRegistry) register(id uint64) <-chan kvstore.Result {
	ch := make(chan kvstore.Result, 1)
	w.mu.Lock()
	w.m[id] = ch
	w.mu.Unlock()
	return ch
}

func (w *waitRegistry) cancel(id uint64) {
	w.mu.Lock()
	delete(w.m, id)
	w.mu.Unlock()
}

// deliver sends r to the waiter of id, if any (entries proposed by other
// members, or replayed ones, have none).
func (w *waitRegistry) deliver(id uint64, r kvstore.Result) {
	if id == 0 {
		return
	}
	w.mu.Lock()
	ch, ok := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	if ok {
		ch <- r // buffered, never blocks
	}
}

func (w *waitRegistry) failAll(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, ch := range w.m {
		ch <- kvstore.Result{Err: err}
		delete(w.m, id)
	}
}

// indexWaiter lets goroutines wait until the applied index reaches a value.
type indexWaiter struct {
	mu      sync.Mutex
	applied uint64
	waiters map[uint64][]chan struct{}
}

func newIndexWaiter() *indexWaiter { return &indexWaiter{waiters: map[uint64][]chan struct{}{}} }

// wait returns a channel closed once the applied index is >= index.
func (w *indexWaiter) wait(index uint64) <-chan struct{} {
	ch := make(chan struct{})
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.applied >= index {
		close(ch)
		return ch
	}
	w.waiters[index] = append(w.waiters[index], ch)
	return ch
}

func (w *indexWaiter) advance(index uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if index <= w.applied {
		return
	}
	w.applied = index
	for i, chs := range w.waiters {
		if i <= index {
			for _, ch := range chs {
				close(ch)
			}
			delete(w.waiters, i)
		}
	}
}
