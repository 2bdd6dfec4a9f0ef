package raftnode

import (
	"context"
	"fmt"

	"github.com/kelson-dev/kelson/kvstore"
	authpkg "github.com/kelson-dev/kelson/raftnode/auth"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// This file implements v3rpc.AuthBackend: etcd's auth over the node. Auth
// requests are replicated like writes and applied by every member between
// runs of key-value entries (apply.go), so all members hold the same users,
// roles and auth revision; the state is persisted in the store's auxiliary
// records with the applied index.

// Auth returns the member's auth store.
func (n *Node) Auth() *authpkg.Store { return n.auth }

// ProposeAuth replicates an auth request (Auth service calls and
// Authenticate) with the caller's identity from ctx (auth.NewContext) and
// returns its response once applied on this member.
func (n *Node) ProposeAuth(ctx context.Context, req *pb.InternalRaftRequest) (proto.Message, error) {
	if err := n.stopped(); err != nil {
		return nil, err
	}
	if !authpkg.IsAuthRequest(req) {
		return nil, fmt.Errorf("%w: not an auth request", kvstore.ErrInvalidRequest)
	}
	id := n.nextReqID()
	req.Header = &pb.RequestHeader{ID: id}
	if ai, ok := authpkg.FromContext(ctx); ok {
		ai.SetHeader(req.Header)
	}
	data, err := marshalRequest(req)
	if err != nil {
		return nil, err
	}
	if len(data) > n.cfg.MaxRequestBytes {
		return nil, ErrRequestTooLarge
	}
	r, err := n.wait(ctx, id, func() error { return n.proposeEntry(data) })
	if err != nil {
		return nil, err
	}
	return r.Resp, r.Err
}

// LeaseKeys returns the keys attached to lease id in this member's store.
func (n *Node) LeaseKeys(id int64) [][]byte { return leaseKeysOf(n.store.Load())(id) }

// Linearize waits until a read started now would see every write committed
// before it (a ReadIndex round), as etcd does before checking a password.
func (n *Node) Linearize(ctx context.Context) error { return n.linearizable(ctx) }

// forwardCredentials makes the caller's credentials (its token) travel with
// a request this member forwards to the leader, whose services check them
// again. A caller known by its client certificate alone is not forwarded
// as itself: the leader sees no identity (weak spot, see v3rpc).
func forwardCredentials(ctx context.Context) context.Context {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ctx
	}
	for _, k := range []string{rpctypes.TokenFieldNameGRPC, rpctypes.TokenFieldNameSwagger} {
		if v := md.Get(k); len(v) > 0 {
			return metadata.AppendToOutgoingContext(ctx, k, v[0])
		}
	}
	return ctx
}
