package kvstore

// Static checks of the reference model (model_test.go): what is wrong with
// a request whatever the store holds, the duplicate-write rules included.

import (
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// --- static checks (request only) ---

func refStaticPut(req *pb.PutRequest) []error {
	var errs []error
	if len(req.Key) == 0 {
		errs = append(errs, ErrEmptyKey)
	}
	if req.IgnoreValue && len(req.Value) != 0 {
		errs = append(errs, ErrValueProvided)
	}
	if req.IgnoreLease && req.Lease != 0 {
		errs = append(errs, ErrLeaseProvided)
	}
	return errs
}

// refStaticTxn collects every static error of a txn: per level too many
// compares or ops in a branch, empty keys anywhere, put flag conflicts, and
// (for the outermost call) duplicate writes.
func (m *refModel) refStaticTxn(req *pb.TxnRequest) []error {
	errs := m.refStaticTxnLevel(req)
	dup := refHasDuplicate
	if m.etcdDup {
		dup = refHasDuplicateEtcd
	}
	if dup(req) {
		errs = append(errs, ErrDuplicateKey)
	}
	return errs
}

func (m *refModel) refStaticTxnLevel(req *pb.TxnRequest) []error {
	var errs []error
	if len(req.Compare) > m.maxTxnOps || len(req.Success) > m.maxTxnOps || len(req.Failure) > m.maxTxnOps {
		errs = append(errs, ErrTooManyOps)
	}
	for _, c := range req.Compare {
		if len(c.Key) == 0 {
			errs = append(errs, ErrEmptyKey)
		}
	}
	for _, ops := range [][]*pb.RequestOp{req.Success, req.Failure} {
		for _, op := range ops {
			switch {
			case op.GetRequestRange() != nil:
				if len(op.GetRequestRange().Key) == 0 {
					errs = append(errs, ErrEmptyKey)
				}
			case op.GetRequestPut() != nil:
				errs = append(errs, refStaticPut(op.GetRequestPut())...)
			case op.GetRequestDeleteRange() != nil:
				if len(op.GetRequestDeleteRange().Key) == 0 {
					errs = append(errs, ErrEmptyKey)
				}
			case op.GetRequestTxn() != nil:
				errs = append(errs, m.refStaticTxnLevel(op.GetRequestTxn())...)
			}
		}
	}
	return errs
}

// refWrite is one write of a txn and where it sits: path lists, for every
// txn level from the outermost, the branch (1 success, 0 failure) and the
// index of the op in that branch.
type refWrite struct {
	path []refPathStep
	put  bool
	span refSpan // a put's span is its single key
}

type refPathStep struct{ branch, op int }

func refCollectWrites(req *pb.TxnRequest, prefix []refPathStep, out *[]refWrite) {
	for b, ops := range [][]*pb.RequestOp{req.Failure, req.Success} {
		for i, op := range ops {
			p := append(slices.Clone(prefix), refPathStep{b, i})
			switch {
			case op.GetRequestPut() != nil:
				*out = append(*out, refWrite{path: p, put: true, span: refSpan{key: string(op.GetRequestPut().Key)}})
			case op.GetRequestDeleteRange() != nil:
				d := op.GetRequestDeleteRange()
				*out = append(*out, refWrite{path: p, span: spanOf(d.Key, d.RangeEnd)})
			case op.GetRequestTxn() != nil:
				refCollectWrites(op.GetRequestTxn(), p, out)
			}
		}
	}
}

// exclusive reports whether two writes can never both execute: at the first
// txn level where their positions differ they are in different branches.
// (Same branch, different ops: both run.)
func (w refWrite) exclusive(o refWrite) bool {
	for d := 0; d < len(w.path) && d < len(o.path); d++ {
		if w.path[d] != o.path[d] {
			return w.path[d].branch != o.path[d].branch
		}
	}
	return false
}

// refHasDuplicate: one txn must not write a key twice. Two puts of one key,
// or a put of a key inside a deleted range, conflict wherever they sit in
// the txn (order does not matter), unless they are in the success and
// failure branches of the same txn. Two deletes never conflict (etcd allows
// overlapping deletes). This is the rule the brief states; etcd's own check
// (checkIntervals) misses a put in an earlier sibling nested txn followed by
// a delete in a later one, and puts under a from-key ("\x00") delete.
func refHasDuplicate(req *pb.TxnRequest) bool {
	var ws []refWrite
	refCollectWrites(req, nil, &ws)
	for i := range ws {
		for j := i + 1; j < len(ws); j++ {
			a, b := ws[i], ws[j]
			if !a.put && !b.put {
				continue
			}
			if !a.put {
				a, b = b, a
			}
			if b.span.contains(a.span.key) && !a.exclusive(b) {
				return true
			}
		}
	}
	return false
}

// refHasDuplicateEtcd is etcd's duplicate check as it behaves (described in
// etcd's docs and code comments; written here from that description): each
// branch is checked on its own; a branch's own deletes are collected first;
// its nested txns are then taken in order, and a put of a nested txn
// conflicts with a put met before or a delete collected so far (the
// branch's own deletes and those of earlier nested txns), then the nested
// txn's deletes are added; the branch's own puts are checked last, against
// everything. So a put in an earlier nested txn and a delete of that key in
// a later sibling nested txn are NOT reported. The same key put in the
// success and failure branches of one nested txn is fine.
func refHasDuplicateEtcd(req *pb.TxnRequest) bool {
	_, _, d1 := refDupEtcdBranch(req.Success)
	_, _, d2 := refDupEtcdBranch(req.Failure)
	return d1 || d2
}

func refDupEtcdBranch(ops []*pb.RequestOp) (map[string]bool, []refSpan, bool) {
	var dels []refSpan
	covered := func(k string) bool {
		for _, sp := range dels {
			if sp.contains(k) {
				return true
			}
		}
		return false
	}
	for _, op := range ops {
		if d := op.GetRequestDeleteRange(); d != nil {
			dels = append(dels, spanOf(d.Key, d.RangeEnd))
		}
	}
	puts := map[string]bool{}
	for _, op := range ops {
		t := op.GetRequestTxn()
		if t == nil {
			continue
		}
		pt, dt, dup := refDupEtcdBranch(t.Success)
		if dup {
			return nil, nil, true
		}
		pe, de, dup := refDupEtcdBranch(t.Failure)
		if dup {
			return nil, nil, true
		}
		for k := range pt {
			if puts[k] || covered(k) {
				return nil, nil, true
			}
			puts[k] = true
		}
		for k := range pe {
			if (puts[k] && !pt[k]) || covered(k) {
				return nil, nil, true
			}
			puts[k] = true
		}
		dels = append(append(dels, dt...), de...)
	}
	for _, op := range ops {
		if p := op.GetRequestPut(); p != nil {
			k := string(p.Key)
			if puts[k] || covered(k) {
				return nil, nil, true
			}
			puts[k] = true
		}
	}
	return puts, dels, false
}
