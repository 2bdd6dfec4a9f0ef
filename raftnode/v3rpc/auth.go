package v3rpc

import (
	"context"
	"fmt"

	"github.com/kelson-dev/kelson/raftnode/auth"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// authServer serves etcdserverpb.Auth. Every call is replicated (the
// backend's ProposeAuth) with the caller's identity, and decided where each
// member applies it (raftnode/auth.Apply): admin rights, etcd's errors. Two
// things happen here, on the member the client talks to, as in etcd:
// passwords are hashed before they are proposed (the log never holds them
// in clear), and Authenticate checks the password before proposing.
type authServer struct {
	pb.UnimplementedAuthServer
	*server
}

var errNoAuth = status.Error(codes.Unimplemented, "kelson: this backend does not support authentication")

// propose replicates req as the caller and returns the response.
func (s *authServer) propose(ctx context.Context, req *pb.InternalRaftRequest) (proto.Message, error) {
	if s.ab == nil {
		return nil, errNoAuth
	}
	ai, _, err := s.caller(ctx)
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp, err := s.ab.ProposeAuth(auth.NewContext(ctx, ai), req)
	if err != nil {
		return nil, toGRPCError(err)
	}
	return resp, nil
}

// call proposes req and fills the response header (every Auth response
// message has one).
func call[Resp interface {
	proto.Message
	GetHeader() *pb.ResponseHeader
}](s *authServer, ctx context.Context, req *pb.InternalRaftRequest, setHeader func(Resp, *pb.ResponseHeader)) (Resp, error) {
	var zero Resp
	m, err := s.propose(ctx, req)
	if err != nil {
		return zero, err
	}
	resp, ok := m.(Resp)
	if !ok {
		return zero, status.Error(codes.Internal, fmt.Sprintf("kelson: auth response %T", m))
	}
	setHeader(resp, s.header(resp.GetHeader()))
	return resp, nil
}

func (s *authServer) AuthEnable(ctx context.Context, r *pb.AuthEnableRequest) (*pb.AuthEnableResponse, error) {
	return call(s, ctx, &pb.InternalRaftRequest{AuthEnable: r}, func(m *pb.AuthEnableResponse, h *pb.ResponseHeader) { m.Header = h })
}

func (s *authServer) AuthDisable(ctx context.Context, r *pb.AuthDisableRequest) (*pb.AuthDisableResponse, error) {
	return call(s, ctx, &pb.InternalRaftRequest{AuthDisable: r}, func(m *pb.AuthDisableResponse, h *pb.ResponseHeader) { m.Header = h })
}

func (s *authServer) AuthStatus(ctx context.Context, r *pb.AuthStatusRequest) (*pb.AuthStatusResponse, error) {
	return call(s, ctx, &pb.InternalRaftRequest{AuthStatus: r}, func(m *pb.AuthStatusResponse, h *pb.ResponseHeader) { m.Header = h })
}

// Authenticate checks the password on this member (after a linearizable
// barrier, so a user just added elsewhere is seen), then replicates the
// issue of a token. When the auth state moved between the check and the
// apply, the password is checked again, as etcd does.
func (s *authServer) Authenticate(ctx context.Context, r *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	if s.ab == nil {
		return nil, errNoAuth
	}
	as := s.ab.Auth()
	if err := s.ab.Linearize(ctx); err != nil {
		return nil, toGRPCError(err)
	}
	for attempt := 0; ; attempt++ {
		rev, err := as.CheckPassword(r.Name, r.Password)
		if err != nil {
			return nil, toGRPCError(err)
		}
		prefix, err := as.TokenPrefix()
		if err != nil {
			return nil, toGRPCError(err)
		}
		m, err := s.ab.ProposeAuth(ctx, &pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: r.Name, SimpleToken: prefix}})
		if err != nil {
			return nil, toGRPCError(err)
		}
		resp, ok := m.(*pb.AuthenticateResponse)
		if !ok {
			return nil, status.Error(codes.Internal, fmt.Sprintf("kelson: authenticate response %T", m))
		}
		if rev == as.State().Revision || attempt >= 10 {
			resp.Header = s.header(resp.Header)
			return resp, nil
		}
	}
}

func (s *authServer) UserAdd(ctx context.Context, r *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error) {
	if s.ab == nil {
		return nil, errNoAuth
	}
	r = proto.Clone(r).(*pb.AuthUserAddRequest)
	if r.Options == nil || !r.Options.NoPassword {
		h, err := s.ab.Auth().HashPassword(r.Password)
		if err != nil {
			return nil, toGRPCError(err)
		}
		r.HashedPassword, r.Password = h, ""
	}
	return call(s, ctx, &pb.InternalRaftRequest{AuthUserAdd: r}, func(m *pb.AuthUserAddResponse, h *pb.ResponseHeader) { m.Header = h })
}

func (s *authServer) UserDelete(ctx context.Context, r *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error) {
	return call(s, ctx, &pb.InternalRaftRequest{AuthUserDelete: r}, func(m *pb.AuthUserDeleteResponse, h *pb.ResponseHeader) { m.Header = h })
}

func (s *authServer) UserChangePassword(ctx context.Context, r *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error) {
	if s.ab == nil {
		return nil, errNoAuth
	}
	r = proto.Clone(r).(*pb.AuthUserChangePasswordRequest)
	if r.Password != "" {
		h, err := s.ab.Auth().HashPassword(r.Password)
		if err != nil {
			return nil, toGRPCError(err)
		}
		r.HashedPassword, r.Password = h, ""
	}
	return call(s, ctx, &pb.InternalRaftRequest{AuthUserChangePassword: r}, func(m *pb.AuthUserChangePasswordResponse, h *pb.ResponseHeader) { m.Header = h })
}

func (s *authServer) UserGrantRole(ctx context.Context, r *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error) {
	return call(s, ctx, &pb.InternalRaftRequest{AuthUserGrantRole: r}, func(m *pb.AuthUserGrantRoleResponse, h *pb.ResponseHeader) { m.Header = h })
}

func (s *authServer) UserGet(ctx context.Context, r *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error) {
	return call(s, ctx, &pb.InternalRaftRequest{AuthUserGet: r}, func(m *pb.AuthUserGetResponse, h *pb.ResponseHeader) { m.Header = h })
}

func (s *authServer) UserList(ctx context.Context, r *pb.AuthUserListRequest) (*pb.AuthUserListResponse, error) {
	return call(s, ctx, &pb.InternalRaftRequest{AuthUserList: r}, func(m *pb.AuthUserListResponse, h *pb.ResponseHeader) { m.Header = h })
}

func (s *authServer) UserRevokeRole(ctx context.Context, r *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error) {
	return call(s, ctx, &pb.InternalRaftRequest{AuthUserRevokeRole: r}, func(m *pb.AuthUserRevokeRoleResponse, h *pb.ResponseHeader) { m.Header = h })
}

func (s *authServer) RoleAdd(ctx context.Context, r *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error) {
	return call(s, ctx, &pb.InternalRaftRequest{AuthRoleAdd: r}, func(m *pb.AuthRoleAddResponse, h *pb.ResponseHeader) { m.Header = h })
}

func (s *authServer) RoleGrantPermission(ctx context.Context, r *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error) {
	return call(s, ctx, &pb.InternalRaftRequest{AuthRoleGrantPermission: r}, func(m *pb.AuthRoleGrantPermissionResponse, h *pb.ResponseHeader) { m.Header = h })
}

func (s *authServer) RoleGet(ctx context.Context, r *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error) {
	return call(s, ctx, &pb.InternalRaftRequest{AuthRoleGet: r}, func(m *pb.AuthRoleGetResponse, h *pb.ResponseHeader) { m.Header = h })
}

func (s *authServer) RoleList(ctx context.Context, r *pb.AuthRoleListRequest) (*pb.AuthRoleListResponse, error) {
	return call(s, ctx, &pb.InternalRaftRequest{AuthRoleList: r}, func(m *pb.AuthRoleListResponse, h *pb.ResponseHeader) { m.Header = h })
}

func (s *authServer) RoleRevokePermission(ctx context.Context, r *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error) {
	return call(s, ctx, &pb.InternalRaftRequest{AuthRoleRevokePermission: r}, func(m *pb.AuthRoleRevokePermissionResponse, h *pb.ResponseHeader) { m.Header = h })
}

func (s *authServer) RoleDelete(ctx context.Context, r *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error) {
	return call(s, ctx, &pb.InternalRaftRequest{AuthRoleDelete: r}, func(m *pb.AuthRoleDeleteResponse, h *pb.ResponseHeader) { m.Header = h })
}
