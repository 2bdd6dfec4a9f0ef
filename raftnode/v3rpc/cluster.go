package v3rpc

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// clusterServer serves etcdserverpb.Cluster. With auth on, changing the
// membership needs the root role and listing it a caller, as etcd. Membership changes are the
// backend's (raftnode's) business; this layer checks URLs and fills headers.
type clusterServer struct {
	pb.UnimplementedClusterServer
	*server
}

func (s *clusterServer) MemberAdd(ctx context.Context, req *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	ctx, err := s.requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkPeerURLs(req.PeerURLs); err != nil {
		return nil, err
	}
	added, members, err := s.b.MemberAdd(ctx, req.PeerURLs, req.IsLearner)
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.MemberAddResponse{Header: s.headerAt(0), Member: added, Members: members}, nil
}

func (s *clusterServer) MemberRemove(ctx context.Context, req *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	ctx, err := s.requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	members, err := s.b.MemberRemove(ctx, req.ID)
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.MemberRemoveResponse{Header: s.headerAt(0), Members: members}, nil
}

func (s *clusterServer) MemberUpdate(ctx context.Context, req *pb.MemberUpdateRequest) (*pb.MemberUpdateResponse, error) {
	ctx, err := s.requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkPeerURLs(req.PeerURLs); err != nil {
		return nil, err
	}
	members, err := s.b.MemberUpdate(ctx, req.ID, req.PeerURLs)
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.MemberUpdateResponse{Header: s.headerAt(0), Members: members}, nil
}

func (s *clusterServer) MemberList(ctx context.Context, req *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	ctx, err := s.requireCaller(ctx)
	if err != nil {
		return nil, err
	}
	members, err := s.b.MemberList(ctx, req.Linearizable)
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.MemberListResponse{Header: s.headerAt(0), Members: members}, nil
}

func (s *clusterServer) MemberPromote(ctx context.Context, req *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	ctx, err := s.requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	members, err := s.b.MemberPromote(ctx, req.ID)
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.MemberPromoteResponse{Header: s.headerAt(0), Members: members}, nil
}
