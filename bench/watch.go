package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"
)

// WatchConfig: fan-out. Watchers watch one key over Streams watch streams;
// then Puts puts to that key are made, each carrying its sequence number in
// its value. Every watcher should receive every put's event exactly once,
// in revision order; the run checks that (WatchStats.Violations) and
// measures each event's delivery latency: from just before its put was sent
// to when the watcher's goroutine received it.
//
// Streams are spread over the connections (stream s on connection
// s % Conns) and watchers over the streams (watcher w on stream
// w % Streams). The puts are made by Clients goroutines at Rate puts per
// second; with more than one their revision order is not their sequence
// order, and the check goes by revision.
type WatchConfig struct {
	Common
	// Watchers on the key [--watchers]. Default 1000.
	Watchers int `json:"watchers"`
	// Streams: gRPC watch streams the watchers share [--streams].
	// Default 10 (at most Watchers).
	Streams int `json:"streams"`
	// Puts to the key [--puts]. Default 100.
	Puts int64 `json:"puts"`
	// Key watched and written [--key]. Default "/kelson-bench/watch".
	Key string `json:"key"`
	// ValSize: bytes per value, at least the digits of the sequence
	// number [--val-size]. Default 8.
	ValSize int `json:"val_size"`
	// DrainTimeout: how long to wait after the last put for every watcher
	// to receive every event; events still missing then are reported as
	// missing [--drain-timeout]. Default 30s.
	DrainTimeout time.Duration `json:"drain_timeout"`
}

func (c WatchConfig) withDefaults() WatchConfig {
	c.Common = c.Common.withDefaults(1)
	if c.Watchers == 0 {
		c.Watchers = 1000
	}
	if c.Streams == 0 {
		c.Streams = 10
	}
	c.Streams = min(c.Streams, max(c.Watchers, 1))
	if c.Puts == 0 {
		c.Puts = 100
	}
	if c.Key == "" {
		c.Key = "/kelson-bench/watch"
	}
	if c.ValSize == 0 {
		c.ValSize = 8
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 30 * time.Second
	}
	return c
}

func (c WatchConfig) validate() error {
	var drainErr error
	if c.DrainTimeout < 0 {
		drainErr = fmt.Errorf("%w: drain timeout %v is negative", ErrBadConfig, c.DrainTimeout)
	}
	return firstErr(c.Common.validate(), positive("watchers", int64(c.Watchers)), positive("streams", int64(c.Streams)),
		positive("puts", c.Puts), positive("value size", int64(c.ValSize)), drainErr)
}

func (c WatchConfig) run(ctx context.Context) (*Result, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	res, err := runWatch(ctx, "watch", c)
	return withConfig(res, c), err
}

// WatchLatencyConfig: one watcher on a key and Puts puts to it at Rate per
// second; measures put-to-event latency (see WatchConfig) with no fan-out.
type WatchLatencyConfig struct {
	// Common.Rate defaults to 100 puts per second here, so each put is
	// measured alone.
	Common
	// Puts to the key [--puts]. Default 1000.
	Puts int64 `json:"puts"`
	// Key watched and written [--key]. Default "/kelson-bench/watch-latency".
	Key string `json:"key"`
	// ValSize: bytes per value [--val-size]. Default 8.
	ValSize int `json:"val_size"`
	// DrainTimeout: see WatchConfig. Default 30s.
	DrainTimeout time.Duration `json:"drain_timeout"`
}

func (c WatchLatencyConfig) run(ctx context.Context) (*Result, error) {
	if c.Rate == 0 {
		c.Rate = 100
	}
	if c.Puts == 0 {
		c.Puts = 1000
	}
	if c.Key == "" {
		c.Key = "/kelson-bench/watch-latency"
	}
	wc := WatchConfig{Common: c.Common, Watchers: 1, Streams: 1, Puts: c.Puts, Key: c.Key, ValSize: c.ValSize,
		DrainTimeout: c.DrainTimeout}.withDefaults()
	if err := wc.validate(); err != nil {
		return nil, err
	}
	c.Common, c.ValSize, c.DrainTimeout = wc.Common, wc.ValSize, wc.DrainTimeout
	res, err := runWatch(ctx, "watch-latency", wc)
	return withConfig(res, c), err
}

// WatchStats are the watch workloads' own numbers.
type WatchStats struct {
	Watchers, Streams int
	Puts              int64
	// Expected = Watchers * successful puts; Received counts every event
	// delivered (duplicates included).
	Expected, Received int64
	// Setup: time to create all watchers.
	Setup time.Duration
	// Violations counts departures from in-order, exactly-once delivery by
	// kind ("missing", "duplicate", "reordered", "unexpected");
	// ViolationSamples holds the first few.
	Violations       map[string]int64
	ViolationSamples []Violation
	// Cancelled: watches the member ended before the run did.
	Cancelled int64
	// DrainTimedOut: the drain timeout passed with events still missing.
	DrainTimedOut bool
}

// ViolationCount is the total of Violations.
func (w *WatchStats) ViolationCount() int64 {
	var n int64
	for _, v := range w.Violations {
		n += v
	}
	return n
}

// watcher is one watch's receiving state. revs and s are owned by its
// goroutine until the receivers are joined; count and ended are read by
// the drain loop meanwhile.
type watcher struct {
	revs  []int64
	s     *series
	count atomic.Int64
	ended atomic.Bool
}

// seqValue is sequence number seq as a value of at least size bytes:
// decimal, left-padded with '0'.
func seqValue(seq int64, size int) string {
	d := strconv.FormatInt(seq, 10)
	if len(d) >= size {
		return d
	}
	b := make([]byte, size)
	for i := range b[:size-len(d)] {
		b[i] = '0'
	}
	copy(b[size-len(d):], d)
	return string(b)
}

// parseSeq reads a value made by seqValue; ok is false for any other.
func parseSeq(v []byte) (seq int64, ok bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	for _, ch := range v {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		seq = seq*10 + int64(ch-'0')
	}
	return seq, true
}

// runWatch runs the fan-out of c (also used with one watcher for
// watch-latency).
func runWatch(ctx context.Context, name string, c WatchConfig) (*Result, error) {
	defer finish(c.Progress)
	cs, err := dial(ctx, c.Common)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	gr, err := cs.client(0).Get(ctx, c.Key)
	if err != nil {
		return nil, fmt.Errorf("bench: read %q before watching it: %w", c.Key, err)
	}
	fromRev := gr.Header.Revision + 1

	const (
		kEvent = iota
		kPut
	)
	rec := newRecorder(time.Now(), []kind{{"event", true}, {"put", false}})
	sent := make([]atomic.Int64, c.Puts) // offset from rec.start + 1; 0: not sent
	putRevs := make([]int64, c.Puts)     // revision of each successful put

	wctx, cancelWatches := context.WithCancel(ctx)
	defer cancelWatches()
	watchers := make([]watcher, c.Watchers)
	var (
		received, created, cancelled atomic.Int64
		receivers                    sync.WaitGroup
	)
	receive := func(w *watcher, wch clientv3.WatchChan) {
		defer receivers.Done()
		defer w.ended.Store(true)
		for resp := range wch {
			if err := resp.Err(); err != nil {
				if wctx.Err() == nil {
					w.s.fail(fmt.Errorf("watch ended by the member: %w", err))
					cancelled.Add(1)
				}
				continue
			}
			at := time.Since(rec.start)
			for _, ev := range resp.Events {
				w.revs = append(w.revs, ev.Kv.ModRevision)
				if seq, ok := parseSeq(ev.Kv.Value); ok && seq < c.Puts {
					if t := sent[seq].Load(); t > 0 {
						w.s.observeAt(kEvent, at, at-time.Duration(t-1), nil)
					}
				}
			}
			w.count.Add(int64(len(resp.Events)))
			received.Add(int64(len(resp.Events)))
		}
	}

	// Create the watchers: one goroutine per stream, since a stream
	// creates its watches one at a time.
	setupStart := time.Now()
	stopTrack := track(c.Progress, "creating watchers", int64(c.Watchers), &created)
	var creators sync.WaitGroup
	for s := 0; s < c.Streams; s++ {
		creators.Add(1)
		go func() {
			defer creators.Done()
			// clientv3 keys its streams by the context's metadata: a
			// distinct value per stream gives each its own gRPC stream.
			sctx := metadata.AppendToOutgoingContext(wctx, "kelson-bench-stream", strconv.Itoa(s))
			cli := cs.client(s)
			for i := s; i < c.Watchers; i += c.Streams {
				w := &watchers[i]
				w.s = rec.newSeries()
				wch := cli.Watch(sctx, c.Key, clientv3.WithRev(fromRev))
				receivers.Add(1)
				go receive(w, wch)
				created.Add(1)
			}
		}()
	}
	creators.Wait()
	stopTrack()
	setup := time.Since(setupStart)

	// Put.
	begin, _ := drive(ctx, c.Common, cs, rec, "putting", c.Puts, 0, 0, func(w *worker, i int64) {
		val := seqValue(i, c.ValSize)
		sent[i].Store(int64(time.Since(rec.start)) + 1)
		began := time.Now()
		resp, err := w.cli.Put(w.ctx, c.Key, val)
		w.observe(kPut, began, err)
		if err == nil {
			putRevs[i] = resp.Header.Revision
		}
	})

	// Drain: wait for every watcher to have every event.
	var expected []int64
	for _, r := range putRevs {
		if r != 0 {
			expected = append(expected, r)
		}
	}
	ws := &WatchStats{Watchers: c.Watchers, Streams: c.Streams, Puts: c.Puts, Setup: setup,
		Expected: int64(len(expected)) * int64(c.Watchers), Violations: map[string]int64{}}
	stopTrack = track(c.Progress, "receiving events", ws.Expected, &received)
	ws.DrainTimedOut = drain(ctx, watchers, int64(len(expected)), c.DrainTimeout)
	stopTrack()
	cancelWatches()
	receivers.Wait()

	// The measured span ends with the last event received.
	end := begin
	for i := range watchers {
		if n := len(watchers[i].s.samples); n > 0 {
			end = max(end, time.Duration(watchers[i].s.samples[n-1].at))
		}
	}
	res := rec.result(name, "events", begin, end)
	res.Endpoints = cs.endpoints
	res.Interrupted = ctx.Err() != nil
	ws.Received = received.Load()
	ws.Cancelled = cancelled.Load()
	if !res.Interrupted {
		slices.Sort(expected)
		for i := range watchers {
			for _, v := range CheckOrder(i, expected, watchers[i].revs) {
				ws.Violations[v.Kind.String()]++
				if len(ws.ViolationSamples) < 20 {
					ws.ViolationSamples = append(ws.ViolationSamples, v)
				}
			}
		}
	}
	res.Watch = ws
	return res, nil
}

// drain waits until every watcher has received target events or ended,
// polling, and reports whether timeout passed first. It returns early when
// ctx is done.
func drain(ctx context.Context, watchers []watcher, target int64, timeout time.Duration) (timedOut bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; {
		// i only moves forward: a watcher done stays done.
		for i < len(watchers) && (watchers[i].ended.Load() || watchers[i].count.Load() >= target) {
			i++
		}
		if i == len(watchers) {
			return false
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
}
