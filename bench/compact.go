package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// CompactConfig: put latency while the store compacts a large history, and
// the space the compaction gives back. The run has five phases:
//
//	load       Keys keys of ValSize bytes, LoadTxnOps puts per transaction,
//	           from LoadClients clients as fast as they go (not the headline)
//	overwrite  the first Overwrite*Keys keys written again, the same way, so
//	           that the compaction has that much superseded history to remove
//	baseline   Clients clients put random keys of the key space at Rate per
//	           second for Baseline
//	compacting the same puts go on; Compact(current revision, physical) is
//	           sent to the leader and the phase lasts until it returns: the
//	           member has then removed the history, not only recorded the
//	           compaction (etcd and Kelson both answer a physical compaction
//	           only once it is done)
//	after      the same puts for After, then the puts stop and the members'
//	           reported DbSize is polled until it stops shrinking (Settle)
//
// The headline latency is over the puts of the last three phases (kinds
// "baseline", "compacting", "after", by the phase in which each put was
// sent); CompactStats compares the p99 of "compacting" with "baseline".
// Defragment is never called.
type CompactConfig struct {
	// Common.Clients are the steady putters (default 16) and Common.Rate
	// their puts per second in all (default 1000): a fixed rate, so that
	// latency before and during the compaction is measured under the same
	// load.
	Common
	// KeySize in bytes [--key-size]. Default 8.
	KeySize int `json:"key_size"`
	// Keys: distinct keys written by the load [--keys]. Default 1,000,000.
	Keys int64 `json:"keys"`
	// ValSize: bytes per value [--val-size]. Default 1024.
	ValSize int `json:"val_size"`
	// Overwrite: the fraction of Keys written a second time before the
	// compaction [--overwrite]. Default 1 (every key); negative: none.
	Overwrite float64 `json:"overwrite"`
	// LoadClients: concurrent clients of the load and overwrite phases
	// [--load-clients]. Default 100.
	LoadClients int `json:"load_clients"`
	// LoadTxnOps: puts per transaction in the load and overwrite phases
	// [--load-txn-ops]. Default 16.
	LoadTxnOps int `json:"load_txn_ops"`
	// Baseline: how long puts are measured before the compaction
	// [--baseline]. Default 10s.
	Baseline time.Duration `json:"baseline"`
	// After: how long puts go on after the compaction returned [--after].
	// Default 2s.
	After time.Duration `json:"after"`
	// CompactTimeout bounds the compaction request [--compact-timeout].
	// Default 10m.
	CompactTimeout time.Duration `json:"compact_timeout"`
	// Settle: the longest wait, after the puts, for every member's DbSize
	// to stop shrinking (unchanged for 5 polls a second apart) [--settle].
	// Default 30s; negative: do not wait.
	Settle time.Duration `json:"settle"`
}

func (c CompactConfig) withDefaults() CompactConfig {
	c.Common = c.Common.withDefaults(16)
	if c.Rate == 0 {
		c.Rate = 1000
	}
	if c.KeySize == 0 {
		c.KeySize = 8
	}
	if c.Keys == 0 {
		c.Keys = 1000000
	}
	if c.ValSize == 0 {
		c.ValSize = 1024
	}
	if c.Overwrite == 0 {
		c.Overwrite = 1
	}
	if c.LoadClients == 0 {
		c.LoadClients = 100
	}
	if c.LoadTxnOps == 0 {
		c.LoadTxnOps = 16
	}
	if c.Baseline == 0 {
		c.Baseline = 10 * time.Second
	}
	if c.After == 0 {
		c.After = 2 * time.Second
	}
	if c.CompactTimeout == 0 {
		c.CompactTimeout = 10 * time.Minute
	}
	if c.Settle == 0 {
		c.Settle = 30 * time.Second
	}
	return c
}

func (c CompactConfig) validate() error {
	var errOver, errDur error
	if c.Overwrite > 1 {
		errOver = fmt.Errorf("%w: overwrite %g: want a fraction of the keys, at most 1", ErrBadConfig, c.Overwrite)
	}
	if c.Baseline < 0 || c.After < 0 || c.CompactTimeout < 0 {
		errDur = fmt.Errorf("%w: baseline %v, after %v and compact timeout %v must not be negative",
			ErrBadConfig, c.Baseline, c.After, c.CompactTimeout)
	}
	return firstErr(c.Common.validate(), Keys{KeySize: c.KeySize, KeySpaceSize: c.Keys}.validate(),
		positive("value size", int64(c.ValSize)), positive("load clients", int64(c.LoadClients)),
		positive("load txn ops", int64(c.LoadTxnOps)), errOver, errDur)
}

// overwritten is the number of keys the overwrite phase writes.
func (c CompactConfig) overwritten() int64 {
	if c.Overwrite <= 0 {
		return 0
	}
	return int64(math.Round(c.Overwrite * float64(c.Keys)))
}

// CompactStats are the compact workload's own numbers.
type CompactStats struct {
	// Keys written by the load; Overwritten of them written again.
	Keys, Overwritten int64
	// Load and Overwrite: how long those phases took.
	Load, Overwrite time.Duration
	// Leader is the endpoint the compaction was sent to.
	Leader string
	// Revision compacted to (the leader's revision when the phase began).
	Revision int64
	// Duration of the compaction: from sending Compact(physical) to its
	// answer. Error is its error message, "" on success.
	Duration time.Duration
	Error    string
	// BaselineP99, CompactingP99: p99 put latency of the puts sent before
	// and during the compaction; Ratio = CompactingP99 / BaselineP99 (0 when
	// either phase has no successful put). CompactingMax is the slowest put
	// sent during the compaction.
	BaselineP99, CompactingP99, CompactingMax time.Duration
	Ratio                                     float64
	// Members: each endpoint's reported sizes before the compaction and
	// after the settle wait.
	Members []MemberSize
	// Settled is how long the settle wait took; SettleTimedOut is set when
	// some DbSize was still changing at its end.
	Settled        time.Duration
	SettleTimedOut bool
}

// MemberSize is one endpoint's Status sizes in bytes, as the member reports
// them (etcd: the bbolt file and the part of it in use; Kelson: its store's
// Pebble files, both fields alike). 0 when the member did not answer.
type MemberSize struct {
	Endpoint                  string
	DBSizeBefore, InUseBefore int64
	DBSizeAfter, InUseAfter   int64
}

// Kinds of the compact workload's samples.
const (
	kBaseline = iota
	kCompacting
	kAfter
	kLoad
)

var compactKinds = []kind{{"baseline", true}, {"compacting", true}, {"after", true}, {"load", false}}

// loadBatch returns the key numbers [lo, hi) that load transaction i of
// txnOps puts writes in a phase writing keys [0, n); hi <= lo past the end.
func loadBatch(i int64, txnOps int, n int64) (lo, hi int64) {
	lo = i * int64(txnOps)
	return lo, min(lo+int64(txnOps), n)
}

// compactRatio digests the per-kind latencies into s.
func (s *CompactStats) digest(kinds []KindStats) {
	base, during := kinds[kBaseline].Latency, kinds[kCompacting].Latency
	s.BaselineP99, s.CompactingP99, s.CompactingMax = base.P99, during.P99, during.Max
	s.Ratio = 0
	if base.Count > 0 && during.Count > 0 && base.P99 > 0 {
		s.Ratio = float64(during.P99) / float64(base.P99)
	}
}

func (c CompactConfig) run(ctx context.Context) (*Result, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	defer finish(c.Progress)
	loadCommon := c.Common
	loadCommon.Clients, loadCommon.Rate = c.LoadClients, 0
	cs, err := dial(ctx, loadCommon)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	leader, err := findLeader(ctx, c.Common)
	if err != nil {
		return nil, err
	}
	lcli, err := newClient(c.Common, leader)
	if err != nil {
		return nil, err
	}
	defer lcli.Close()

	// Values are slices at random offsets of one random pool, distinct from
	// put to put: a store that compresses its blocks must not gain from
	// repeated values what it would not gain from real ones.
	pool := randomBytes(rand.New(rand.NewPCG(c.Seed, 0)), max(4<<20, 4*c.ValSize))
	value := func(w *worker) string {
		off := w.rng.IntN(len(pool) - c.ValSize + 1)
		return string(pool[off : off+c.ValSize])
	}
	rec := newRecorder(time.Now(), compactKinds)
	keys := Keys{KeySize: c.KeySize, KeySpaceSize: c.Keys}
	st := &CompactStats{Keys: c.Keys, Overwritten: c.overwritten(), Leader: leader}
	load := func(phase string, n int64) time.Duration {
		txns := (n + int64(c.LoadTxnOps) - 1) / int64(c.LoadTxnOps)
		begin, end := drive(ctx, loadCommon, cs, rec, phase, txns, c.KeySize, 0, func(w *worker, i int64) {
			lo, hi := loadBatch(i, c.LoadTxnOps, n)
			ops := make([]clientv3.Op, 0, hi-lo)
			for k := lo; k < hi; k++ {
				ops = append(ops, clientv3.OpPut(string(keys.key(w.key, k)), value(w)))
			}
			began := time.Now()
			_, err := w.cli.Txn(w.ctx).Then(ops...).Commit()
			w.observe(kLoad, began, err)
		})
		return end - begin
	}
	st.Load = load("loading", c.Keys)
	if st.Overwritten > 0 && ctx.Err() == nil {
		st.Overwrite = load("overwriting", st.Overwritten)
	}
	for _, ep := range cs.endpoints {
		st.Members = append(st.Members, MemberSize{Endpoint: ep})
	}
	c.sizes(ctx, st, false)

	// Steady puts in the last three phases; phase is read as each put is
	// sent and decides its kind.
	var phase atomic.Int32
	phase.Store(kBaseline)
	steadyCtx, stopSteady := context.WithCancel(ctx)
	defer stopSteady()
	steady := c.Common
	steady.Progress = nil
	type span struct{ begin, end time.Duration }
	driven := make(chan span, 1)
	go func() {
		b, e := drive(steadyCtx, steady, cs, rec, "", math.MaxInt64, c.KeySize, 0, func(w *worker, i int64) {
			k := uint8(phase.Load())
			key := string(keys.key(w.key, w.rng.Int64N(c.Keys)))
			began := time.Now()
			_, err := w.cli.Put(w.ctx, key, value(w))
			w.observe(k, began, err)
		})
		driven <- span{b, e}
	}()
	c.note("baseline")
	sleepCtx(ctx, c.Baseline)
	if ctx.Err() == nil {
		c.note("compacting")
		c.compact(ctx, lcli, leader, st, &phase)
	}
	phase.Store(kAfter)
	c.note("after")
	sleepCtx(ctx, c.After)
	stopSteady()
	sp := <-driven

	res := rec.result("compact", "requests", sp.begin, sp.end)
	res.Endpoints = cs.endpoints
	res.Interrupted = ctx.Err() != nil
	if c.Settle > 0 && ctx.Err() == nil {
		c.note("settling")
		c.settle(ctx, st)
	}
	st.digest(res.Kinds)
	res.Compact = st
	return withConfig(res, c), nil
}

// compact sends Compact(current revision, physical) to the leader and
// records its duration; phase is "compacting" while it is outstanding.
func (c CompactConfig) compact(ctx context.Context, lcli *clientv3.Client, leader string, st *CompactStats, phase *atomic.Int32) {
	sctx, cancel := context.WithTimeout(ctx, c.DialTimeout)
	s, err := lcli.Status(sctx, leader)
	cancel()
	if err != nil {
		st.Error = "status before compaction: " + errorMessage(err)
		return
	}
	st.Revision = s.Header.Revision
	cctx, cancel := context.WithTimeout(ctx, c.CompactTimeout)
	defer cancel()
	phase.Store(kCompacting)
	began := time.Now()
	_, err = lcli.Compact(cctx, st.Revision, clientv3.WithCompactPhysical())
	st.Duration = time.Since(began)
	if err != nil {
		st.Error = errorMessage(err)
	}
}

// sizes records each member's reported sizes, before or after the compaction.
func (c CompactConfig) sizes(ctx context.Context, st *CompactStats, after bool) {
	for i := range st.Members {
		m := &st.Members[i]
		s, err := status(ctx, c.Common, m.Endpoint)
		var db, inUse int64
		if err == nil {
			db, inUse = s.DbSize, s.DbSizeInUse
		}
		if after {
			m.DBSizeAfter, m.InUseAfter = db, inUse
		} else {
			m.DBSizeBefore, m.InUseBefore = db, inUse
		}
	}
}

// settleStable is how many polls in a row every DbSize must be unchanged
// for the sizes to count as settled.
const settleStable = 5

// settle polls the members' sizes once a second until none has changed for
// settleStable polls, or Settle has passed.
func (c CompactConfig) settle(ctx context.Context, st *CompactStats) {
	began := time.Now()
	var hist [][]int64 // per poll, each member's DbSize
	for {
		c.sizes(ctx, st, true)
		poll := make([]int64, len(st.Members))
		for i, m := range st.Members {
			poll[i] = m.DBSizeAfter
		}
		hist = append(hist, poll)
		if settled(hist, settleStable) {
			break
		}
		if time.Since(began) >= c.Settle || ctx.Err() != nil {
			st.SettleTimedOut = true
			break
		}
		sleepCtx(ctx, time.Second)
	}
	st.Settled = time.Since(began)
}

// settled reports whether the last n polls of sizes are equal, member by
// member (and at least n polls were made).
func settled(polls [][]int64, n int) bool {
	if len(polls) < n {
		return false
	}
	last := polls[len(polls)-1]
	for _, p := range polls[len(polls)-n:] {
		for i := range p {
			if p[i] != last[i] {
				return false
			}
		}
	}
	return true
}

// note tells the progress reporter which phase has begun.
func (c CompactConfig) note(phase string) {
	if c.Progress != nil {
		c.Progress.Update(phase, 0, 0)
	}
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
