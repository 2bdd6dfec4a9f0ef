package v3rpc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/kvstore"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

const (
	testClusterID = 0xc1
	testMemberID  = 0x42
	testTerm      = 7
	testVersion   = "3.6.0"
	panicMemberID = 0xdead // an Alarm for this member makes the backend panic
)

// statusError is an error that carries a gRPC status, as raftnode's do.
type statusError struct {
	msg  string
	grpc error
}

func (e *statusError) Error() string              { return e.msg }
func (e *statusError) GRPCStatus() *status.Status { s, _ := status.FromError(e.grpc); return s }

// localBackend implements Backend over a bare store: one member, no raft,
// leases that never expire on their own.
type localBackend struct {
	st *kvstore.Store

	mu        sync.Mutex
	nextLease int64
	renewed   map[int64]time.Time // lease ID -> last grant or renewal
}

var _ Backend = (*localBackend)(nil)

func newLocalBackend(st *kvstore.Store) *localBackend {
	return &localBackend{st: st, nextLease: 1000, renewed: make(map[int64]time.Time)}
}

func (b *localBackend) Header() (uint64, uint64, uint64) {
	return testClusterID, testMemberID, testTerm
}
func (b *localBackend) Rev() int64 { return b.st.Rev() }

func (b *localBackend) hdr() *pb.ResponseHeader { return &pb.ResponseHeader{Revision: b.st.Rev()} }

func (b *localBackend) Range(_ context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	return b.st.Range(req)
}

func (b *localBackend) Put(_ context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	return b.st.Put(req)
}

func (b *localBackend) DeleteRange(_ context.Context, req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	return b.st.DeleteRange(req)
}

func (b *localBackend) Txn(_ context.Context, req *pb.TxnRequest) (*pb.TxnResponse, error) {
	return b.st.Txn(req)
}

func (b *localBackend) Compact(_ context.Context, req *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	if err := b.st.Compact(req.Revision); err != nil {
		return nil, err
	}
	if req.Physical {
		b.st.WaitCompaction()
	}
	return &pb.CompactionResponse{Header: b.hdr()}, nil
}

func (b *localBackend) NewWatchStream() *kvstore.WatchStream { return b.st.NewWatchStream() }

func (b *localBackend) LeaseGrant(_ context.Context, req *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := req.ID
	if id == 0 {
		b.nextLease++
		id = b.nextLease
	}
	if err := b.st.LeaseGrant(id, req.TTL); err != nil {
		return nil, err
	}
	b.renewed[id] = time.Now()
	return &pb.LeaseGrantResponse{Header: b.hdr(), ID: id, TTL: req.TTL}, nil
}

func (b *localBackend) LeaseRevoke(_ context.Context, req *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	if err := b.st.LeaseRevoke(req.ID); err != nil {
		return nil, err
	}
	b.mu.Lock()
	delete(b.renewed, req.ID)
	b.mu.Unlock()
	return &pb.LeaseRevokeResponse{Header: b.hdr()}, nil
}

func (b *localBackend) LeaseRenew(_ context.Context, id int64) (int64, error) {
	info, err := b.st.Lease(id)
	if err != nil {
		return 0, err
	}
	b.mu.Lock()
	b.renewed[id] = time.Now()
	b.mu.Unlock()
	return info.TTL, nil
}

func (b *localBackend) LeaseTimeToLive(_ context.Context, req *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	info, err := b.st.Lease(req.ID)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	left := info.TTL - int64(time.Since(b.renewed[req.ID])/time.Second)
	b.mu.Unlock()
	resp := &pb.LeaseTimeToLiveResponse{Header: b.hdr(), ID: req.ID, TTL: left, GrantedTTL: info.TTL}
	if req.Keys {
		resp.Keys = info.Keys
	}
	return resp, nil
}

func (b *localBackend) LeaseLeases(context.Context) (*pb.LeaseLeasesResponse, error) {
	resp := &pb.LeaseLeasesResponse{Header: b.hdr()}
	for _, l := range b.st.Leases() {
		resp.Leases = append(resp.Leases, &pb.LeaseStatus{ID: l.ID})
	}
	return resp, nil
}

func (b *localBackend) self() *pb.Member {
	return &pb.Member{ID: testMemberID, Name: "local", PeerURLs: []string{"http://127.0.0.1:2380"}, ClientURLs: []string{"http://127.0.0.1:2379"}}
}

var errNotCapable = &statusError{msg: "local: membership is fixed", grpc: rpctypes.ErrGRPCNotCapable}

func (b *localBackend) MemberAdd(context.Context, []string, bool) (*pb.Member, []*pb.Member, error) {
	return nil, nil, fmt.Errorf("member add: %w", errNotCapable)
}

func (b *localBackend) MemberRemove(_ context.Context, id uint64) ([]*pb.Member, error) {
	if id != testMemberID {
		// Wrapped on purpose: the service must keep etcd's message.
		return nil, fmt.Errorf("member remove %x: %w", id, &statusError{msg: "local: no such member", grpc: rpctypes.ErrGRPCMemberNotFound})
	}
	return nil, errNotCapable
}

func (b *localBackend) MemberUpdate(context.Context, uint64, []string) ([]*pb.Member, error) {
	return nil, errNotCapable
}

func (b *localBackend) MemberPromote(context.Context, uint64) ([]*pb.Member, error) {
	return nil, errNotCapable
}

func (b *localBackend) MemberList(context.Context, bool) ([]*pb.Member, error) {
	return []*pb.Member{b.self()}, nil
}

func (b *localBackend) Status(context.Context) (*pb.StatusResponse, error) {
	return &pb.StatusResponse{
		Header: b.hdr(), Version: testVersion, DbSize: b.st.Size(), DbSizeInUse: b.st.Size(),
		Leader: testMemberID, RaftTerm: testTerm, RaftIndex: b.st.AppliedIndex(), RaftAppliedIndex: b.st.AppliedIndex(),
	}, nil
}

func (b *localBackend) HashKV(_ context.Context, rev int64) (*pb.HashKVResponse, error) {
	cur := b.st.Rev()
	h, compacted, err := b.st.HashKV(rev)
	if err != nil {
		return nil, err
	}
	if rev == 0 {
		rev = cur
	}
	return &pb.HashKVResponse{Header: &pb.ResponseHeader{Revision: cur}, Hash: h, CompactRevision: compacted, HashRevision: rev}, nil
}

func (b *localBackend) Snapshot(_ context.Context, w io.Writer) error { return b.st.Snapshot(w) }

func (b *localBackend) Alarm(_ context.Context, req *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	if req.MemberID == panicMemberID {
		panic("test: alarm for the panic member")
	}
	return &pb.AlarmResponse{Header: b.hdr()}, nil
}

func (b *localBackend) MoveLeader(_ context.Context, target uint64) error {
	if target != testMemberID {
		return &statusError{msg: "local: bad transferee", grpc: rpctypes.ErrGRPCBadLeaderTransferee}
	}
	return nil
}

// testServer is a gRPC server with the services over a localBackend on a
// store in a temp dir, and a clientv3 client for it.
type testServer struct {
	b    *localBackend
	gs   *grpc.Server
	addr string
	cli  *clientv3.Client
	conn *grpc.ClientConn // raw connection, for requests clientv3 will not send
}

func startServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := kvstore.Open(t.TempDir(), kvstore.Options{Logger: quiet, CacheBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	b := newLocalBackend(st)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	gs := grpc.NewServer(ServerOptions(opts)...)
	Register(gs, b, opts)
	go gs.Serve(lis)
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{lis.Addr().String()},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cli.Close()
		gs.Stop()
		st.Close()
	})
	return &testServer{b: b, gs: gs, addr: lis.Addr().String(), cli: cli, conn: conn}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
