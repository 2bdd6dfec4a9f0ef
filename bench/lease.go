package bench

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// LeaseChurnConfig: each operation is one lease's life: grant, one
// keep-alive, revoke. The headline latency is the whole cycle; the steps
// are reported as kinds "grant", "keepalive" and "revoke".
type LeaseChurnConfig struct {
	Common
	// Total number of lease cycles [--total]. Default 10000.
	Total int64 `json:"total"`
	// TTL of each lease in seconds [--ttl]. Default 10.
	TTL int64 `json:"ttl"`
}

func (c LeaseChurnConfig) withDefaults() LeaseChurnConfig {
	c.Common = c.Common.withDefaults(1)
	if c.Total == 0 {
		c.Total = 10000
	}
	if c.TTL == 0 {
		c.TTL = 10
	}
	return c
}

func (c LeaseChurnConfig) validate() error {
	return firstErr(c.Common.validate(), positive("total", c.Total), positive("TTL", c.TTL))
}

func (c LeaseChurnConfig) run(ctx context.Context) (*Result, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	const (
		kCycle = iota
		kGrant
		kKeepAlive
		kRevoke
	)
	kinds := []kind{{"cycle", true}, {"grant", false}, {"keepalive", false}, {"revoke", false}}
	res, err := runOps(ctx, c.Common, "lease-churn", "cycles", c.Total, kinds, 0, 0, func(w *worker, _ int64) {
		began := time.Now()
		g, err := w.cli.Grant(w.ctx, c.TTL)
		w.observe(kGrant, began, err)
		if err != nil {
			w.observeFailed(kCycle, began)
			return
		}
		t := time.Now()
		_, err = w.cli.KeepAliveOnce(w.ctx, g.ID)
		w.observe(kKeepAlive, t, err)
		t = time.Now()
		_, rerr := w.cli.Revoke(w.ctx, clientv3.LeaseID(g.ID))
		w.observe(kRevoke, t, rerr)
		if err != nil || rerr != nil {
			w.observeFailed(kCycle, began)
		} else {
			w.observe(kCycle, began, nil)
		}
	})
	return withConfig(res, c), err
}
