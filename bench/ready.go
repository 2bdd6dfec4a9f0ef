package bench

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// ReadyConfig: how long a member takes to serve — typically one just
// (re)started. A linearizable Get of Key is sent to the single endpoint
// every Interval, each attempt bounded by Timeout, until one succeeds or
// Wait has passed. The time to ready is measured from Since (the moment the
// member's process was started, say) to the end of the first successful
// Get; it is Result.Duration and ReadyStats.Ready.
//
// gRPC's reconnect backoff is capped at Interval, so a member that starts
// listening is noticed within about Interval, not after gRPC's default
// backoff of a second or more.
type ReadyConfig struct {
	// Common.Endpoints must hold exactly one endpoint; Conns, Clients and
	// Rate are not used.
	Common
	// Since: the start of the measured interval [--since, Unix time in
	// nanoseconds]. Default: when the run starts.
	Since time.Time `json:"since"`
	// Key read [--key]. Default "/kelson-bench/ready".
	Key string `json:"key"`
	// Interval between attempts [--interval]. Default 20ms.
	Interval time.Duration `json:"interval"`
	// Timeout of one attempt [--timeout]. Default 500ms.
	Timeout time.Duration `json:"timeout"`
	// Wait: give up after this long from the start of the run [--wait].
	// Default 2m.
	Wait time.Duration `json:"wait"`
}

// ReadyStats are the ready workload's own numbers.
type ReadyStats struct {
	// Served is set when a Get succeeded; Ready is the time from Since to
	// its answer.
	Served bool
	Ready  time.Duration
	// Attempts counts the Gets sent, the successful one included.
	Attempts int64
}

func (c ReadyConfig) withDefaults() ReadyConfig {
	c.Common = c.Common.withDefaults(1)
	if c.Since.IsZero() {
		c.Since = time.Now()
	}
	if c.Key == "" {
		c.Key = "/kelson-bench/ready"
	}
	if c.Interval == 0 {
		c.Interval = 20 * time.Millisecond
	}
	if c.Timeout == 0 {
		c.Timeout = 500 * time.Millisecond
	}
	if c.Wait == 0 {
		c.Wait = 2 * time.Minute
	}
	return c
}

func (c ReadyConfig) validate() error {
	if len(c.Endpoints) != 1 {
		return fmt.Errorf("%w: ready takes exactly one endpoint, got %q", ErrBadConfig, c.Endpoints)
	}
	if c.Interval < 0 || c.Timeout <= 0 || c.Wait < 0 {
		return fmt.Errorf("%w: interval %v, timeout %v, wait %v: want positive durations",
			ErrBadConfig, c.Interval, c.Timeout, c.Wait)
	}
	return c.Common.validate()
}

func (c ReadyConfig) run(ctx context.Context) (*Result, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	defer finish(c.Progress)
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: c.Endpoints,
		Username:  c.User,
		Password:  c.Password,
		Logger:    zap.NewNop(),
		TLS:       c.TLS,
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: c.Interval, Multiplier: 1, MaxDelay: max(c.Interval, time.Millisecond)},
			MinConnectTimeout: c.Timeout,
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, c.Endpoints[0], err)
	}
	defer cli.Close()

	rec := newRecorder(c.Since, []kind{{"get", true}})
	s := rec.newSeries()
	st := &ReadyStats{}
	deadline := time.Now().Add(c.Wait)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		st.Attempts++
		if c.Progress != nil {
			c.Progress.Update("waiting", st.Attempts, 0)
		}
		began := time.Now()
		actx, cancel := context.WithTimeout(ctx, c.Timeout)
		_, err := cli.Get(actx, c.Key)
		cancel()
		if err == nil {
			s.observe(0, began, nil)
			st.Served, st.Ready = true, time.Since(c.Since)
			break
		}
		s.fail(err)
		sleepCtx(ctx, time.Until(began.Add(c.Interval)))
	}
	res := rec.result("ready", "requests", 0, time.Since(c.Since))
	if st.Served {
		res.Duration = st.Ready
	}
	res.Endpoints = c.Endpoints
	res.Interrupted = ctx.Err() != nil
	res.Ready = st
	return withConfig(res, c), nil
}
