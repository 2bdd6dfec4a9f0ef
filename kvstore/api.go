package kvstore

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// Result is the outcome of one request given to Apply: exactly one of Resp
// and Err is set. Resp is the etcd response type matching the request
// (*pb.PutResponse for Put, *pb.TxnResponse for Txn, ...) with
// Header.Revision filled; the caller fills the other header fields.
type Result struct {
	Resp proto.Message
	Err  error
}

// LeaseInfo describes one lease.
type LeaseInfo struct {
	ID int64
	// TTL is the granted time to live in seconds.
	TTL int64
	// RemainingTTL is the last checkpointed remaining TTL in seconds, or 0
	// when never checkpointed (the full TTL then applies).
	RemainingTTL int64
	// Keys are the keys attached to the lease, in key order. Only filled by
	// Lease, not by Leases.
	Keys [][]byte
}

// Put writes one key as its own transaction (not replicated: index 0).
func (s *Store) Put(req *pb.PutRequest) (*pb.PutResponse, error) {
	r := s.applyOne(&pb.InternalRaftRequest{Put: req})
	if r.Err != nil {
		return nil, r.Err
	}
	return r.Resp.(*pb.PutResponse), nil
}

// DeleteRange deletes keys as its own transaction (not replicated: index 0).
func (s *Store) DeleteRange(req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	r := s.applyOne(&pb.InternalRaftRequest{DeleteRange: req})
	if r.Err != nil {
		return nil, r.Err
	}
	return r.Resp.(*pb.DeleteRangeResponse), nil
}

// Txn runs a transaction (not replicated: index 0).
func (s *Store) Txn(req *pb.TxnRequest) (*pb.TxnResponse, error) {
	r := s.applyOne(&pb.InternalRaftRequest{Txn: req})
	if r.Err != nil {
		return nil, r.Err
	}
	return r.Resp.(*pb.TxnResponse), nil
}

// Compact schedules the removal of history superseded at or before rev and
// returns once rev is the compacted revision (reads below it fail with
// ErrCompacted from then on). The space is reclaimed in the background, in
// steps of Options.CompactionBatch keys; WaitCompaction waits for that.
func (s *Store) Compact(rev int64) error {
	return s.applyOne(&pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: rev}}).Err
}

// LeaseGrant creates lease id with ttl seconds.
func (s *Store) LeaseGrant(id, ttl int64) error {
	return s.applyOne(&pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: id, TTL: ttl}}).Err
}

// LeaseRevoke deletes lease id and, in one revision, every key attached to it.
func (s *Store) LeaseRevoke(id int64) error {
	return s.applyOne(&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: id}}).Err
}

func (s *Store) applyOne(req *pb.InternalRaftRequest) Result {
	return s.Apply(0, []*pb.InternalRaftRequest{req}, false)[0]
}
