package v3rpc

import (
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// MaxLeaseTTL is the largest lease TTL in seconds a grant may ask for, as in
// etcd (clientv3.MaxLeaseTTL). Larger grants fail with
// rpctypes.ErrGRPCLeaseTTLTooLarge.
const MaxLeaseTTL = 9_000_000_000

// grpcOverheadBytes is the headroom ServerOptions adds to MaxRequestBytes for
// the gRPC receive limit, so that a request just under MaxRequestBytes is
// rejected by the service with etcd's "request is too large" error rather than
// by gRPC's framing limit.
const grpcOverheadBytes = 512 << 10

// Options configures the services. The zero value of every field means its
// documented default; Register calls EnsureDefaults.
type Options struct {
	// MaxTxnOps is the most compares, and the most operations per branch,
	// of one Txn. Larger requests fail with rpctypes.ErrGRPCTooManyOps.
	// Default: 128, as etcd's --max-txn-ops.
	MaxTxnOps int
	// MaxRequestBytes is the largest Put, DeleteRange or Txn request
	// accepted (rpctypes.ErrGRPCRequestTooLarge past it). It is also the
	// size past which a watch response is split when the watcher asked for
	// fragmentation, and the chunk budget of RangeStream. Default: 1.5 MiB,
	// as etcd's --max-request-bytes.
	MaxRequestBytes int
	// Logger receives the services' logs (recovered panics, stream ends).
	// Default: slog.Default().
	Logger *slog.Logger
	// WatchProgressInterval is how often a watcher that asked for progress
	// notifications gets an empty response when it had no events.
	// Default: 10 minutes, as etcd.
	WatchProgressInterval time.Duration
	// Shutdown, when closed, ends the long-lived streams (Watch and
	// LeaseKeepAlive) with rpctypes.ErrGRPCStopped, which etcd clients
	// answer by reconnecting, possibly to another member. Close it before
	// grpc.Server.GracefulStop, which otherwise waits for those streams
	// until their clients go away. Default: nil (never).
	Shutdown <-chan struct{}
	// ClientCertAuth: a call without a token is made by the user named by
	// the Common Name of the client's verified TLS certificate, as etcd's
	// --client-cert-auth (ClientCertCommonName). Only for the client port:
	// the peer port's certificates are members', not users'.
	// Default: false.
	ClientCertAuth bool
	// Metrics, when set, counts the calls of a server created with
	// ServerOptions (grpc_server_started_total and _handled_total at the
	// edge). Default: nil (not counted).
	Metrics *RPCMetrics
}

// EnsureDefaults fills zero fields with their defaults and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.MaxTxnOps <= 0 {
		o.MaxTxnOps = 128
	}
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = 3 << 19 // 1.5 MiB
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.WatchProgressInterval <= 0 {
		o.WatchProgressInterval = 10 * time.Minute
	}
	return o
}

// Validate reports an option that cannot work. Call it after EnsureDefaults.
func (o *Options) Validate() error {
	if o.MaxRequestBytes > math.MaxInt32-grpcOverheadBytes {
		return fmt.Errorf("v3rpc: MaxRequestBytes %d is too large (gRPC messages are limited to 2 GiB)", o.MaxRequestBytes)
	}
	return nil
}

// ServerOptions returns the options the gRPC server serving these services
// should be created with (grpc.NewServer(ServerOptions(opts)...)):
//
//   - a receive limit of MaxRequestBytes plus 512 KiB of headroom, and no
//     send limit (ranges and snapshots may be large);
//   - recovery interceptors (unary and stream) that turn a panic in a
//     handler into codes.Internal and log it with its stack;
//   - with Metrics set, interceptors counting calls per method and code;
//   - a keepalive enforcement policy as lenient as etcd's (pings every 5s
//     allowed, also without active streams), so that clients that set
//     DialKeepAliveTime, as Kubernetes does, are not disconnected;
//   - no limit on concurrent streams (each etcd client multiplexes its
//     watches and keep-alives on one connection).
//
// Options are defaulted first; the argument is not modified.
func ServerOptions(opts Options) []grpc.ServerOption {
	opts.EnsureDefaults()
	recvLimit := opts.MaxRequestBytes + grpcOverheadBytes
	if recvLimit < 0 || opts.MaxRequestBytes > math.MaxInt32-grpcOverheadBytes {
		recvLimit = math.MaxInt32
	}
	unary := []grpc.UnaryServerInterceptor{unaryRecovery(opts.Logger)}
	stream := []grpc.StreamServerInterceptor{streamRecovery(opts.Logger)}
	if opts.Metrics != nil {
		unary = append([]grpc.UnaryServerInterceptor{unaryMetrics(opts.Metrics)}, unary...)
		stream = append([]grpc.StreamServerInterceptor{streamMetrics(opts.Metrics)}, stream...)
	}
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(recvLimit),
		grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.MaxConcurrentStreams(math.MaxUint32),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             5 * time.Second,
			PermitWithoutStream: true,
		}),
		// A fixed pool of goroutines serves streams instead of a new
		// goroutine (and a new, growing stack) per call.
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
	}
}
