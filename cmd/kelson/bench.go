package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kelson-dev/kelson/bench"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const benchLong = `Benchmark an etcd v3 endpoint — a Kelson store or etcd — through etcd's Go
client. Each subcommand is one workload; flags shared with etcd's benchmark
tool keep its names (--endpoints, --conns, --clients, --total, --key-size,
--val-size, --key-space-size, --sequential-keys, --consistency,
--target-leader, --rate).

The report goes to stdout: a summary (throughput; latency mean, p50, p90,
p99, p99.9, max), a per-kind table where a workload has several kinds, and a
text histogram; --json prints it as JSON instead. --out writes a
self-contained chart (.html or .svg) of latency over time and the histogram.
A progress bar is drawn on stderr when stderr is a terminal.

"kelson bench api" benchmarks a Kubernetes API server instead, through
client-go (see kelson bench api --help); "kelson bench scheduler" and "deploy"
the controllers and scheduler with simulated nodes; "kelson bench pods" real
pods on a node agent of this machine, in network namespaces of its own.

Request errors are counted and reported, never retried. The exit code is 1
if every request failed or a watch workload saw events missing, duplicated
or out of order; 2 for a bad flag.`

const benchExample = `  # 100,000 puts from 1000 clients over 100 connections, 256-byte values
  kelson bench put --endpoints 127.0.0.1:2379 --conns 100 --clients 1000 \
    --total 100000 --key-space-size 100000 --val-size 256

  # serializable reads of what put wrote, machine-readable
  kelson bench range --consistency s --clients 1000 --conns 100 --key-space-size 100000 --json

  # 10,000 watchers on one key over 10 streams, 100 puts; chart to a file
  kelson bench watch --watchers 10000 --streams 10 --puts 100 --out watch.html

  # put p99 before and during the compaction of 1M keys of 1 KB, overwritten once
  kelson bench compact --endpoints 127.0.0.1:2379 --conns 10 --keys 1000000 --rate 1000

  # time until a member started just now serves a linearizable read
  kelson bench ready --endpoints 127.0.0.1:2379 --since "$(date +%s%N)"`

// benchOptions are the flags shared by every bench subcommand.
type benchOptions struct {
	common   bench.Common
	user     string // name:password
	jsonOut  bool
	out      string
	progress bool
	tls      benchTLS
}

func newBenchCommand() *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:     "bench <workload> [flags]",
		Short:   "Benchmark an etcd v3 endpoint (Kelson or etcd)",
		Long:    benchLong,
		Example: benchExample,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown workload %q for \"kelson bench\"; see kelson bench --help", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	f := cmd.PersistentFlags()
	f.SortFlags = false
	f.StringSliceVar(&o.common.Endpoints, "endpoints", nil, "client addresses of the members, host:port or URLs, comma-separated (default 127.0.0.1:2379)")
	f.IntVar(&o.common.Conns, "conns", 0, "gRPC connections; connection i dials endpoint i mod the number of endpoints (default 1)")
	f.IntVar(&o.common.Clients, "clients", 0, "concurrent clients, each waiting for its answer before its next request (the putters in the watch and compact workloads) (default 1; compact: 16)")
	f.BoolVar(&o.common.TargetLeader, "target-leader", false, "send every request to the leader only")
	f.DurationVar(&o.common.DialTimeout, "dial-timeout", 0, "how long to wait for each endpoint to answer before giving up (default 5s)")
	f.StringVar(&o.user, "user", "", "name:password to authenticate as, when the store has auth enabled")
	f.Uint64Var(&o.common.Seed, "seed", 0, "seed of the random key, value and operation choices (0: from the clock; the seed used is in --json's config)")
	f.BoolVar(&o.jsonOut, "json", false, "print the result as JSON instead of text")
	f.StringVar(&o.out, "out", "", "also write a self-contained chart to this file: .html or .svg")
	f.BoolVar(&o.progress, "progress", true, "draw a progress bar on stderr when it is a terminal")
	o.tls.bind(f)

	cmd.AddCommand(
		benchPutCommand(o), benchRangeCommand(o), benchTxnPutCommand(o), benchTxnMixedCommand(o),
		benchWatchCommand(o), benchWatchLatencyCommand(o), benchLeaseChurnCommand(o), benchK8sMixCommand(o),
		benchCompactCommand(o), benchReadyCommand(o), benchAPICommand(o), benchSchedulerCommand(o), benchDeployCommand(o),
		benchPodsCommand(o),
	)
	return cmd
}

// benchSub builds a workload subcommand: parse the arguments with
// positional, build the workload, run it and report.
func benchSub(o *benchOptions, use, short, long string, maxArgs int,
	build func(args []string) (bench.Workload, error)) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > maxArgs {
				if maxArgs == 0 {
					return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args)
				}
				return usagef("%s takes at most %d arguments, got %q", cmd.CommandPath(), maxArgs, args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.common.TLS, err = o.tls.config(); err != nil {
				return err
			}
			w, err := build(args)
			if err != nil {
				return err
			}
			return runBench(cmd, o, w)
		},
	}
}

// chartWriter returns the chart writer for the --out file's extension.
func chartWriter(path string) (func(io.Writer, *bench.Result) error, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".html", ".htm":
		return bench.WriteHTML, nil
	case ".svg":
		return bench.WriteSVG, nil
	}
	return nil, usagef("--out %q: want a file name ending in .html or .svg", path)
}

func runBench(cmd *cobra.Command, o *benchOptions, w bench.Workload) error {
	var writeChart func(io.Writer, *bench.Result) error
	if o.out != "" {
		var err error
		if writeChart, err = chartWriter(o.out); err != nil {
			return err
		}
	}
	res, err := bench.Run(cmd.Context(), w)
	if errors.Is(err, bench.ErrBadConfig) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	stdout := cmd.OutOrStdout()
	if o.jsonOut {
		err = bench.WriteJSON(stdout, res)
	} else {
		err = bench.WriteText(stdout, res)
	}
	if err != nil {
		return err
	}
	if writeChart != nil {
		f, err := os.Create(o.out)
		if err != nil {
			return fmt.Errorf("write the chart: %w", err)
		}
		err = writeChart(f, res)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write the chart %s: %w", o.out, err)
		}
	}
	if res.Watch != nil && res.Watch.ViolationCount() > 0 {
		return fmt.Errorf("%d watch delivery violations (events missing, duplicated, reordered or unexpected; see the report)",
			res.Watch.ViolationCount())
	}
	if res.Ready != nil && !res.Ready.Served {
		return fmt.Errorf("%s did not serve a linearizable read after %d attempts", strings.Join(res.Endpoints, ","), res.Ready.Attempts)
	}
	if res.Ops == 0 && res.Errors > 0 {
		msg := ""
		if len(res.TopErrors) > 0 {
			msg = ": " + res.TopErrors[0].Message
		}
		return fmt.Errorf("every request failed%s", msg)
	}
	return nil
}

// commonFor returns the shared settings with the subcommand's rate and, when
// stderr is a terminal, a progress bar.
func (o *benchOptions) commonFor(cmd *cobra.Command, rate float64) bench.Common {
	c := o.common
	c.Rate = rate
	c.User, c.Password, _ = strings.Cut(o.user, ":")
	if o.progress && isTerminal(cmd.ErrOrStderr()) {
		c.Progress = bench.NewProgressBar(cmd.ErrOrStderr())
	}
	return c
}

func addKeyFlags(f *pflag.FlagSet, k *bench.Keys) {
	f.IntVar(&k.KeySize, "key-size", 0, "bytes per key (keys are zero-padded decimal numbers) (default 8)")
	f.Int64Var(&k.KeySpaceSize, "key-space-size", 0, "number of distinct keys (default 1)")
	f.BoolVar(&k.SequentialKeys, "sequential-keys", false, "use keys in order (request i: key i mod key-space-size) instead of at random")
}

// addLoadFlags binds --total and --rate, whose help names what is counted.
func addLoadFlags(f *pflag.FlagSet, total *int64, rate *float64, totalNoun, rateNoun string) {
	f.Int64Var(total, "total", 0, "number of "+totalNoun+" (default 10000)")
	f.Float64Var(rate, "rate", 0, rateNoun+" per second over all clients (0: no limit)")
}

func addConsistencyFlag(f *pflag.FlagSet, s *string) {
	f.StringVar(s, "consistency", "", "read consistency: l (linearizable) or s (serializable) (default l)")
}

func parseConsistency(s string) (bench.Consistency, error) {
	c, err := bench.ParseConsistency(s)
	if err != nil {
		return "", usagef("--consistency %q: want l (linearizable) or s (serializable)", s)
	}
	return c, nil
}

func benchPutCommand(o *benchOptions) *cobra.Command {
	var c bench.PutConfig
	var rate float64
	var cmd *cobra.Command
	cmd = benchSub(o, "put", "Put keys of the key space", "Each request puts one key of the key space (random, or in order with --sequential-keys).", 0,
		func([]string) (bench.Workload, error) {
			c.Common = o.commonFor(cmd, rate)
			return c, nil
		})
	f := cmd.Flags()
	addLoadFlags(f, &c.Total, &rate, "puts", "puts")
	addKeyFlags(f, &c.Keys)
	f.IntVar(&c.ValSize, "val-size", 0, "bytes per value (default 8)")
	return cmd
}

func benchRangeCommand(o *benchOptions) *cobra.Command {
	var c bench.RangeConfig
	var cons string
	var rate float64
	var cmd *cobra.Command
	cmd = benchSub(o, "range [key [end]]", "Read keys of the key space, or a fixed range",
		`Each request reads one key of the key space (as put writes them), or the
range [key, end) when key is given (just key when end is not).`, 2,
		func(args []string) (bench.Workload, error) {
			var err error
			if c.Consistency, err = parseConsistency(cons); err != nil {
				return nil, err
			}
			c.Key, c.End = rangeArgs(args)
			c.Common = o.commonFor(cmd, rate)
			return c, nil
		})
	f := cmd.Flags()
	addLoadFlags(f, &c.Total, &rate, "reads", "reads")
	addKeyFlags(f, &c.Keys)
	addConsistencyFlag(f, &cons)
	f.Int64Var(&c.Limit, "limit", 0, "most keys returned per read (0: no limit)")
	f.BoolVar(&c.CountOnly, "count-only", false, "ask for the count of keys only")
	return cmd
}

func benchTxnPutCommand(o *benchOptions) *cobra.Command {
	var c bench.TxnPutConfig
	var rate float64
	var cmd *cobra.Command
	cmd = benchSub(o, "txn-put", "Transactions of puts", "Each request is one transaction of --txn-ops puts to distinct keys of the key space.", 0,
		func([]string) (bench.Workload, error) {
			c.Common = o.commonFor(cmd, rate)
			return c, nil
		})
	f := cmd.Flags()
	addLoadFlags(f, &c.Total, &rate, "transactions", "transactions")
	addKeyFlags(f, &c.Keys)
	f.IntVar(&c.ValSize, "val-size", 0, "bytes per value (default 8)")
	f.IntVar(&c.TxnOps, "txn-ops", 0, "puts per transaction (at most --key-space-size) (default 1)")
	return cmd
}

func benchTxnMixedCommand(o *benchOptions) *cobra.Command {
	var c bench.TxnMixedConfig
	var cons string
	var rate float64
	var cmd *cobra.Command
	cmd = benchSub(o, "txn-mixed [key [end]]", "Transactions that read or write",
		`Each request is a transaction that reads (a key of the key space, or the
range [key, end) when given) or writes (a key of the key space), at
--rw-ratio reads per write. Reads and writes are reported as kinds.`, 2,
		func(args []string) (bench.Workload, error) {
			var err error
			if c.Consistency, err = parseConsistency(cons); err != nil {
				return nil, err
			}
			c.Key, c.End = rangeArgs(args)
			c.Common = o.commonFor(cmd, rate)
			return c, nil
		})
	f := cmd.Flags()
	addLoadFlags(f, &c.Total, &rate, "transactions", "transactions")
	addKeyFlags(f, &c.Keys)
	f.IntVar(&c.ValSize, "val-size", 0, "bytes per value (default 8)")
	f.Float64Var(&c.RWRatio, "rw-ratio", 0, "reads per write (default 1)")
	addConsistencyFlag(f, &cons)
	f.Int64Var(&c.Limit, "limit", 0, "most keys returned per read (0: no limit)")
	return cmd
}

func benchWatchCommand(o *benchOptions) *cobra.Command {
	var c bench.WatchConfig
	var rate float64
	var cmd *cobra.Command
	cmd = benchSub(o, "watch", "Watch fan-out: many watchers on one key",
		`--watchers watchers watch one key over --streams gRPC watch streams (stream
s on connection s mod --conns); then --puts puts are made to the key by
--clients clients at --rate puts per second. Reports each event's delivery
latency (from just before its put was sent to its receipt by the watcher),
events per second, and checks that every watcher received every event
exactly once and in revision order.`, 0,
		func([]string) (bench.Workload, error) {
			c.Common = o.commonFor(cmd, rate)
			return c, nil
		})
	cmd.Aliases = []string{"watch-fanout"}
	f := cmd.Flags()
	f.IntVar(&c.Watchers, "watchers", 0, "watchers on the key (default 1000)")
	f.IntVar(&c.Streams, "streams", 0, "gRPC watch streams the watchers share (default 10)")
	f.Int64Var(&c.Puts, "puts", 0, "puts to the key (default 100)")
	f.Float64Var(&rate, "rate", 0, "puts per second (0: no limit)")
	f.StringVar(&c.Key, "key", "", "the key watched and written (default /kelson-bench/watch)")
	f.IntVar(&c.ValSize, "val-size", 0, "bytes per value (default 8)")
	f.DurationVar(&c.DrainTimeout, "drain-timeout", 0, "how long to wait after the last put for every event to arrive (default 30s)")
	return cmd
}

func benchWatchLatencyCommand(o *benchOptions) *cobra.Command {
	var c bench.WatchLatencyConfig
	var rate float64
	var cmd *cobra.Command
	cmd = benchSub(o, "watch-latency", "Put-to-event latency of one watcher",
		`One watcher on a key; --puts puts to it at --rate puts per second. Reports the
latency from just before each put is sent to the receipt of its event.`, 0,
		func([]string) (bench.Workload, error) {
			c.Common = o.commonFor(cmd, rate)
			return c, nil
		})
	f := cmd.Flags()
	f.Int64Var(&c.Puts, "puts", 0, "puts to the key (default 1000)")
	f.Float64Var(&rate, "rate", 0, "puts per second (default 100)")
	f.StringVar(&c.Key, "key", "", "the key watched and written (default /kelson-bench/watch-latency)")
	f.IntVar(&c.ValSize, "val-size", 0, "bytes per value (default 8)")
	f.DurationVar(&c.DrainTimeout, "drain-timeout", 0, "how long to wait after the last put for every event to arrive (default 30s)")
	return cmd
}

func benchLeaseChurnCommand(o *benchOptions) *cobra.Command {
	var c bench.LeaseChurnConfig
	var rate float64
	var cmd *cobra.Command
	cmd = benchSub(o, "lease-churn", "Grant a lease, keep it alive once, revoke it",
		`Each operation is one lease's life: grant, one keep-alive, revoke. The
headline latency is the whole cycle; the steps are reported as kinds.`, 0,
		func([]string) (bench.Workload, error) {
			c.Common = o.commonFor(cmd, rate)
			return c, nil
		})
	f := cmd.Flags()
	addLoadFlags(f, &c.Total, &rate, "lease cycles", "cycles")
	f.Int64Var(&c.TTL, "ttl", 0, "lease TTL in seconds (default 10)")
	return cmd
}

func benchK8sMixCommand(o *benchOptions) *cobra.Command {
	var c bench.K8sMixConfig
	var cons, mix string
	var rate float64
	var cmd *cobra.Command
	cmd = benchSub(o, "k8s-mix", "A Kubernetes apiserver's load: objects under /registry/",
		`Objects of 1-5 KB (JSON) under /registry/<resource>/<namespace>/<name>:
--objects are preloaded (not measured), then --total requests drawn by --mix:
create (a transaction that creates only if absent), update (a transaction
comparing the last known revision, as the apiserver's optimistic
concurrency does), get (one object), list (a namespace, by prefix, at most
--list-limit). --watchers watch /registry/<resource>/ prefixes and report
event delivery latency as the kind "watch".`, 0,
		func([]string) (bench.Workload, error) {
			var err error
			if c.Consistency, err = parseConsistency(cons); err != nil {
				return nil, err
			}
			if c.Mix, err = bench.ParseK8sMix(mix); err != nil {
				return nil, usageError{err}
			}
			c.Common = o.commonFor(cmd, rate)
			return c, nil
		})
	f := cmd.Flags()
	f.Int64Var(&c.Total, "total", 0, "requests in the measured phase (default 10000)")
	f.Float64Var(&rate, "rate", 0, "requests per second over all clients (0: no limit)")
	f.StringSliceVar(&c.Resources, "resources", nil, "resource names (default pods,configmaps,secrets,services)")
	f.IntVar(&c.Namespaces, "namespaces", 0, "namespaces per resource (default 10)")
	f.IntVar(&c.Objects, "objects", 0, "objects created before measuring (default 1000)")
	f.IntVar(&c.MinObjectSize, "min-object-size", 0, "smallest object in bytes (default 1024)")
	f.IntVar(&c.MaxObjectSize, "max-object-size", 0, "largest object in bytes (default 5120, or --min-object-size if larger)")
	f.StringVar(&mix, "mix", "", "relative weights of the request kinds (default create=10,update=30,get=40,list=20)")
	f.Int64Var(&c.ListLimit, "list-limit", 0, "most objects a list returns (default 500)")
	f.IntVar(&c.Watchers, "watchers", 0, "watchers on /registry/<resource>/ prefixes, round-robin over --resources (0: one per resource; -1: none)")
	addConsistencyFlag(f, &cons)
	return cmd
}

// rangeArgs reads the optional [key [end]] arguments of range and txn-mixed.
func rangeArgs(args []string) (key, end string) {
	if len(args) > 0 {
		key = args[0]
	}
	if len(args) > 1 {
		end = args[1]
	}
	return key, end
}

func benchCompactCommand(o *benchOptions) *cobra.Command {
	var c bench.CompactConfig
	var rate float64
	var cmd *cobra.Command
	cmd = benchSub(o, "compact", "Put latency during the compaction of a large history; space given back",
		`Writes --keys keys of --val-size bytes (--load-txn-ops puts per transaction,
--load-clients clients), writes --overwrite of them again, then puts random
keys at --rate from --clients clients: for --baseline, then while a
compaction of the whole history (Compact at the current revision, physical,
sent to the leader) runs, then for --after. Reports the put p99 before and
during the compaction and their ratio, the compaction's duration, and each
member's reported DbSize before the compaction and once it has stopped
shrinking (at most --settle). No defragmentation is requested. Puts are
reported as kinds "baseline", "compacting" and "after" by the phase in which
they were sent.`, 0,
		func([]string) (bench.Workload, error) {
			c.Common = o.commonFor(cmd, rate)
			return c, nil
		})
	f := cmd.Flags()
	f.Int64Var(&c.Keys, "keys", 0, "distinct keys written before the compaction (default 1000000)")
	f.IntVar(&c.KeySize, "key-size", 0, "bytes per key (default 8)")
	f.IntVar(&c.ValSize, "val-size", 0, "bytes per value (default 1024)")
	f.Float64Var(&c.Overwrite, "overwrite", 0, "fraction of the keys written a second time, history for the compaction to remove; negative: none (default 1)")
	f.IntVar(&c.LoadClients, "load-clients", 0, "concurrent clients writing the keys (default 100)")
	f.IntVar(&c.LoadTxnOps, "load-txn-ops", 0, "puts per transaction while writing the keys (default 16)")
	f.Float64Var(&rate, "rate", 0, "measured puts per second over all --clients, before, during and after the compaction (default 1000)")
	f.DurationVar(&c.Baseline, "baseline", 0, "how long puts are measured before the compaction (default 10s)")
	f.DurationVar(&c.After, "after", 0, "how long puts go on after the compaction (default 2s)")
	f.DurationVar(&c.CompactTimeout, "compact-timeout", 0, "longest wait for the compaction (default 10m)")
	f.DurationVar(&c.Settle, "settle", 0, "longest wait for the members' DbSize to stop shrinking; negative: none (default 30s)")
	return cmd
}

func benchReadyCommand(o *benchOptions) *cobra.Command {
	var c bench.ReadyConfig
	var since int64
	var cmd *cobra.Command
	cmd = benchSub(o, "ready", "Time until a member serves a linearizable read",
		`Sends a linearizable Get to the one --endpoints member every --interval (each
bounded by --timeout) until one succeeds, and reports the time from --since
to that answer: give --since the moment the member's process was started
(Unix nanoseconds, as date +%s%N prints) to measure its start-up. Exits 1
when the member did not serve within --wait.`, 0,
		func([]string) (bench.Workload, error) {
			c.Common = o.commonFor(cmd, 0)
			if since != 0 {
				c.Since = time.Unix(0, since)
			}
			return c, nil
		})
	f := cmd.Flags()
	f.Int64Var(&since, "since", 0, "start of the measured time, Unix nanoseconds (default: now)")
	f.StringVar(&c.Key, "key", "", "the key read (default /kelson-bench/ready)")
	f.DurationVar(&c.Interval, "interval", 0, "time between attempts (default 20ms)")
	f.DurationVar(&c.Timeout, "timeout", 0, "longest wait for one attempt (default 500ms)")
	f.DurationVar(&c.Wait, "wait", 0, "give up after this long (default 2m)")
	return cmd
}
