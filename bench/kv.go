package bench

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// PutConfig: each request puts one key of the key space.
type PutConfig struct {
	Common
	Keys
	// Total number of puts [--total]. Default 10000.
	Total int64 `json:"total"`
	// ValSize: bytes per value [--val-size]. Default 8.
	ValSize int `json:"val_size"`
}

func (c PutConfig) withDefaults() PutConfig {
	c.Common = c.Common.withDefaults(1)
	c.Keys = c.Keys.withDefaults()
	if c.Total == 0 {
		c.Total = 10000
	}
	if c.ValSize == 0 {
		c.ValSize = 8
	}
	return c
}

func (c PutConfig) validate() error {
	return firstErr(c.Common.validate(), c.Keys.validate(), positive("total", c.Total), positive("value size", int64(c.ValSize)))
}

func (c PutConfig) run(ctx context.Context) (*Result, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	res, err := runOps(ctx, c.Common, "put", "requests", c.Total, []kind{{"put", true}}, c.KeySize, c.ValSize,
		func(w *worker, i int64) {
			key := string(c.key(w.key, c.pick(i, w.rng)))
			began := time.Now()
			_, err := w.cli.Put(w.ctx, key, string(w.val))
			w.observe(0, began, err)
		})
	return withConfig(res, c), err
}

// RangeConfig: each request reads one key of the key space, or the range
// [Key, End) when Key is set.
type RangeConfig struct {
	Common
	Keys
	// Key, End: a fixed range to read instead of a key of the key space;
	// End "" reads the single key Key [kelson bench range KEY [END]].
	// Default "": keys of the key space, as `put` writes them.
	Key string `json:"key,omitempty"`
	End string `json:"end,omitempty"`
	// Limit caps the keys returned per request; 0 is no limit [--limit].
	Limit int64 `json:"limit,omitempty"`
	// CountOnly asks for the count only [--count-only]. Default false.
	CountOnly bool `json:"count_only,omitempty"`
	// Consistency: Linearizable or Serializable [--consistency].
	// Default Linearizable.
	Consistency Consistency `json:"consistency"`
	// Total number of reads [--total]. Default 10000.
	Total int64 `json:"total"`
}

func (c RangeConfig) withDefaults() RangeConfig {
	c.Common = c.Common.withDefaults(1)
	c.Keys = c.Keys.withDefaults()
	if c.Consistency == "" {
		c.Consistency = Linearizable
	}
	if c.Total == 0 {
		c.Total = 10000
	}
	return c
}

func (c RangeConfig) validate() error {
	var limitErr error
	if c.Limit < 0 {
		limitErr = fmt.Errorf("%w: limit %d is negative", ErrBadConfig, c.Limit)
	}
	return firstErr(c.Common.validate(), c.Keys.validate(), c.Consistency.validate(), positive("total", c.Total), limitErr)
}

// readOpts are the clientv3 options of a read of [key, end).
func readOpts(end string, limit int64, countOnly bool, cons Consistency) []clientv3.OpOption {
	var opts []clientv3.OpOption
	if end != "" {
		opts = append(opts, clientv3.WithRange(end))
	}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(limit))
	}
	if countOnly {
		opts = append(opts, clientv3.WithCountOnly())
	}
	if cons.serializable() {
		opts = append(opts, clientv3.WithSerializable())
	}
	return opts
}

func (c RangeConfig) run(ctx context.Context) (*Result, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	opts := readOpts(c.End, c.Limit, c.CountOnly, c.Consistency)
	res, err := runOps(ctx, c.Common, "range", "requests", c.Total, []kind{{"range", true}}, c.KeySize, 0,
		func(w *worker, i int64) {
			key := c.Key
			if key == "" {
				key = string(c.key(w.key, c.pick(i, w.rng)))
			}
			began := time.Now()
			_, err := w.cli.Get(w.ctx, key, opts...)
			w.observe(0, began, err)
		})
	return withConfig(res, c), err
}

// TxnPutConfig: each request is a transaction of TxnOps puts to distinct
// keys of the key space.
type TxnPutConfig struct {
	Common
	Keys
	// TxnOps: puts per transaction [--txn-ops]. At most KeySpaceSize.
	// Default 1.
	TxnOps int `json:"txn_ops"`
	// Total number of transactions [--total]. Default 10000.
	Total int64 `json:"total"`
	// ValSize: bytes per value [--val-size]. Default 8.
	ValSize int `json:"val_size"`
}

func (c TxnPutConfig) withDefaults() TxnPutConfig {
	c.Common = c.Common.withDefaults(1)
	c.Keys = c.Keys.withDefaults()
	if c.TxnOps == 0 {
		c.TxnOps = 1
	}
	if c.Total == 0 {
		c.Total = 10000
	}
	if c.ValSize == 0 {
		c.ValSize = 8
	}
	return c
}

func (c TxnPutConfig) validate() error {
	var opsErr error
	if int64(c.TxnOps) > c.KeySpaceSize {
		opsErr = fmt.Errorf("%w: %d puts per transaction need as many distinct keys but the key space size is %d: raise the key space size",
			ErrBadConfig, c.TxnOps, c.KeySpaceSize)
	}
	return firstErr(c.Common.validate(), c.Keys.validate(), positive("txn ops", int64(c.TxnOps)), opsErr,
		positive("total", c.Total), positive("value size", int64(c.ValSize)))
}

func (c TxnPutConfig) run(ctx context.Context) (*Result, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	res, err := runOps(ctx, c.Common, "txn-put", "requests", c.Total, []kind{{"txn", true}}, c.KeySize, c.ValSize,
		func(w *worker, i int64) {
			first := c.pick(i*int64(c.TxnOps), w.rng)
			ops := make([]clientv3.Op, c.TxnOps)
			for j := range ops {
				ops[j] = clientv3.OpPut(string(c.key(w.key, (first+int64(j))%c.KeySpaceSize)), string(w.val))
			}
			began := time.Now()
			_, err := w.cli.Txn(w.ctx).Then(ops...).Commit()
			w.observe(0, began, err)
		})
	return withConfig(res, c), err
}

// TxnMixedConfig: each request is a transaction that either reads or
// writes, at RWRatio reads per write.
type TxnMixedConfig struct {
	Common
	Keys
	// Key, End: a fixed range for the reads instead of keys of the key
	// space [kelson bench txn-mixed KEY [END]]. Default "".
	Key string `json:"key,omitempty"`
	End string `json:"end,omitempty"`
	// RWRatio: reads per write [--rw-ratio]. Default 1.
	RWRatio float64 `json:"rw_ratio"`
	// Limit caps the keys a read returns; 0 is no limit [--limit].
	Limit int64 `json:"limit,omitempty"`
	// Consistency of the reads [--consistency]. Default Linearizable.
	Consistency Consistency `json:"consistency"`
	// Total number of transactions [--total]. Default 10000.
	Total int64 `json:"total"`
	// ValSize: bytes per value [--val-size]. Default 8.
	ValSize int `json:"val_size"`
}

func (c TxnMixedConfig) withDefaults() TxnMixedConfig {
	c.Common = c.Common.withDefaults(1)
	c.Keys = c.Keys.withDefaults()
	if c.RWRatio == 0 {
		c.RWRatio = 1
	}
	if c.Consistency == "" {
		c.Consistency = Linearizable
	}
	if c.Total == 0 {
		c.Total = 10000
	}
	if c.ValSize == 0 {
		c.ValSize = 8
	}
	return c
}

func (c TxnMixedConfig) validate() error {
	var ratioErr error
	if c.RWRatio < 0 {
		ratioErr = fmt.Errorf("%w: read/write ratio %g is negative", ErrBadConfig, c.RWRatio)
	}
	return firstErr(c.Common.validate(), c.Keys.validate(), c.Consistency.validate(), ratioErr,
		positive("total", c.Total), positive("value size", int64(c.ValSize)))
}

func (c TxnMixedConfig) run(ctx context.Context) (*Result, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	readFrac := c.RWRatio / (c.RWRatio + 1)
	opts := readOpts(c.End, c.Limit, false, c.Consistency)
	res, err := runOps(ctx, c.Common, "txn-mixed", "requests", c.Total, []kind{{"read", true}, {"write", true}}, c.KeySize, c.ValSize,
		func(w *worker, i int64) {
			key := string(c.key(w.key, c.pick(i, w.rng)))
			var op clientv3.Op
			k := uint8(1)
			if w.rng.Float64() < readFrac {
				k = 0
				if c.Key != "" {
					key = c.Key
				}
				op = clientv3.OpGet(key, opts...)
			} else {
				op = clientv3.OpPut(key, string(w.val))
			}
			began := time.Now()
			_, err := w.cli.Txn(w.ctx).Then(op).Commit()
			w.observe(k, began, err)
		})
	return withConfig(res, c), err
}

// withConfig records the effective configuration in res (nil-safe).
func withConfig(res *Result, cfg any) *Result {
	if res != nil {
		res.Config = cfg
	}
	return res
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
