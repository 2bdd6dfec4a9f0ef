package v3rpc

import (
	"context"
	"github.com/kelson-dev/kelson/raftnode/auth"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// kvServer serves etcdserverpb.KV.
type kvServer struct {
	pb.UnimplementedKVServer
	*server
}

func (s *kvServer) Range(ctx context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := s.validate(&pb.InternalRaftRequest{Range: req}); err != nil {
		return nil, err
	}
	ai, st, err := s.caller(ctx)
	if err == nil {
		err = st.CheckRange(ai, req.Key, req.RangeEnd)
	}
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp, err := s.b.Range(ctx, req)
	if err != nil {
		return nil, toGRPCError(err)
	}
	if err := s.staleAfter(ai); err != nil {
		return nil, err
	}
	if resp == nil {
		resp = &pb.RangeResponse{}
	}
	resp.Header = s.header(resp.Header)
	return resp, nil
}

// RangeStream serves a range as a stream of chunks of at most about
// MaxRequestBytes of key-values each; the last chunk carries the header,
// more and count (so that proto.Merge of all chunks is the Range response).
// There is always at least one chunk.
func (s *kvServer) RangeStream(req *pb.RangeRequest, stream grpc.ServerStreamingServer[pb.RangeStreamResponse]) error {
	resp, err := s.Range(stream.Context(), req)
	if err != nil {
		return err
	}
	kvs := resp.Kvs
	for {
		n, size := 0, 0
		for n < len(kvs) {
			sz := kvFieldSize(kvs[n])
			if n > 0 && size+sz > s.opts.MaxRequestBytes {
				break
			}
			size += sz
			n++
		}
		chunk := &pb.RangeResponse{Kvs: kvs[:n]}
		kvs = kvs[n:]
		if len(kvs) == 0 {
			chunk.Header, chunk.More, chunk.Count = resp.Header, resp.More, resp.Count
		}
		if err := stream.Send(&pb.RangeStreamResponse{RangeResponse: chunk}); err != nil {
			return err
		}
		if len(kvs) == 0 {
			return nil
		}
	}
}

// kvFieldSize is the encoded size of kv as a repeated message field.
func kvFieldSize(kv *mvccpb.KeyValue) int {
	return protowire.SizeTag(2) + protowire.SizeBytes(proto.Size(kv))
}

func (s *kvServer) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	if err := s.validate(&pb.InternalRaftRequest{Put: req}); err != nil {
		return nil, err
	}
	if err := s.checkSize(req); err != nil {
		return nil, err
	}
	// Checked here to fail fast, and again where every member applies it.
	ai, st, err := s.caller(ctx)
	if err == nil {
		err = st.CheckRequest(withHeader(ai, &pb.InternalRaftRequest{Put: req}), nil)
	}
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp, err := s.b.Put(auth.NewContext(ctx, ai), req)
	if err != nil {
		return nil, toGRPCError(err)
	}
	if resp == nil {
		resp = &pb.PutResponse{}
	}
	resp.Header = s.header(resp.Header)
	return resp, nil
}

func (s *kvServer) DeleteRange(ctx context.Context, req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if err := s.validate(&pb.InternalRaftRequest{DeleteRange: req}); err != nil {
		return nil, err
	}
	if err := s.checkSize(req); err != nil {
		return nil, err
	}
	ai, st, err := s.caller(ctx)
	if err == nil {
		err = st.CheckRequest(withHeader(ai, &pb.InternalRaftRequest{DeleteRange: req}), nil)
	}
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp, err := s.b.DeleteRange(auth.NewContext(ctx, ai), req)
	if err != nil {
		return nil, toGRPCError(err)
	}
	if resp == nil {
		resp = &pb.DeleteRangeResponse{}
	}
	resp.Header = s.header(resp.Header)
	return resp, nil
}

func (s *kvServer) Txn(ctx context.Context, req *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := s.validate(&pb.InternalRaftRequest{Txn: req}); err != nil {
		return nil, err
	}
	if err := s.checkSize(req); err != nil {
		return nil, err
	}
	// Every key the txn names, compares and both branches: here (the only
	// check of a read-only txn, served locally), and for a txn that writes
	// again where every member applies it.
	ai, st, err := s.caller(ctx)
	if err == nil {
		err = st.CheckTxn(ai, req, s.leaseKeys)
	}
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp, err := s.b.Txn(auth.NewContext(ctx, ai), req)
	if err != nil {
		return nil, toGRPCError(err)
	}
	if err := s.staleAfter(ai); err != nil {
		return nil, err
	}
	if resp == nil {
		resp = &pb.TxnResponse{}
	}
	resp.Header = s.header(resp.Header)
	return resp, nil
}

// Compact needs an authenticated caller when auth is on (etcd lets anyone
// compact; dropping history is not for anonymous clients).
func (s *kvServer) Compact(ctx context.Context, req *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	ctx, err := s.requireCaller(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := s.b.Compact(ctx, req)
	if err != nil {
		return nil, toGRPCError(err)
	}
	if resp == nil {
		resp = &pb.CompactionResponse{}
	}
	resp.Header = s.header(resp.Header)
	return resp, nil
}

// withHeader gives req the header a proposal by ai would carry, for the
// same checks the members apply.
func withHeader(ai auth.Info, req *pb.InternalRaftRequest) *pb.InternalRaftRequest {
	req.Header = &pb.RequestHeader{}
	ai.SetHeader(req.Header)
	return req
}
