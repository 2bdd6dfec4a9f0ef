package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/kelson-dev/kelson/raftnode"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const storeLong = `Run one member of an etcd-compatible store: the etcd v3 gRPC API (KV, Watch,
Lease, Cluster, Maintenance) for clients, raft replication with the other members.

The flags are etcd's, with etcd's meaning and units, so an etcd command line
works with the binary name changed. Flags left unset take the defaults shown.
URL lists are comma-separated. The member stops gracefully on SIGINT or
SIGTERM; a second signal exits at once.

Differences from etcd: Maintenance.Defragment is accepted and does nothing,
because Pebble, the storage engine, reclaims space by itself and needs no
defragmentation. Snapshots (etcdctl snapshot save) are in Kelson's format, not
bbolt's: restore them with "kelson snapshot restore" (etcdutl's flags), not
etcdutl. Go's collector runs at GOGC=200 unless GOGC is set: some memory for
less CPU on the write path.`

const storeExample = `  # one member on localhost
  kelson store --name a --data-dir /var/lib/kelson

  # the first of three members
  kelson store --name a \
    --listen-client-urls http://10.0.0.1:2379 --advertise-client-urls http://10.0.0.1:2379 \
    --listen-peer-urls http://10.0.0.1:2380 --initial-advertise-peer-urls http://10.0.0.1:2380 \
    --initial-cluster a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,c=http://10.0.0.3:2380

  # TLS for clients and peers, client certificates required (etcdctl --cacert --cert --key)
  kelson store --name a --listen-client-urls https://10.0.0.1:2379 --advertise-client-urls https://10.0.0.1:2379 \
    --cert-file a.crt --key-file a.key --trusted-ca-file ca.crt --client-cert-auth \
    --listen-peer-urls https://10.0.0.1:2380 --initial-advertise-peer-urls https://10.0.0.1:2380 \
    --peer-cert-file a.crt --peer-key-file a.key --peer-trusted-ca-file ca.crt --peer-client-cert-auth \
    --initial-cluster a=https://10.0.0.1:2380,b=https://10.0.0.2:2380,c=https://10.0.0.3:2380`

// newStoreCommand is `kelson store`: etcd's flags bound onto a
// raftnode.Config, then run(ctx, cfg) with the command's context (cancelled
// on SIGINT/SIGTERM by main).
func newStoreCommand(run func(context.Context, raftnode.Config) error) *cobra.Command {
	var (
		member memberFlags
		proc   processFlags
	)
	cmd := &cobra.Command{
		Use:     "store [flags]",
		Short:   "Run an etcd-compatible store member",
		Long:    storeLong,
		Example: storeExample,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("kelson store takes no arguments, got %q (flags are --flag value or --flag=value)", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := member.config()
			if err != nil {
				return err
			}
			log, stop, err := proc.start(cmd.ErrOrStderr(), &cfg)
			if err != nil {
				return err
			}
			defer stop()
			cfg.Logger = log
			setDefaultGCPercent()
			return run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	member.bind(f, true)
	proc.bind(f)
	return cmd
}

// memberFlags are etcd's flags of a store member, bound onto a
// raftnode.Config. `kelson store` and `kelson server` share them, so both
// take the same clustering command lines.
type memberFlags struct {
	cfg                        raftnode.Config
	heartbeatMS, electionMS    millis
	maxRequestBytes, maxTxnOps uint
	auth                       authFlags
	// names of the flags bound, in order (for `kelson server
	// --etcd-servers`, which runs no member and refuses them).
	names []string
}

// bind adds the flags to f; withDataDir adds etcd's --data-dir too
// (`kelson server` has a --data-dir of its own meaning).
func (m *memberFlags) bind(f *pflag.FlagSet, withDataDir bool) {
	before := map[string]bool{}
	f.VisitAll(func(fl *pflag.Flag) { before[fl.Name] = true })
	c := &m.cfg
	f.StringVar(&c.Name, "name", "", `human-readable name of this member (default "default")`)
	if withDataDir {
		f.StringVar(&c.DataDir, "data-dir", "", `directory of the store and the raft log (default "<name>.kelson")`)
	}
	f.StringSliceVar(&c.ListenClientURLs, "listen-client-urls", nil, "URLs to serve clients on (default http://127.0.0.1:2379)")
	f.StringSliceVar(&c.AdvertiseClientURLs, "advertise-client-urls", nil, "client URLs of this member as clients reach them (default: --listen-client-urls)")
	f.StringSliceVar(&c.ListenPeerURLs, "listen-peer-urls", nil, "URLs to serve the other members on (default http://127.0.0.1:2380)")
	f.StringSliceVar(&c.InitialAdvertisePeerURLs, "initial-advertise-peer-urls", nil, "peer URLs of this member as the others reach them (default: --listen-peer-urls)")
	f.StringVar(&c.InitialCluster, "initial-cluster", "", `bootstrap members, name=peerURL,... (default "<name>=<first advertise peer URL>")`)
	f.StringVar(&c.InitialClusterState, "initial-cluster-state", "", `"new" to bootstrap a cluster, "existing" to join a running one (default "new")`)
	f.StringVar(&c.InitialClusterToken, "initial-cluster-token", "", `token that makes cluster IDs unique across clusters (default "kelson-cluster")`)
	f.StringVar(&c.AutoCompactionMode, "auto-compaction-mode", "", `how --auto-compaction-retention counts: "periodic" (time) or "revision" (default "periodic")`)
	f.StringVar(&c.AutoCompactionRetention, "auto-compaction-retention", "", `history to keep: periodic, a duration (1h, 30m) or hours (1); revision, revisions (1000). The leader compacts; 0 is off (default "0")`)
	f.Uint64Var(&c.SnapshotCount, "snapshot-count", 0, "applied entries between raft snapshots (default 10000)")
	f.Var(&m.heartbeatMS, "heartbeat-interval", "raft heartbeat interval in milliseconds (default 100)")
	f.Var(&m.electionMS, "election-timeout", "raft election timeout in milliseconds (default 1000)")
	f.Int64Var(&c.QuotaBackendBytes, "quota-backend-bytes", 0, "store size at which writes are refused with 'database space exceeded' (default 2 GiB, as etcd)")
	f.UintVar(&m.maxRequestBytes, "max-request-bytes", 0, "largest client request in bytes (default 1572864, 1.5 MiB)")
	f.UintVar(&m.maxTxnOps, "max-txn-ops", 0, "most operations in one transaction (default 128)")
	bindTLSFlags(f, c)
	m.auth.bind(f, &c.Auth)
	f.VisitAll(func(fl *pflag.Flag) {
		if !before[fl.Name] {
			m.names = append(m.names, fl.Name)
		}
	})
}

// config returns the Config the flags describe (zero fields mean
// raftnode's defaults; Logger is left for the caller).
func (m *memberFlags) config() (raftnode.Config, error) {
	if m.maxRequestBytes > math.MaxInt32 {
		return raftnode.Config{}, usagef("--max-request-bytes %d is too large (at most %d)", m.maxRequestBytes, math.MaxInt32)
	}
	if m.maxTxnOps > math.MaxInt32 {
		return raftnode.Config{}, usagef("--max-txn-ops %d is too large", m.maxTxnOps)
	}
	cfg := m.cfg
	cfg.HeartbeatInterval = m.heartbeatMS.duration()
	cfg.ElectionTimeout = m.electionMS.duration()
	cfg.MaxRequestBytes = int(m.maxRequestBytes)
	cfg.MaxTxnOps = int(m.maxTxnOps)
	m.auth.apply(&cfg.Auth)
	return cfg, nil
}

// changed lists the member flags set on the command line, as --name.
func (m *memberFlags) changed(f *pflag.FlagSet) []string {
	var out []string
	for _, n := range m.names {
		if f.Changed(n) {
			out = append(out, "--"+n)
		}
	}
	return out
}

// processFlags are the logging and profiling flags of a long-running
// command (`kelson store`, `kelson server`).
type processFlags struct {
	logFormat, logLevel string
	metricsURLs         []string
	enablePprof         bool
}

func (p *processFlags) bind(f *pflag.FlagSet) {
	f.StringVar(&p.logFormat, "log-format", "", `log format: "text" or "json" (default: text on a terminal, json otherwise)`)
	f.StringVar(&p.logLevel, "log-level", "info", `log level: debug, info, warn or error`)
	f.StringSliceVar(&p.metricsURLs, "listen-metrics-urls", nil, "more URLs serving /metrics and the health endpoints (/health, /livez, /readyz) of the store member, as etcd's (the client URLs serve them too)")
	f.BoolVar(&p.enablePprof, "enable-pprof", false, "serve Go's profiler at /debug/pprof/ on the client URLs and --listen-metrics-urls")
}

// start builds the logger (writing to stderr) and hands the metrics URLs
// and the profiler to the member (nil: none runs here, as with `kelson
// server --etcd-servers`; the profiler then gets a server of its own,
// which stop closes).
func (p *processFlags) start(stderr io.Writer, member *raftnode.Config) (log *slog.Logger, stop func(), err error) {
	log, err = newLogger(stderr, p.logFormat, p.logLevel)
	if err != nil {
		return nil, nil, err
	}
	for _, u := range p.metricsURLs {
		if err := checkMetricsURL(u); err != nil {
			return nil, nil, err
		}
	}
	if member != nil {
		member.ListenMetricsURLs = p.metricsURLs
		if p.enablePprof {
			member.HTTPHandlers = pprofHandlers()
		}
		return log, func() {}, nil
	}
	if err := noMemberMetricsError(p.enablePprof, p.metricsURLs); err != nil {
		return nil, nil, err
	}
	if !p.enablePprof {
		return log, func() {}, nil
	}
	dbg, err := startDebugServer(p.metricsURLs)
	if err != nil {
		return nil, nil, err
	}
	return log, dbg.close, nil
}

// millis is a flag holding whole milliseconds, as etcd's
// --heartbeat-interval and --election-timeout.
type millis uint32

func (m *millis) Set(s string) error {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return fmt.Errorf("want whole milliseconds as etcd takes them, like 100 (not %q)", s)
	}
	*m = millis(v)
	return nil
}

func (m *millis) String() string { return strconv.FormatUint(uint64(*m), 10) }
func (m *millis) Type() string   { return "ms" }

func (m millis) duration() time.Duration { return time.Duration(m) * time.Millisecond }
