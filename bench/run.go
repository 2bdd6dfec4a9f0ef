package bench

import (
	"context"
	"time"
)

// Workload is a benchmark's configuration: PutConfig, RangeConfig,
// TxnPutConfig, TxnMixedConfig, WatchConfig, WatchLatencyConfig,
// LeaseChurnConfig, K8sMixConfig, CompactConfig, ReadyConfig, or an API
// workload (APICreateConfig, APIGetConfig, APIListConfig, APIWatchConfig,
// APIMixConfig). Run runs it.
type Workload interface {
	// run fills in the defaults, validates and runs the workload.
	run(ctx context.Context) (*Result, error)
}

// Run runs workload w against the endpoints it names and returns its
// result. Request failures do not stop a run: they are counted in
// Result.Errors. Run fails only on a bad configuration (ErrBadConfig), when
// it cannot reach the endpoints (ErrUnreachable, ErrNoLeader), or, for an
// API workload, when it cannot make its namespace or preload its pods.
// Cancelling ctx ends the run early with the numbers so far and
// Result.Interrupted set.
func Run(ctx context.Context, w Workload) (*Result, error) {
	return w.run(ctx)
}

// runOps runs total operations of one op-based workload (unit names them
// in the report): dial, drive, digest.
func runOps(ctx context.Context, c Common, name, unit string, total int64, kinds []kind, keySize, valSize int,
	op func(w *worker, i int64), counters ...string) (*Result, error) {
	defer finish(c.Progress)
	cs, err := dial(ctx, c)
	if err != nil {
		return nil, err
	}
	defer cs.Close()
	rec := newRecorder(time.Now(), kinds, counters...)
	begin, end := drive(ctx, c, cs, rec, name, total, keySize, valSize, op)
	res := rec.result(name, unit, begin, end)
	res.Endpoints = cs.endpoints
	res.Interrupted = ctx.Err() != nil
	return res, nil
}
