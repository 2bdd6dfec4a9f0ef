package raftnode

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/kelson-dev/kelson/raftnode/auth"
	"github.com/kelson-dev/kelson/raftnode/autocompact"
	"github.com/kelson-dev/kelson/raftnode/tlsinfo"
	"go.etcd.io/raft/v3/raftpb"
)

// Config configures one member. Field names follow etcd's flags (shown in
// brackets) so that `kelson store` can take etcd's command lines unchanged.
// Zero values mean the documented default; Start fills them in.
type Config struct {
	// Name of this member [--name]. Default "default".
	Name string
	// DataDir holds the store and the raft log [--data-dir].
	// Default "<Name>.kelson".
	DataDir string
	// ListenClientURLs: where the etcd v3 gRPC API listens
	// [--listen-client-urls], and beside it on the same ports etcd's HTTP
	// endpoints (/health, /livez, /readyz, /version, /metrics and the JSON
	// gateway under /v3/). Default http://127.0.0.1:2379.
	ListenClientURLs []string
	// AdvertiseClientURLs: what members tell clients
	// [--advertise-client-urls]. Default: ListenClientURLs.
	AdvertiseClientURLs []string
	// ListenPeerURLs: where the raft transport listens [--listen-peer-urls].
	// Default http://127.0.0.1:2380.
	ListenPeerURLs []string
	// InitialAdvertisePeerURLs: this member's peer URLs as others reach
	// them [--initial-advertise-peer-urls]. Default: ListenPeerURLs.
	InitialAdvertisePeerURLs []string
	// InitialCluster: name=peerURL,... of the bootstrap members
	// [--initial-cluster]. Default "<Name>=<first advertise peer URL>".
	InitialCluster string
	// InitialClusterState: "new" to bootstrap, "existing" to join a running
	// cluster [--initial-cluster-state]. Default "new". Ignored on restart.
	InitialClusterState string
	// InitialClusterToken makes cluster IDs distinct between clusters built
	// from the same member list [--initial-cluster-token].
	// Default "kelson-cluster".
	InitialClusterToken string
	// SnapshotCount: applied entries between raft snapshots (after which
	// the log is compacted) [--snapshot-count]. Default 10000.
	SnapshotCount uint64
	// HeartbeatInterval [--heartbeat-interval]. Default 100ms.
	HeartbeatInterval time.Duration
	// ElectionTimeout [--election-timeout]. Default 1000ms.
	ElectionTimeout time.Duration
	// QuotaBackendBytes: store size limit [--quota-backend-bytes].
	// Default 2 GiB, as etcd.
	QuotaBackendBytes int64
	// MaxRequestBytes: largest client request [--max-request-bytes].
	// Default 1.5 MiB.
	MaxRequestBytes int
	// MaxTxnOps: most operations per txn branch [--max-txn-ops]. Default 128.
	MaxTxnOps int
	// LeaseCheckpointInterval: how often the leader replicates the
	// remaining TTLs of leases, so a new leader resumes them instead of
	// restarting them. Default 30s.
	LeaseCheckpointInterval time.Duration
	// ListenMetricsURLs: more listeners serving only /metrics and the
	// health endpoints [--listen-metrics-urls]. Default: none.
	ListenMetricsURLs []string
	// HTTPHandlers are served, by http.ServeMux pattern, on the client
	// ports' HTTP side and on the metrics listeners, beside the member's
	// own endpoints (etcd's UserHandlers; `kelson store --enable-pprof`
	// puts the profiler there). Default: none.
	HTTPHandlers map[string]http.Handler
	// AutoCompactionMode: "periodic" or "revision"
	// [--auto-compaction-mode]. Default "periodic".
	AutoCompactionMode string
	// AutoCompactionRetention: for periodic, a duration ("1h", "30m") or a
	// bare number of hours; for revision, the number of revisions to keep
	// [--auto-compaction-retention]. Default "0": no auto-compaction. Only
	// the leader compacts (raftnode/autocompact).
	AutoCompactionRetention string
	// ClientTLS secures the https:// client URLs and metrics URLs
	// [--cert-file --key-file --trusted-ca-file --client-cert-auth
	// --auto-tls]. Default: none, and an https:// client URL is refused.
	ClientTLS tlsinfo.Info
	// PeerTLS secures the https:// peer URLs and this member's
	// connections to https:// peers [--peer-cert-file --peer-key-file
	// --peer-trusted-ca-file --peer-client-cert-auth --peer-auto-tls].
	// Default: none.
	PeerTLS tlsinfo.Info
	// CipherSuites, by IANA name, for TLS 1.2 [--cipher-suites].
	// Default: Go's. TLSMinVersion [--tls-min-version]: "TLS1.2"
	// (default) or "TLS1.3". TLSMaxVersion [--tls-max-version]: "" (Go's
	// highest, default), "TLS1.2" or "TLS1.3". Both sides use them.
	CipherSuites                 []string
	TLSMinVersion, TLSMaxVersion string
	// SelfSignedCertValidity: years the --auto-tls certificates are valid
	// [--self-signed-cert-validity]. Default 1.
	SelfSignedCertValidity uint
	// Auth configures etcd's authentication [--auth-token,
	// --auth-token-ttl, --bcrypt-cost]. Its Logger, Now and AppliedWait
	// are the member's. Default: simple tokens living 300s, bcrypt cost 10.
	Auth auth.Options
	// Logger; default slog.Default(). The member adds member=<Name> to
	// every record.
	Logger *slog.Logger
	// FS is the filesystem the store and the raft log run on. Default: the
	// OS. Fault-injection tests wrap it (slow or failing disks).
	FS vfs.FS

	// transportFilter injects faults between members in tests (see
	// transport.Config.Filter). Unexported: not a user setting.
	transportFilter func(m *raftpb.Message) (drop bool, delay time.Duration)
	// tlsParams are CipherSuites and the versions parsed (validate).
	tlsParams tlsinfo.Params
	// autoCompaction is the policy parsed from the two flags (validate).
	autoCompaction autocompact.Policy
	// catchUpEntries overrides how many entries stay in the log after a
	// snapshot (default 5000), so tests can force snapshot transfers.
	catchUpEntries uint64
}
