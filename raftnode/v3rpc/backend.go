package v3rpc

import (
	"context"
	"io"

	"github.com/kelson-dev/kelson/kvstore"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Backend is what the etcd v3 services need from a member. *raftnode.Node
// implements it; tests may implement it over a bare kvstore.Store.
//
// Errors are kvstore sentinels (kvstore.ErrCompacted, ...), which the
// services map to etcd's gRPC errors (rpctypes) with errors.Is, or errors
// that carry their gRPC status themselves (GRPCStatus(), as raftnode's do),
// which pass through; both may be wrapped. v3rpc must not import raftnode
// (raftnode imports v3rpc to serve). Responses come with
// Header.Revision set; the services fill cluster_id, member_id and raft_term
// from Header().
type Backend interface {
	// Header returns the fields every response header carries.
	Header() (clusterID, memberID, raftTerm uint64)
	// Rev is the member's current (applied) revision.
	Rev() int64

	// Range is linearizable unless req.Serializable.
	Range(ctx context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error)
	Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error)
	DeleteRange(ctx context.Context, req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error)
	// Txn serves read-only transactions through the linearizable read path
	// and replicates the others.
	Txn(ctx context.Context, req *pb.TxnRequest) (*pb.TxnResponse, error)
	// Compact returns once the compaction is applied; with req.Physical it
	// also waits for the space to be reclaimed.
	Compact(ctx context.Context, req *pb.CompactionRequest) (*pb.CompactionResponse, error)

	// NewWatchStream opens a watch stream on the member's store.
	NewWatchStream() *kvstore.WatchStream

	LeaseGrant(ctx context.Context, req *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error)
	LeaseRevoke(ctx context.Context, req *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error)
	// LeaseRenew refreshes a lease (keep-alive) and returns its TTL; a
	// follower forwards it to the leader.
	LeaseRenew(ctx context.Context, id int64) (ttl int64, err error)
	LeaseTimeToLive(ctx context.Context, req *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error)
	LeaseLeases(ctx context.Context) (*pb.LeaseLeasesResponse, error)

	MemberAdd(ctx context.Context, peerURLs []string, learner bool) (added *pb.Member, members []*pb.Member, err error)
	MemberRemove(ctx context.Context, id uint64) ([]*pb.Member, error)
	MemberUpdate(ctx context.Context, id uint64, peerURLs []string) ([]*pb.Member, error)
	MemberPromote(ctx context.Context, id uint64) ([]*pb.Member, error)
	MemberList(ctx context.Context, linearizable bool) ([]*pb.Member, error)

	// Status fills everything but the header's cluster/member/term fields.
	Status(ctx context.Context) (*pb.StatusResponse, error)
	// HashKV hashes the history up to rev (0 = current).
	HashKV(ctx context.Context, rev int64) (*pb.HashKVResponse, error)
	// Snapshot writes a consistent copy of the store to w.
	Snapshot(ctx context.Context, w io.Writer) error
	Alarm(ctx context.Context, req *pb.AlarmRequest) (*pb.AlarmResponse, error)
	// MoveLeader transfers leadership to target (called on the leader).
	MoveLeader(ctx context.Context, target uint64) error
}
