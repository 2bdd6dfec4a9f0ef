package v3rpc

import (
	"log/slog"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Register adds the etcd v3 KV, Watch, Lease, Cluster and Maintenance
// services over b to s, and the standard gRPC health service reporting
// SERVING for the server ("") and for each etcd service name (NOT_SERVING
// once opts.Shutdown is closed). Create s with
// ServerOptions(opts) so that request limits and panic recovery apply.
// Register does not start or stop anything; s and b stay the caller's.
func Register(s *grpc.Server, b Backend, opts Options) {
	opts.EnsureDefaults()
	srv := &server{b: b, opts: opts, log: opts.Logger}
	pb.RegisterKVServer(s, &kvServer{server: srv})
	pb.RegisterWatchServer(s, &watchServer{server: srv})
	pb.RegisterLeaseServer(s, &leaseServer{server: srv})
	pb.RegisterClusterServer(s, &clusterServer{server: srv})
	pb.RegisterMaintenanceServer(s, &maintenanceServer{server: srv})

	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	for _, name := range []string{
		pb.KV_ServiceDesc.ServiceName, pb.Watch_ServiceDesc.ServiceName, pb.Lease_ServiceDesc.ServiceName,
		pb.Cluster_ServiceDesc.ServiceName, pb.Maintenance_ServiceDesc.ServiceName,
	} {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	healthpb.RegisterHealthServer(s, hs)
	if opts.Shutdown != nil {
		go func() {
			<-opts.Shutdown
			hs.Shutdown() // NOT_SERVING from now on
		}()
	}
}

// server is what every service shares.
type server struct {
	b    Backend
	opts Options
	log  *slog.Logger
}

// header completes a response header: cluster_id, member_id and raft_term
// from the backend; the revision is kept when the backend set it, else the
// backend's current revision. h may be nil; the result never is.
func (s *server) header(h *pb.ResponseHeader) *pb.ResponseHeader {
	if h == nil {
		h = &pb.ResponseHeader{}
	}
	h.ClusterId, h.MemberId, h.RaftTerm = s.b.Header()
	if h.Revision == 0 {
		h.Revision = s.b.Rev()
	}
	return h
}

// headerAt is a new header with the given revision (0: the current one).
func (s *server) headerAt(rev int64) *pb.ResponseHeader {
	return s.header(&pb.ResponseHeader{Revision: rev})
}
