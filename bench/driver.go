package bench

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Progress receives a run's progress. Update is called from one goroutine
// a few times a second while a phase runs and once when it ends; Finish
// once when the run ends. ProgressBar implements it.
type Progress interface {
	Update(phase string, done, total int64)
	Finish()
}

// track reports done/total of phase to p every 200ms until stop is called;
// stop reports the final count. A nil p tracks nothing.
func track(p Progress, phase string, total int64, done *atomic.Int64) (stop func()) {
	if p == nil {
		return func() {}
	}
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		p.Update(phase, done.Load(), total)
		for {
			select {
			case <-quit:
				p.Update(phase, done.Load(), total)
				return
			case <-t.C:
				p.Update(phase, done.Load(), total)
			}
		}
	}()
	return func() { close(quit); <-exited }
}

func finish(p Progress) {
	if p != nil {
		p.Finish()
	}
}

// pacer spaces operations at a fixed rate: operation i may start at
// start + i/rate. Operations are numbered in the order clients take them,
// so a client that falls behind the schedule starts its next one at once
// (the schedule is not stretched by slow answers). A nil pacer never waits.
type pacer struct {
	start    time.Time
	interval float64 // ns between operations
}

func newPacer(rate float64) *pacer {
	if rate <= 0 {
		return nil
	}
	return &pacer{start: time.Now(), interval: float64(time.Second) / rate}
}

func (p *pacer) wait(ctx context.Context, i int64) error {
	if p == nil {
		return nil
	}
	d := time.Until(p.start.Add(time.Duration(float64(i) * p.interval)))
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// worker is one client goroutine's state: its connection, random source,
// series and scratch buffers.
type worker struct {
	id  int
	ctx context.Context
	cli *clientv3.Client
	rng *rand.Rand
	s   *series
	key []byte // scratch for Keys.key
	val []byte // a random value, made once
}

// observe records an operation, ignoring the failure of one cut short by
// the end of the run (context cancelled).
func (w *worker) observe(k uint8, began time.Time, err error) {
	if err != nil && w.ctx.Err() != nil {
		return
	}
	w.s.observe(k, began, err)
}

// observeFailed records a failed operation whose error a step of it has
// already recorded.
func (w *worker) observeFailed(k uint8, began time.Time) {
	if w.ctx.Err() != nil {
		return
	}
	now := time.Now()
	w.s.observeFailedAt(k, now.Sub(w.s.rec.start), now.Sub(began))
}

func newWorker(ctx context.Context, id int, seed uint64, cs *conns, rec *recorder, keySize, valSize int) *worker {
	w := &worker{
		id:  id,
		ctx: ctx,
		cli: cs.client(id),
		rng: rand.New(rand.NewPCG(seed, uint64(id)+1)),
		s:   rec.newSeries(),
		key: make([]byte, keySize),
	}
	w.val = randomBytes(w.rng, valSize)
	return w
}

// randomBytes returns n random printable bytes: incompressible enough that
// a store compressing its blocks gains little, readable in etcdctl.
func randomBytes(rng *rand.Rand, n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return b
}

// drive runs total operations over c.Clients workers at c.Rate, reporting
// progress as phase, and returns when all are done or ctx is cancelled.
// begin and end are the offsets from rec.start of the first start and the
// last completion.
func drive(ctx context.Context, c Common, cs *conns, rec *recorder, phase string, total int64,
	keySize, valSize int, op func(w *worker, i int64)) (begin, end time.Duration) {
	workers := make([]*worker, c.Clients)
	for j := range workers {
		workers[j] = newWorker(ctx, j, c.Seed, cs, rec, keySize, valSize)
	}
	return loop(ctx, c, rec, phase, total, func(j int, i int64) { op(workers[j], i) })
}

// loop is drive without a store client: c.Clients goroutines (client j
// calls op(j, i)) take operation numbers 0..total-1 from a shared counter,
// paced at c.Rate, reporting progress as phase. It returns when all are
// done or ctx is cancelled; begin and end are offsets from rec.start.
func loop(ctx context.Context, c Common, rec *recorder, phase string, total int64,
	op func(j int, i int64)) (begin, end time.Duration) {
	var next, done atomic.Int64
	stop := track(c.Progress, phase, total, &done)
	defer stop()
	p := newPacer(c.Rate)
	begin = time.Since(rec.start)
	var wg sync.WaitGroup
	for j := 0; j < c.Clients; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= total || p.wait(ctx, i) != nil {
					return
				}
				op(j, i)
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return begin, time.Since(rec.start)
}
