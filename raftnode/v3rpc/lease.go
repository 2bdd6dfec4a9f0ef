package v3rpc

import (
	"context"
	"errors"
	"io"

	"github.com/kelson-dev/kelson/kvstore"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// leaseServer serves etcdserverpb.Lease.
type leaseServer struct {
	pb.UnimplementedLeaseServer
	*server
}

// LeaseGrant creates a lease; ID 0 lets the backend choose one.
func (s *leaseServer) LeaseGrant(ctx context.Context, req *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	if req.TTL > MaxLeaseTTL {
		return nil, rpctypes.ErrGRPCLeaseTTLTooLarge
	}
	ctx, err := s.requireCaller(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := s.b.LeaseGrant(ctx, req)
	if err != nil {
		return nil, toGRPCError(err)
	}
	if resp == nil {
		resp = &pb.LeaseGrantResponse{}
	}
	resp.Header = s.header(resp.Header)
	return resp, nil
}

// LeaseRevoke needs a caller; that it may write every key attached to the
// lease is checked where the members apply the revoke.
func (s *leaseServer) LeaseRevoke(ctx context.Context, req *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	ctx, err := s.requireCaller(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := s.b.LeaseRevoke(ctx, req)
	if err != nil {
		return nil, toGRPCError(err)
	}
	if resp == nil {
		resp = &pb.LeaseRevokeResponse{}
	}
	resp.Header = s.header(resp.Header)
	return resp, nil
}

// LeaseTimeToLive reports a lease's TTLs (and keys when asked). An unknown
// lease is not an error: as etcd, the answer has TTL -1, which clientv3 and
// etcdctl show as "already expired".
//
// With auth on it needs a caller, and when the keys are asked for, read
// permission on each of them (or the root role).
func (s *leaseServer) LeaseTimeToLive(ctx context.Context, req *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	ai, st, err := s.caller(ctx)
	if err == nil {
		err = st.RequireInfo(ai)
	}
	if err == nil && req.Keys && st.Enabled && st.CheckAdmin(ai) != nil {
		err = st.CheckLeaseReads(ai, s.leaseKeys(req.ID))
	}
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp, err := s.b.LeaseTimeToLive(ctx, req)
	if err == nil && req.Keys {
		if serr := s.staleAfter(ai); serr != nil {
			return nil, serr
		}
	}
	if isLeaseNotFound(err) {
		resp, err = &pb.LeaseTimeToLiveResponse{ID: req.ID, TTL: -1}, nil
	}
	if err != nil {
		return nil, toGRPCError(err)
	}
	if resp == nil {
		resp = &pb.LeaseTimeToLiveResponse{ID: req.ID, TTL: -1}
	}
	resp.Header = s.header(resp.Header)
	return resp, nil
}

// LeaseLeases lists every lease: with auth on, for the root role, or for a
// user who may read every key attached to any of them.
func (s *leaseServer) LeaseLeases(ctx context.Context, _ *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	ai, st, err := s.caller(ctx)
	if err == nil {
		err = st.RequireInfo(ai)
	}
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp, err := s.b.LeaseLeases(ctx)
	if err != nil {
		return nil, toGRPCError(err)
	}
	if st.Enabled && st.CheckAdmin(ai) != nil && resp != nil {
		for _, l := range resp.Leases {
			if err := st.CheckLeaseReads(ai, s.leaseKeys(l.ID)); err != nil {
				return nil, toGRPCError(err)
			}
		}
		if err := s.staleAfter(ai); err != nil {
			return nil, err
		}
	}
	if resp == nil {
		resp = &pb.LeaseLeasesResponse{}
	}
	resp.Header = s.header(resp.Header)
	return resp, nil
}

// LeaseKeepAlive answers each keep-alive request, in order, with the lease's
// renewed TTL. As etcd, a lease that does not exist (expired or revoked)
// gets TTL 0 rather than an error: clientv3 then closes that lease's
// keep-alive channel and keeps the stream for the others. Other errors end
// the stream, as does Options.Shutdown (with ErrGRPCStopped).
//
// A goroutine receives; the handler renews and sends, so that it can stop
// on shutdown while the receive is blocked (the receive ends when the
// handler returns).
func (s *leaseServer) LeaseKeepAlive(stream pb.Lease_LeaseKeepAliveServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	reqs := make(chan int64)
	errc := make(chan error, 1)
	goSafe(s.log, "/etcdserverpb.Lease/LeaseKeepAlive", func(err error) { errc <- err }, func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				errc <- err
				return
			}
			select {
			case reqs <- req.ID:
			case <-ctx.Done():
				return
			}
		}
	})
	for {
		var id int64
		select {
		case id = <-reqs:
		case err := <-errc:
			return err
		case <-s.opts.Shutdown:
			return rpctypes.ErrGRPCStopped
		case <-ctx.Done():
			return toGRPCError(ctx.Err())
		}
		if err := s.checkRenew(ctx, id); err != nil {
			return err
		}
		ttl, err := s.b.LeaseRenew(ctx, id)
		if isLeaseNotFound(err) {
			ttl, err = 0, nil
		}
		if err != nil {
			return toGRPCError(err)
		}
		if ttl < 0 {
			ttl = 0
		}
		if err := stream.Send(&pb.LeaseKeepAliveResponse{Header: s.headerAt(0), ID: id, TTL: ttl}); err != nil {
			return err
		}
	}
}

// isLeaseNotFound recognises a missing lease from the local store or, for a
// request the backend forwarded to the leader, from the leader's answer.
func isLeaseNotFound(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, kvstore.ErrLeaseNotFound) {
		return true
	}
	st := status.Convert(toGRPCError(err))
	return st.Code() == codes.NotFound && st.Message() == rpctypes.ErrorDesc(rpctypes.ErrGRPCLeaseNotFound)
}

// checkRenew is etcd's check of a keep-alive: a caller, and unless root,
// write permission on every key attached to the lease, all at one auth
// revision.
func (s *leaseServer) checkRenew(ctx context.Context, id int64) error {
	ai, st, err := s.caller(ctx)
	if err == nil {
		err = st.RequireInfo(ai)
	}
	if err == nil && st.Enabled && st.CheckAdmin(ai) != nil {
		err = st.CheckLeasePuts(ai, s.leaseKeys(id))
	}
	if err != nil {
		return toGRPCError(err)
	}
	return s.staleAfter(ai)
}
