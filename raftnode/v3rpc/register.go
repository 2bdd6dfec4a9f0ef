package v3rpc

import (
	"log/slog"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
)

// Register adds the etcd v3 KV, Watch, Lease, Cluster and Maintenance
// services over b to s, with the gRPC health service (RegisterServices).
// Create s with ServerOptions(opts) so that request limits, panic recovery
// and metrics apply. Register does not start or stop anything; s and b stay
// the caller's.
func Register(s *grpc.Server, b Backend, opts Options) {
	RegisterServices(s, NewServices(b, opts))
}

// server is what every service shares.
type server struct {
	b    Backend
	ab   AuthBackend // b, when it does auth; nil otherwise
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
