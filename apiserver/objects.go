package apiserver

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
)

// This file holds the store operations on single objects: read, create,
// replace and delete, each one txn conditioned on the key's revisions.

// errStore marks a failure of the store itself (not of the request).
var errStore = errors.New("apiserver: store")

// get reads one object (linearizable). Not found is a 404 Status error.
func (s *Server) get(ctx context.Context, r *resource, ns, name string) (runtime.Object, error) {
	resp, err := s.cfg.Store.Range(ctx, &pb.RangeRequest{Key: []byte(r.key(ns, name))})
	if err != nil {
		return nil, storeError(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, apierrors.NewNotFound(r.groupResource(), name)
	}
	return s.decode(r, resp.Kvs[0])
}

// create writes a new object; 409 AlreadyExists if the key exists. extra
// ops (allocations) run in the same txn, guarded by extraCmp. It returns
// the object with its resourceVersion set.
func (s *Server) create(ctx context.Context, r *resource, obj runtime.Object, extraCmp []*pb.Compare, extraOps []*pb.RequestOp) (runtime.Object, error) {
	acc, _ := meta.Accessor(obj)
	key := r.key(acc.GetNamespace(), acc.GetName())
	val, err := s.encodeForStore(r, key, obj)
	if err != nil {
		return nil, err
	}
	cmp := append([]*pb.Compare{{Key: []byte(key), Target: pb.Compare_CREATE, Result: pb.Compare_EQUAL,
		TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 0}}}, extraCmp...)
	ops := append([]*pb.RequestOp{putOp(key, val)}, extraOps...)
	resp, err := s.cfg.Store.Txn(ctx, &pb.TxnRequest{Compare: cmp, Success: ops,
		Failure: []*pb.RequestOp{rangeOp(key)}})
	if err != nil {
		return nil, storeError(err)
	}
	if !resp.Succeeded {
		if len(resp.Responses) > 0 && len(resp.Responses[0].GetResponseRange().Kvs) > 0 {
			return nil, apierrors.NewAlreadyExists(r.groupResource(), acc.GetName())
		}
		return nil, errAllocationRace
	}
	acc.SetResourceVersion(strconv.FormatInt(resp.Header.Revision, 10))
	return obj, nil
}

// storedStale reports whether key's stored value (at mod revision rev)
// was written with an older encryption provider or key than r's first, so
// that an unchanged update must still rewrite it. It reads the store only
// for resources with more than one way to read a value; a read that fails
// or finds another revision says stale (the write's compare decides).
func (s *Server) storedStale(ctx context.Context, r *resource, key string, rev int64) bool {
	if !r.enc.MayBeStale() {
		return false
	}
	resp, err := s.cfg.Store.Range(ctx, &pb.RangeRequest{Key: []byte(key)})
	if err != nil || len(resp.Kvs) == 0 || resp.Kvs[0].ModRevision != rev {
		return true
	}
	_, stale, err := r.enc.Decrypt(resp.Kvs[0].Key, resp.Kvs[0].Value)
	return stale || err != nil
}

// errAllocationRace: an allocation made for a create or update was taken
// by another writer between the read and the txn; the caller retries.
var errAllocationRace = errors.New("apiserver: allocation taken concurrently")

// replace writes obj over the stored object whose mod revision is rev;
// 409 Conflict if it changed since.
func (s *Server) replace(ctx context.Context, r *resource, obj runtime.Object, rev int64, extraCmp []*pb.Compare, extraOps []*pb.RequestOp) (runtime.Object, error) {
	acc, _ := meta.Accessor(obj)
	key := r.key(acc.GetNamespace(), acc.GetName())
	val, err := s.encodeForStore(r, key, obj)
	if err != nil {
		return nil, err
	}
	cmp := append([]*pb.Compare{modRevIs(key, rev)}, extraCmp...)
	resp, err := s.cfg.Store.Txn(ctx, &pb.TxnRequest{Compare: cmp,
		Success: append([]*pb.RequestOp{putOp(key, val)}, extraOps...),
		Failure: []*pb.RequestOp{rangeOp(key)}})
	if err != nil {
		return nil, storeError(err)
	}
	if !resp.Succeeded {
		return nil, s.txnFailure(r, acc.GetName(), rev, resp)
	}
	acc.SetResourceVersion(strconv.FormatInt(resp.Header.Revision, 10))
	return obj, nil
}

// remove deletes the object whose mod revision is rev, with extra ops
// (releases) in the same txn.
func (s *Server) remove(ctx context.Context, r *resource, ns, name string, rev int64, extraOps []*pb.RequestOp) (int64, error) {
	key := r.key(ns, name)
	resp, err := s.cfg.Store.Txn(ctx, &pb.TxnRequest{Compare: []*pb.Compare{modRevIs(key, rev)},
		Success: append([]*pb.RequestOp{{Request: &pb.RequestOp_RequestDeleteRange{
			RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(key)}}}}, extraOps...),
		Failure: []*pb.RequestOp{rangeOp(key)}})
	if err != nil {
		return 0, storeError(err)
	}
	if !resp.Succeeded {
		return 0, s.txnFailure(r, name, rev, resp)
	}
	return resp.Header.Revision, nil
}

// txnFailure says why a txn on an existing object failed: gone (404),
// changed (409), or an extra compare (allocation race).
func (s *Server) txnFailure(r *resource, name string, rev int64, resp *pb.TxnResponse) error {
	kvs := resp.Responses[0].GetResponseRange().Kvs
	switch {
	case len(kvs) == 0:
		return apierrors.NewNotFound(r.groupResource(), name)
	case kvs[0].ModRevision != rev:
		return conflict(r, name)
	}
	return errAllocationRace
}

func conflict(r *resource, name string) error {
	return apierrors.NewConflict(r.groupResource(), name,
		errors.New("the object has been modified; please apply your changes to the latest version and try again"))
}

func modRevIs(key string, rev int64) *pb.Compare {
	return &pb.Compare{Key: []byte(key), Target: pb.Compare_MOD, Result: pb.Compare_EQUAL,
		TargetUnion: &pb.Compare_ModRevision{ModRevision: rev}}
}

func putOp(key string, val []byte) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: val}}}
}

func rangeOp(key string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(key)}}}
}

// storeError turns a store failure into a Status: 504 for timeouts —
// the write may still commit, and a client must not take it as undone —
// 503 otherwise (the store is unavailable; the client may retry).
func storeError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || storeTimedOut(err) {
		return apierrors.NewTimeoutError(fmt.Sprintf("the store did not answer in time: %v", err), 1)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return apierrors.NewServiceUnavailable(fmt.Sprintf("%v: %v", errStore, err))
}

// storeTimedOut: etcd's "request timed out" errors, in all their forms
// (leader failure, connection lost, applied index): a proposal whose fate
// the member does not know yet. Matched on the text, which survives the
// wrapping and the gRPC hop that a typed error does not.
func storeTimedOut(err error) bool {
	return strings.Contains(err.Error(), "request timed out")
}

// revOf reads an object's resourceVersion as a revision.
func revOf(obj runtime.Object) int64 {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return 0
	}
	rv, _ := strconv.ParseInt(acc.GetResourceVersion(), 10, 64)
	return rv
}
