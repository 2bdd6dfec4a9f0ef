package kvstore

import (
	"bytes"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Validate checks a request without looking at the store's data: keys
// present, flags consistent, enum values known, at most MaxTxnOps compares
// and operations per txn branch, no key written twice by one txn. raftnode
// calls it before proposing; Apply calls it again before applying.
func (s *Store) Validate(req *pb.InternalRaftRequest) error {
	return ValidateRequest(req, s.opts.MaxTxnOps)
}

// ValidateRequest is Validate for a caller without a store (the gRPC layer,
// which checks requests before they reach any store, as etcd's does), with
// maxOps in place of Options.MaxTxnOps. The errors are the package's
// sentinels, wrapped: ErrEmptyKey, ErrValueProvided, ErrLeaseProvided,
// ErrInvalidSortOption, ErrTooManyOps, ErrDuplicateKey, and
// ErrInvalidRequest for a malformed request (nil or unknown operations,
// unknown compare enums, txns nested too deep).
func ValidateRequest(req *pb.InternalRaftRequest, maxOps int) error {
	if req == nil {
		return fmt.Errorf("%w: nil request", ErrInvalidRequest)
	}
	switch {
	case req.Put != nil:
		return validatePut(req.Put)
	case req.DeleteRange != nil:
		return validateDelete(req.DeleteRange)
	case req.Txn != nil:
		if err := validateTxn(req.Txn, maxOps); err != nil {
			return err
		}
		_, _, err := txnWriteSets(req.Txn.Success)
		if err == nil {
			_, _, err = txnWriteSets(req.Txn.Failure)
		}
		return err
	case req.Range != nil:
		return checkRange(req.Range)
	case req.Compaction != nil, req.LeaseGrant != nil, req.LeaseRevoke != nil, req.LeaseCheckpoint != nil:
		return nil
	}
	return fmt.Errorf("%w: no supported operation in request", ErrInvalidRequest)
}

func validatePut(r *pb.PutRequest) error {
	if len(r.Key) == 0 {
		return ErrEmptyKey
	}
	if r.IgnoreValue && len(r.Value) != 0 {
		return ErrValueProvided
	}
	if r.IgnoreLease && r.Lease != 0 {
		return ErrLeaseProvided
	}
	return nil
}

func validateDelete(r *pb.DeleteRangeRequest) error {
	if len(r.Key) == 0 {
		return ErrEmptyKey
	}
	return nil
}

// maxTxnDepth bounds nesting so a hostile request cannot exhaust the stack.
const maxTxnDepth = 64

func validateTxn(t *pb.TxnRequest, maxOps int) error {
	return validateTxnDepth(t, maxOps, 0)
}

func validateTxnDepth(t *pb.TxnRequest, maxOps, depth int) error {
	if depth > maxTxnDepth {
		return fmt.Errorf("%w: txn nested deeper than %d", ErrInvalidRequest, maxTxnDepth)
	}
	if len(t.Compare) > maxOps || len(t.Success) > maxOps || len(t.Failure) > maxOps {
		return ErrTooManyOps
	}
	for _, c := range t.Compare {
		if c == nil {
			return fmt.Errorf("%w: nil compare", ErrInvalidRequest)
		}
		if len(c.Key) == 0 {
			return ErrEmptyKey
		}
		if _, ok := pb.Compare_CompareResult_name[int32(c.Result)]; !ok {
			return fmt.Errorf("%w: unknown compare result %d", ErrInvalidRequest, c.Result)
		}
		if _, ok := pb.Compare_CompareTarget_name[int32(c.Target)]; !ok {
			return fmt.Errorf("%w: unknown compare target %d", ErrInvalidRequest, c.Target)
		}
	}
	for _, branch := range [][]*pb.RequestOp{t.Success, t.Failure} {
		for _, op := range branch {
			if op == nil {
				return fmt.Errorf("%w: nil txn operation", ErrInvalidRequest)
			}
			var err error
			switch r := op.Request.(type) {
			case *pb.RequestOp_RequestRange:
				if r.RequestRange == nil {
					return fmt.Errorf("%w: empty range operation", ErrInvalidRequest)
				}
				err = checkRange(r.RequestRange)
			case *pb.RequestOp_RequestPut:
				if r.RequestPut == nil {
					return fmt.Errorf("%w: empty put operation", ErrInvalidRequest)
				}
				err = validatePut(r.RequestPut)
			case *pb.RequestOp_RequestDeleteRange:
				if r.RequestDeleteRange == nil {
					return fmt.Errorf("%w: empty delete operation", ErrInvalidRequest)
				}
				err = validateDelete(r.RequestDeleteRange)
			case *pb.RequestOp_RequestTxn:
				if r.RequestTxn == nil {
					return fmt.Errorf("%w: empty txn operation", ErrInvalidRequest)
				}
				err = validateTxnDepth(r.RequestTxn, maxOps, depth+1)
			default:
				return fmt.Errorf("%w: txn operation without a request", ErrInvalidRequest)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// interval is a deleted key range [key, end) with etcd's end rules.
type interval struct{ key, end []byte }

func (iv interval) contains(k []byte) bool { return inRange(k, iv.key, iv.end) }

type intervals []interval

func (ivs intervals) contains(k []byte) bool {
	for _, iv := range ivs {
		if iv.contains(k) {
			return true
		}
	}
	return false
}

// txnWriteSets returns the keys put and the ranges deleted by ops (with
// their nested txns), or ErrDuplicateKey when a key would be written twice:
// two puts of one key, or a put inside a deleted range, at any nesting level.
// The then and else branches of one nested txn exclude each other, so they
// may write the same keys. Deletes may overlap deletes.
func txnWriteSets(ops []*pb.RequestOp) (puts map[string]struct{}, dels intervals, err error) {
	for _, op := range ops {
		if d, ok := op.Request.(*pb.RequestOp_RequestDeleteRange); ok {
			dels = append(dels, interval{d.RequestDeleteRange.Key, d.RequestDeleteRange.RangeEnd})
		}
	}
	puts = make(map[string]struct{})
	for _, op := range ops {
		t, ok := op.Request.(*pb.RequestOp_RequestTxn)
		if !ok {
			continue
		}
		thenPuts, thenDels, err := txnWriteSets(t.RequestTxn.Success)
		if err != nil {
			return nil, nil, err
		}
		elsePuts, elseDels, err := txnWriteSets(t.RequestTxn.Failure)
		if err != nil {
			return nil, nil, err
		}
		for k := range thenPuts {
			if _, dup := puts[k]; dup || dels.contains([]byte(k)) {
				return nil, nil, ErrDuplicateKey
			}
			puts[k] = struct{}{}
		}
		for k := range elsePuts {
			_, dup := puts[k]
			_, fromThen := thenPuts[k]
			if (dup && !fromThen) || dels.contains([]byte(k)) {
				return nil, nil, ErrDuplicateKey
			}
			puts[k] = struct{}{}
		}
		dels = append(dels, thenDels...)
		dels = append(dels, elseDels...)
	}
	for _, op := range ops {
		p, ok := op.Request.(*pb.RequestOp_RequestPut)
		if !ok {
			continue
		}
		k := string(p.RequestPut.Key)
		if _, dup := puts[k]; dup || dels.contains(p.RequestPut.Key) {
			return nil, nil, ErrDuplicateKey
		}
		puts[k] = struct{}{}
	}
	return puts, dels, nil
}

// compareKV evaluates one compare against kv (a zero kv for a missing key).
func compareKV(c *pb.Compare, kv *mvccpb.KeyValue) bool {
	var r int
	switch c.Target {
	case pb.Compare_VALUE:
		r = bytes.Compare(kv.Value, c.GetValue())
	case pb.Compare_CREATE:
		r = cmpInt64(kv.CreateRevision, c.GetCreateRevision())
	case pb.Compare_MOD:
		r = cmpInt64(kv.ModRevision, c.GetModRevision())
	case pb.Compare_VERSION:
		r = cmpInt64(kv.Version, c.GetVersion())
	case pb.Compare_LEASE:
		r = cmpInt64(kv.Lease, c.GetLease())
	}
	switch c.Result {
	case pb.Compare_EQUAL:
		return r == 0
	case pb.Compare_NOT_EQUAL:
		return r != 0
	case pb.Compare_GREATER:
		return r > 0
	default: // LESS; Validate rejects unknown results
		return r < 0
	}
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
