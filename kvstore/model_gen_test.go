package kvstore

// Random operations for TestModel. The key space is tiny on purpose so that
// puts collide, deletes hit, keys are re-created and compares match often.

import (
	"fmt"
	"math/rand/v2"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

type refOpKind int

const (
	opRange refOpKind = iota
	opPut
	opDelete
	opTxn
	opCompact
	opLeaseGrant
	opLeaseRevoke
	opLease
	opLeases
	opApply
	opReopen
	opCheckAll
)

// refOp is one concrete operation. Ops are generated from the model's
// state but carry absolute values only, so a recorded sequence can be
// replayed (and shrunk) on a fresh store and model.
type refOp struct {
	kind  refOpKind
	rng   *pb.RangeRequest
	put   *pb.PutRequest
	del   *pb.DeleteRangeRequest
	txn   *pb.TxnRequest
	rev   int64 // opCompact
	wait  bool  // opCompact: WaitCompaction afterwards
	id    int64 // lease ops
	ttl   int64
	index uint64 // opApply
	reqs  []*pb.InternalRaftRequest
	sync  bool
	// genRev is the model's revision when the op was generated; replays
	// re-base the op's revisions on it (see resolve).
	genRev int64
}

func refText(m proto.Message) string {
	return strings.TrimSpace(prototext.MarshalOptions{}.Format(m))
}

func (o refOp) String() string {
	switch o.kind {
	case opRange:
		return "Range{" + refText(o.rng) + "}"
	case opPut:
		return "Put{" + refText(o.put) + "}"
	case opDelete:
		return "DeleteRange{" + refText(o.del) + "}"
	case opTxn:
		return "Txn{" + refText(o.txn) + "}"
	case opCompact:
		return fmt.Sprintf("Compact(%d) wait=%v", o.rev, o.wait)
	case opLeaseGrant:
		return fmt.Sprintf("LeaseGrant(%d, %d)", o.id, o.ttl)
	case opLeaseRevoke:
		return fmt.Sprintf("LeaseRevoke(%d)", o.id)
	case opLease:
		return fmt.Sprintf("Lease(%d)", o.id)
	case opLeases:
		return "Leases()"
	case opApply:
		var parts []string
		for _, r := range o.reqs {
			parts = append(parts, "{"+refText(r)+"}")
		}
		return fmt.Sprintf("Apply(%d, [%s], sync=%v)", o.index, strings.Join(parts, ", "), o.sync)
	case opReopen:
		return "Close+Open"
	case opCheckAll:
		return "CheckAll (every revision, leases, applied index)"
	}
	return fmt.Sprintf("op(%d)", o.kind)
}

var (
	refKeys   = []string{"a", "a/1", "a/2", "b", "b/1", "c", "d", "\xff"}
	refValues = []string{"", "x", "y", "zz"}
)

type refGen struct {
	r *rand.Rand
	m *refModel
}

func (g *refGen) pct(p int) bool { return g.r.IntN(100) < p }

func (g *refGen) key() []byte {
	switch {
	case g.pct(2):
		return []byte("\x00")
	case g.pct(3):
		return []byte("zz") // never written by most ops: a miss
	}
	return []byte(refKeys[g.r.IntN(len(refKeys))])
}

func (g *refGen) value() []byte {
	if g.pct(3) {
		b := make([]byte, 50+g.r.IntN(200))
		for i := range b {
			b[i] = byte(g.r.IntN(256))
		}
		return b
	}
	v := refValues[g.r.IntN(len(refValues))]
	if v == "" {
		return nil
	}
	return []byte(v)
}

// span returns a key and range end in one of the API's spellings.
func (g *refGen) span() (key, end []byte) {
	switch g.r.IntN(12) {
	case 0, 1, 2, 3, 4:
		return g.key(), nil
	case 5, 6:
		return g.key(), g.key() // may be empty (end <= key)
	case 7:
		a, b := g.key(), g.key()
		if string(a) > string(b) {
			a, b = b, a
		}
		return a, b
	case 8:
		if g.pct(50) {
			return []byte("a/"), []byte("a0") // prefix a/
		}
		return []byte("b"), []byte("c") // prefix b
	case 9, 10:
		return g.key(), []byte{0} // from key
	default:
		return []byte{0}, []byte{0} // everything
	}
}

// rev picks a revision to read at or compare with: around the compacted
// and current revisions so that both errors and edges are hit.
func (g *refGen) rev() int64 {
	lo := g.m.compactRev - 1
	if lo < 1 {
		lo = 1
	}
	return lo + g.r.Int64N(g.m.rev+2-lo)
}

func (g *refGen) leaseID() int64 {
	if len(g.m.leases) > 0 && g.pct(75) {
		ids := g.m.Leases()
		return ids[g.r.IntN(len(ids))].ID
	}
	return 1 + g.r.Int64N(6)
}

// noKey: now and then a request without a key (ErrEmptyKey); rarer inside
// txns, which hold many requests.
func (g *refGen) noKey(inTxn bool) bool {
	if inTxn {
		return g.r.IntN(1000) < 3
	}
	return g.pct(1)
}

func (g *refGen) rangeReq(inTxn bool) *pb.RangeRequest {
	k, e := g.span()
	req := &pb.RangeRequest{Key: k, RangeEnd: e}
	if g.pct(30) {
		req.Revision = g.rev()
	} else if !inTxn && g.pct(2) {
		req.Revision = -1 // <= 0 means current (etcd)
	}
	if g.pct(25) {
		req.Limit = 1 + g.r.Int64N(4)
	}
	if g.pct(35) {
		req.SortOrder = pb.RangeRequest_SortOrder(g.r.IntN(3))
		req.SortTarget = pb.RangeRequest_SortTarget(g.r.IntN(5))
	}
	if g.pct(10) {
		req.CountOnly = true
	}
	if g.pct(15) {
		req.KeysOnly = true
	}
	if g.pct(15) {
		switch g.r.IntN(4) {
		case 0:
			req.MinModRevision = g.rev()
		case 1:
			req.MaxModRevision = g.rev()
		case 2:
			req.MinCreateRevision = g.rev()
		default:
			req.MaxCreateRevision = g.rev()
		}
	}
	if g.noKey(inTxn) {
		req.Key = nil
	}
	return req
}

func (g *refGen) putReq(inTxn bool) *pb.PutRequest {
	req := &pb.PutRequest{Key: g.key(), Value: g.value(), PrevKv: g.pct(50)}
	if g.pct(30) {
		req.Lease = g.leaseID()
	}
	if g.pct(12) {
		req.IgnoreValue = true
		if !g.pct(10) {
			req.Value = nil
		}
	}
	if g.pct(12) {
		req.IgnoreLease = true
		if !g.pct(10) {
			req.Lease = 0
		}
	}
	if g.noKey(inTxn) {
		req.Key = nil
	}
	return req
}

func (g *refGen) deleteReq(inTxn bool) *pb.DeleteRangeRequest {
	k, e := g.span()
	req := &pb.DeleteRangeRequest{Key: k, RangeEnd: e, PrevKv: g.pct(50)}
	if g.noKey(inTxn) {
		req.Key = nil
	}
	return req
}

// compare builds a compare whose operand is often the key's actual value so
// that EQUAL holds now and then.
func (g *refGen) compare() *pb.Compare {
	c := &pb.Compare{
		Target: pb.Compare_CompareTarget(g.r.IntN(5)),
		Result: pb.Compare_CompareResult(g.r.IntN(4)),
	}
	if g.pct(25) {
		c.Key, c.RangeEnd = g.span()
	} else {
		c.Key = g.key()
	}
	actual, exists := g.m.cur()[string(c.Key)]
	useActual := exists && g.pct(50)
	pick := func(real int64, max int64) int64 {
		if useActual {
			return real
		}
		return g.r.Int64N(max + 1)
	}
	switch c.Target {
	case pb.Compare_VERSION:
		c.TargetUnion = &pb.Compare_Version{Version: pick(actual.version, 4)}
	case pb.Compare_CREATE:
		c.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: pick(actual.create, g.m.rev+1)}
	case pb.Compare_MOD:
		c.TargetUnion = &pb.Compare_ModRevision{ModRevision: pick(actual.mod, g.m.rev+1)}
	case pb.Compare_VALUE:
		v := g.value()
		if useActual {
			v = actual.value
		}
		c.TargetUnion = &pb.Compare_Value{Value: v}
	case pb.Compare_LEASE:
		l := int64(0)
		if useActual {
			l = actual.lease
		} else if g.pct(50) {
			l = g.leaseID()
		}
		c.TargetUnion = &pb.Compare_Lease{Lease: l}
	}
	if g.r.IntN(1000) < 3 {
		c.Key = nil
	}
	return c
}

func (g *refGen) ops(depth, n int) []*pb.RequestOp {
	var ops []*pb.RequestOp
	for range n {
		var op *pb.RequestOp
		switch p := g.r.IntN(100); {
		case p < 30:
			op = &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: g.rangeReq(true)}}
		case p < 65:
			op = &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: g.putReq(true)}}
		case p < 85 || depth >= 2:
			op = &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: g.deleteReq(true)}}
		default:
			op = &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: g.txnLevel(depth + 1)}}
		}
		ops = append(ops, op)
	}
	return ops
}

// branchLen is usually within MaxTxnOps and now and then just past it.
func (g *refGen) branchLen() int {
	if g.m.maxTxnOps <= 8 && g.pct(4) {
		return g.m.maxTxnOps + 1
	}
	n := g.r.IntN(5)
	if n > g.m.maxTxnOps {
		n = g.m.maxTxnOps
	}
	return n
}

func (g *refGen) txnLevel(depth int) *pb.TxnRequest {
	req := &pb.TxnRequest{}
	nc := g.r.IntN(4)
	if g.m.maxTxnOps <= 8 && g.pct(3) {
		nc = g.m.maxTxnOps + 1
	}
	for range nc {
		req.Compare = append(req.Compare, g.compare())
	}
	req.Success = g.ops(depth, g.branchLen())
	req.Failure = g.ops(depth, g.branchLen())
	return req
}

// txnReq: most txns are made free of duplicate writes (a few attempts),
// one in ten is left as it came. With the default MaxTxnOps (128) one txn
// in a hundred is made too long on purpose.
func (g *refGen) txnReq() *pb.TxnRequest {
	keepDup := g.pct(10)
	var req *pb.TxnRequest
	for range 6 {
		req = g.txnLevel(0)
		if keepDup || !refHasDuplicate(req) {
			break
		}
	}
	if g.m.maxTxnOps > 8 && g.pct(1) {
		for len(req.Success) <= g.m.maxTxnOps {
			req.Success = append(req.Success, &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: g.key()}}})
		}
	}
	return req
}

func (g *refGen) compactOp() refOp {
	o := refOp{kind: opCompact, wait: g.pct(50)}
	switch p := g.r.IntN(100); {
	case p < 10:
		o.rev = g.m.rev + 1 + g.r.Int64N(2) // future
	case p < 20:
		o.rev = g.m.compactRev - g.r.Int64N(2) // already compacted (0 when never)
	default:
		lo := g.m.compactRev + 1
		if lo > g.m.rev {
			o.rev = g.m.rev // nothing left to compact: ErrCompacted
		} else {
			o.rev = lo + g.r.Int64N(g.m.rev-lo+1)
		}
	}
	return o
}

// writeReq is a request for Apply: a write of some kind.
func (g *refGen) writeReq() *pb.InternalRaftRequest {
	switch g.r.IntN(11) {
	case 10:
		return &pb.InternalRaftRequest{Range: g.rangeReq(false)}
	case 0, 1, 2:
		return &pb.InternalRaftRequest{Put: g.putReq(false)}
	case 3:
		return &pb.InternalRaftRequest{DeleteRange: g.deleteReq(false)}
	case 4, 5, 6:
		return &pb.InternalRaftRequest{Txn: g.txnReq()}
	case 7:
		return &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: g.compactOp().rev}}
	case 8:
		return &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: g.leaseID(), TTL: 1 + g.r.Int64N(100)}}
	default:
		if g.pct(30) {
			cp := &pb.LeaseCheckpointRequest{}
			for range 1 + g.r.IntN(2) {
				cp.Checkpoints = append(cp.Checkpoints, &pb.LeaseCheckpoint{ID: g.leaseID(), Remaining_TTL: 1 + g.r.Int64N(50)})
			}
			return &pb.InternalRaftRequest{LeaseCheckpoint: cp}
		}
		return &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: g.leaseID()}}
	}
}

// next generates the next op from the model's current state.
func (g *refGen) next() refOp {
	switch p := g.r.IntN(1000); {
	case p < 230:
		return refOp{kind: opRange, rng: g.rangeReq(false)}
	case p < 480:
		return refOp{kind: opPut, put: g.putReq(false)}
	case p < 580:
		return refOp{kind: opDelete, del: g.deleteReq(false)}
	case p < 780:
		return refOp{kind: opTxn, txn: g.txnReq()}
	case p < 810:
		return g.compactOp()
	case p < 850:
		o := refOp{kind: opLeaseGrant, id: 1 + g.r.Int64N(6), ttl: 1 + g.r.Int64N(100)}
		if g.pct(10) {
			o.ttl = 0
		}
		if g.pct(5) {
			o.id = 0
		}
		return o
	case p < 880:
		return refOp{kind: opLeaseRevoke, id: g.leaseID()}
	case p < 900:
		return refOp{kind: opLease, id: g.leaseID()}
	case p < 910:
		return refOp{kind: opLeases}
	case p < 970:
		o := refOp{kind: opApply, index: g.m.applied + 1 + uint64(g.r.IntN(2)), sync: g.pct(50)}
		if g.pct(15) {
			o.index = uint64(g.r.IntN(int(g.m.applied) + 1)) // replayed (or 0)
		}
		for range 1 + g.r.IntN(3) {
			o.reqs = append(o.reqs, g.writeReq())
		}
		return o
	case p < 985:
		return refOp{kind: opReopen}
	default:
		return refOp{kind: opCheckAll}
	}
}
