package v3rpc

import (
	"context"

	"github.com/kelson-dev/kelson/raftnode/auth"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"
)

// AuthBackend is what etcd's authentication needs from a member beyond
// Backend. A Backend that also implements it (raftnode's Node) gets the
// Auth service and every call checked; one that does not serves without
// authentication (every call allowed, the Auth service Unimplemented).
type AuthBackend interface {
	// Auth is the member's auth store: its replicated state and tokens.
	Auth() *auth.Store
	// ProposeAuth replicates an auth request (an Auth* field or
	// Authenticate set) with the identity auth.NewContext put in ctx and
	// returns the response once applied on this member.
	ProposeAuth(ctx context.Context, req *pb.InternalRaftRequest) (proto.Message, error)
	// LeaseKeys returns the keys attached to a lease on this member.
	LeaseKeys(id int64) [][]byte
	// Linearize returns once this member has applied everything committed
	// before the call (a linearizable read barrier).
	Linearize(ctx context.Context) error
}

// disabledState is what a backend without auth decides against.
var disabledState = auth.NewState()

// authStore returns the backend's auth store, or nil.
func (s *server) authStore() *auth.Store {
	if s.ab == nil {
		return nil
	}
	return s.ab.Auth()
}

// caller resolves who makes a call, as etcd does:
//
//  1. auth disabled: nobody, and every check passes;
//  2. a token in the request metadata ("token", as clientv3 sends it, or
//     "authorization", as the JSON gateway passes the HTTP header): its
//     user, or ErrInvalidAuthToken when it is not valid (clientv3 then
//     authenticates again);
//  3. no token, and Options.ClientCertAuth: the Common Name of the
//     client's verified TLS certificate (ClientCertCommonName);
//  4. otherwise nobody (the zero Info), which the checks refuse with
//     ErrUserEmpty.
//
// It returns the state to check against: one snapshot for the whole call.
func (s *server) caller(ctx context.Context) (auth.Info, *auth.State, error) {
	as := s.authStore()
	if as == nil {
		return auth.Info{}, disabledState, nil
	}
	st := as.State()
	if !st.Enabled {
		return auth.Info{}, st, nil
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		for _, k := range []string{rpctypes.TokenFieldNameGRPC, rpctypes.TokenFieldNameSwagger} {
			if v := md.Get(k); len(v) > 0 {
				ai, err := as.InfoFromToken(ctx, v[0])
				if err != nil {
					return auth.Info{}, st, err
				}
				return ai, as.State(), nil
			}
		}
	}
	if s.opts.ClientCertAuth {
		if cn := ClientCertCommonName(ctx); cn != "" {
			return as.InfoFromCommonName(cn), st, nil
		}
	}
	return auth.Info{}, st, nil
}

// ClientCertCommonName is the hook of etcd's --client-cert-auth identity:
// the Common Name of the first verified certificate chain the client
// presented on this call's TLS connection, or "" when there is none (plain
// connection, no client certificate, or an in-process call such as the
// JSON gateway's, which must never borrow a certificate). The services use
// it only when Options.ClientCertAuth is set and the call carries no token.
func ClientCertCommonName(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p == nil || p.AuthInfo == nil {
		return ""
	}
	tlsInfo, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return ""
	}
	for _, chain := range tlsInfo.State.VerifiedChains {
		if len(chain) > 0 && chain[0] != nil {
			return chain[0].Subject.CommonName
		}
	}
	return ""
}

// requireCaller: with auth enabled the call must come from someone.
func (s *server) requireCaller(ctx context.Context) (context.Context, error) {
	ai, st, err := s.caller(ctx)
	if err == nil {
		err = st.RequireInfo(ai)
	}
	if err != nil {
		return ctx, toGRPCError(err)
	}
	return auth.NewContext(ctx, ai), nil
}

// requireAdmin: with auth enabled the call must come from a root-role user.
func (s *server) requireAdmin(ctx context.Context) (context.Context, error) {
	ai, st, err := s.caller(ctx)
	if err == nil {
		err = st.CheckAdmin(ai)
	}
	if err != nil {
		return ctx, toGRPCError(err)
	}
	return auth.NewContext(ctx, ai), nil
}

// staleAfter reports ErrAuthOldRevision when the auth state moved while a
// read checked at ai was served, as etcd does after a serializable read.
func (s *server) staleAfter(ai auth.Info) error {
	if ai.Revision == 0 {
		return nil
	}
	if as := s.authStore(); as != nil && as.State().Revision != ai.Revision {
		return toGRPCError(auth.ErrAuthOldRevision)
	}
	return nil
}

// leaseKeys reads a lease's keys for the lease checks (nil without auth).
func (s *server) leaseKeys(id int64) [][]byte {
	if s.ab == nil {
		return nil
	}
	return s.ab.LeaseKeys(id)
}
