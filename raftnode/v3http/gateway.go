package v3http

import (
	"context"
	"errors"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/metadata"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/kelson-dev/kelson/raftnode/v3rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// unaryFunc decodes a request body, calls a service and returns its
// response.
type unaryFunc func(ctx context.Context, body []byte) (proto.Message, error)

// unary adapts a service method to a unaryFunc.
func unary[Req any, PReq interface {
	*Req
	proto.Message
}, Resp proto.Message](call func(context.Context, PReq) (Resp, error)) unaryFunc {
	return func(ctx context.Context, body []byte) (proto.Message, error) {
		req := PReq(new(Req))
		if err := unmarshal(body, req); err != nil {
			return nil, err
		}
		return call(ctx, req)
	}
}

// unaryRoutes are etcd's gateway paths (rpc.proto's google.api.http
// annotations) for the services Kelson serves.
func unaryRoutes(s *v3rpc.Services) map[string]unaryFunc {
	leaseRevoke := unary(s.Lease.LeaseRevoke)
	leaseTTL := unary(s.Lease.LeaseTimeToLive)
	leaseLeases := unary(s.Lease.LeaseLeases)
	return map[string]unaryFunc{
		"/v3/kv/range":       unary(s.KV.Range),
		"/v3/kv/put":         unary(s.KV.Put),
		"/v3/kv/deleterange": unary(s.KV.DeleteRange),
		"/v3/kv/txn":         unary(s.KV.Txn),
		"/v3/kv/compaction":  unary(s.KV.Compact),

		"/v3/lease/grant":         unary(s.Lease.LeaseGrant),
		"/v3/lease/revoke":        leaseRevoke,
		"/v3/kv/lease/revoke":     leaseRevoke,
		"/v3/lease/timetolive":    leaseTTL,
		"/v3/kv/lease/timetolive": leaseTTL,
		"/v3/lease/leases":        leaseLeases,
		"/v3/kv/lease/leases":     leaseLeases,

		"/v3/cluster/member/add":     unary(s.Cluster.MemberAdd),
		"/v3/cluster/member/remove":  unary(s.Cluster.MemberRemove),
		"/v3/cluster/member/update":  unary(s.Cluster.MemberUpdate),
		"/v3/cluster/member/list":    unary(s.Cluster.MemberList),
		"/v3/cluster/member/promote": unary(s.Cluster.MemberPromote),

		"/v3/maintenance/alarm":               unary(s.Maintenance.Alarm),
		"/v3/maintenance/status":              unary(s.Maintenance.Status),
		"/v3/maintenance/defragment":          unary(s.Maintenance.Defragment),
		"/v3/maintenance/hash":                unary(s.Maintenance.Hash),
		"/v3/maintenance/hashkv":              unary(s.Maintenance.HashKV),
		"/v3/maintenance/transfer-leadership": unary(s.Maintenance.MoveLeader),
		"/v3/maintenance/downgrade":           unary(s.Maintenance.Downgrade),

		"/v3/auth/enable":        unary(s.Auth.AuthEnable),
		"/v3/auth/disable":       unary(s.Auth.AuthDisable),
		"/v3/auth/status":        unary(s.Auth.AuthStatus),
		"/v3/auth/authenticate":  unary(s.Auth.Authenticate),
		"/v3/auth/user/add":      unary(s.Auth.UserAdd),
		"/v3/auth/user/get":      unary(s.Auth.UserGet),
		"/v3/auth/user/list":     unary(s.Auth.UserList),
		"/v3/auth/user/delete":   unary(s.Auth.UserDelete),
		"/v3/auth/user/changepw": unary(s.Auth.UserChangePassword),
		"/v3/auth/user/grant":    unary(s.Auth.UserGrantRole),
		"/v3/auth/user/revoke":   unary(s.Auth.UserRevokeRole),
		"/v3/auth/role/add":      unary(s.Auth.RoleAdd),
		"/v3/auth/role/get":      unary(s.Auth.RoleGet),
		"/v3/auth/role/list":     unary(s.Auth.RoleList),
		"/v3/auth/role/delete":   unary(s.Auth.RoleDelete),
		"/v3/auth/role/grant":    unary(s.Auth.RoleGrantPermission),
		"/v3/auth/role/revoke":   unary(s.Auth.RoleRevokePermission),
	}
}

// withToken passes the HTTP Authorization header to the services as the
// "authorization" metadata etcd's gateway forwards, where they look for a
// token. The in-process call has no TLS peer, so a client certificate
// never names a user here.
func withToken(r *http.Request) context.Context {
	ctx := r.Context()
	if tok := r.Header.Get("Authorization"); tok != "" {
		ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(rpctypes.TokenFieldNameSwagger, tok))
	}
	return ctx
}

// gateway serves /v3/: etcd's JSON API over the services.
type gateway struct {
	log     *slog.Logger
	unary   map[string]unaryFunc
	streams map[string]streamFunc
	// maxBody bounds a request body (JSON carries base64, a third larger
	// than the bytes the gRPC limit counts).
	maxBody int64
}

func newGateway(s *v3rpc.Services, log *slog.Logger, maxRequestBytes int) *gateway {
	return &gateway{
		log:     log,
		unary:   unaryRoutes(s),
		streams: streamRoutes(s),
		maxBody: int64(maxRequestBytes)*2 + 1<<20,
	}
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if rest, ok := strings.CutPrefix(path, "/v3beta/"); ok {
		path = "/v3/" + rest // etcd still answers the 3.3 prefix
	}
	call, isUnary := g.unary[path]
	stream, isStream := g.streams[path]
	switch {
	case !isUnary && !isStream:
		writeError(w, status.Error(codes.NotFound, http.StatusText(http.StatusNotFound)))
		return
	case r.Method != http.MethodPost:
		writeError(w, status.Error(codes.Unimplemented, http.StatusText(http.StatusMethodNotAllowed)))
		return
	}
	if isStream {
		g.serveStream(w, r, path, stream)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, errTooLarge)
			return
		}
		writeError(w, status.Errorf(codes.InvalidArgument, "reading the request body: %v", err))
		return
	}
	resp, err := g.callUnary(withToken(r), path, call, body)
	if err != nil {
		writeError(w, err)
		return
	}
	b, err := marshal(resp)
	if err != nil {
		writeError(w, status.Error(codes.Internal, err.Error()))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// callUnary calls the service, turning a panic into codes.Internal.
func (g *gateway) callUnary(ctx context.Context, path string, call unaryFunc, body []byte) (resp proto.Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			resp, err = nil, recovered(g.log, path, p)
		}
	}()
	resp, err = call(ctx, body)
	if err == nil && isNil(resp) {
		err = status.Error(codes.Internal, "empty response")
	}
	return resp, err
}

// isNil reports a nil message behind a non-nil interface.
func isNil(m proto.Message) bool {
	return m == nil || !m.ProtoReflect().IsValid()
}
