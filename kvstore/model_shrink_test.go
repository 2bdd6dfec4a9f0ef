package kvstore

// Shrinking support for TestModel: a failing sequence is replayed with ops
// removed or simplified until no smaller variant fails. Revisions inside ops
// are re-based on replay (an op generated at revision 40 that names revision
// 37 names "current - 3" when replayed after fewer writes), so dropping an
// unrelated write does not turn a compacted-read bug into a future-read.

import (
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// refMapRangeRevs applies f to every revision field of a range request.
func refMapRangeRevs(r *pb.RangeRequest, f func(int64) int64) {
	r.Revision = f(r.Revision)
	r.MinModRevision = f(r.MinModRevision)
	r.MaxModRevision = f(r.MaxModRevision)
	r.MinCreateRevision = f(r.MinCreateRevision)
	r.MaxCreateRevision = f(r.MaxCreateRevision)
}

func refMapTxnRevs(t *pb.TxnRequest, f func(int64) int64) {
	for _, c := range t.Compare {
		switch u := c.TargetUnion.(type) {
		case *pb.Compare_CreateRevision:
			u.CreateRevision = f(u.CreateRevision)
		case *pb.Compare_ModRevision:
			u.ModRevision = f(u.ModRevision)
		}
	}
	for _, ops := range [][]*pb.RequestOp{t.Success, t.Failure} {
		for _, op := range ops {
			switch {
			case op.GetRequestRange() != nil:
				refMapRangeRevs(op.GetRequestRange(), f)
			case op.GetRequestTxn() != nil:
				refMapTxnRevs(op.GetRequestTxn(), f)
			}
		}
	}
}

// refClone deep-copies the requests of an op.
func refClone(o refOp) refOp {
	c := o
	if o.rng != nil {
		c.rng = proto.Clone(o.rng).(*pb.RangeRequest)
	}
	if o.put != nil {
		c.put = proto.Clone(o.put).(*pb.PutRequest)
	}
	if o.del != nil {
		c.del = proto.Clone(o.del).(*pb.DeleteRangeRequest)
	}
	if o.txn != nil {
		c.txn = proto.Clone(o.txn).(*pb.TxnRequest)
	}
	c.reqs = nil
	for _, r := range o.reqs {
		c.reqs = append(c.reqs, proto.Clone(r).(*pb.InternalRaftRequest))
	}
	return c
}

// resolve re-bases the op's positive revisions from the revision it was
// generated at to cur (keeping them >= 1).
func (o refOp) resolve(cur int64) refOp {
	if o.genRev == 0 || o.genRev == cur {
		o.genRev = cur
		return o
	}
	d := cur - o.genRev
	f := func(r int64) int64 {
		if r <= 0 {
			return r
		}
		return max(r+d, 1)
	}
	c := refClone(o)
	c.genRev = cur
	if c.rng != nil {
		refMapRangeRevs(c.rng, f)
	}
	if c.txn != nil {
		refMapTxnRevs(c.txn, f)
	}
	if c.kind == opCompact {
		c.rev = f(c.rev)
	}
	for _, r := range c.reqs {
		if r.Txn != nil {
			refMapTxnRevs(r.Txn, f)
		}
		if r.Compaction != nil {
			r.Compaction.Revision = f(r.Compaction.Revision)
		}
		if r.Range != nil {
			refMapRangeRevs(r.Range, f)
		}
	}
	return c
}

// refTxnVariants lists txns with one compare or one op removed, at any
// nesting level.
func refTxnVariants(t *pb.TxnRequest) []*pb.TxnRequest {
	var out []*pb.TxnRequest
	for i := range t.Compare {
		c := proto.Clone(t).(*pb.TxnRequest)
		c.Compare = append(c.Compare[:i], c.Compare[i+1:]...)
		out = append(out, c)
	}
	for b := range 2 {
		ops := func(c *pb.TxnRequest) *[]*pb.RequestOp {
			if b == 0 {
				return &c.Success
			}
			return &c.Failure
		}
		for i, op := range *ops(t) {
			c := proto.Clone(t).(*pb.TxnRequest)
			p := ops(c)
			*p = append((*p)[:i], (*p)[i+1:]...)
			out = append(out, c)
			if n := op.GetRequestTxn(); n != nil {
				for _, v := range refTxnVariants(n) {
					c := proto.Clone(t).(*pb.TxnRequest)
					(*ops(c))[i] = &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: v}}
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// refVariants lists simpler versions of an op.
func refVariants(o refOp) []refOp {
	var out []refOp
	switch o.kind {
	case opTxn:
		for _, v := range refTxnVariants(o.txn) {
			c := o
			c.txn = v
			out = append(out, c)
		}
	case opApply:
		for i := range o.reqs {
			if len(o.reqs) > 1 {
				c := refClone(o)
				c.reqs = append(c.reqs[:i], c.reqs[i+1:]...)
				out = append(out, c)
			}
			if o.reqs[i].Txn != nil {
				for _, v := range refTxnVariants(o.reqs[i].Txn) {
					c := refClone(o)
					c.reqs[i] = &pb.InternalRaftRequest{Txn: v}
					out = append(out, c)
				}
			}
		}
	case opCompact:
		if o.wait {
			c := o
			c.wait = false
			out = append(out, c)
		}
	}
	return out
}

// refShrink looks for a shorter sequence that still fails: it cuts after
// the failing op, drops chunks of ops (halving the chunk size), then
// simplifies single ops, while the budget lasts. (The clock only bounds the
// search; nothing asserts on time.)
func refShrink(cfg refConfig, ops []refOp, budget time.Duration) ([]refOp, int, string) {
	deadline := time.Now().Add(budget)
	ops, at, msg := refReplay(cfg, ops)
	if at < 0 {
		return nil, -1, "" // did not fail again: timing-dependent
	}
	try := func(cand []refOp) bool {
		res, a, m := refReplay(cfg, cand)
		if a < 0 {
			return false
		}
		ops, at, msg = res[:min(a+1, len(res))], a, m
		return true
	}
	for progress := true; progress && time.Now().Before(deadline); {
		progress = false
		for chunk := len(ops) / 2; chunk >= 1 && time.Now().Before(deadline); {
			changed := false
			for start := 0; start < len(ops) && time.Now().Before(deadline); {
				end := min(start+chunk, len(ops))
				if try(append(append([]refOp{}, ops[:start]...), ops[end:]...)) {
					changed, progress = true, true
				} else {
					start += chunk
				}
			}
			if !changed {
				chunk /= 2
			}
		}
		for i := 0; i < len(ops) && time.Now().Before(deadline); i++ {
			for _, v := range refVariants(ops[i]) {
				cand := append([]refOp{}, ops...)
				cand[i] = v
				if try(cand) {
					progress = true
					break
				}
			}
		}
	}
	return ops, at, msg
}
