package kvstore

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// The crash tests' model of the store and their deterministic op generator:
// the child derives its requests from the seed and the raft index, so the
// parent regenerates them to know what every acknowledged index wrote.

// ---------------------------------------------------------------------------
// Reference model.

// crashVer is one write of a key in the model.
type crashVer struct {
	rev                    int64
	deleted                bool
	value                  []byte
	create, version, lease int64
}

type crashLease struct{ ttl, remaining int64 }

// crashModel is the expected store: every key's writes in revision order,
// the leases and the revision counters.
type crashModel struct {
	index           uint64
	rev, compactRev int64
	hist            map[string][]crashVer
	keys            []string // every key ever written; sorted when sorted is set
	sorted          bool
	leases          map[int64]*crashLease
	outcomes        map[string]int // request kind and outcome -> count (logged with -v)
}

func newCrashModel() *crashModel {
	return &crashModel{rev: 1, hist: make(map[string][]crashVer), leases: make(map[int64]*crashLease), outcomes: make(map[string]int)}
}

// at returns the write of key visible at rev, or nil if the key did not exist.
func (m *crashModel) at(key string, rev int64) *crashVer {
	vs := m.hist[key]
	i := sort.Search(len(vs), func(i int) bool { return vs[i].rev > rev }) - 1
	if i < 0 || vs[i].deleted {
		return nil
	}
	return &vs[i]
}

func (m *crashModel) cur(key string) *crashVer { return m.at(key, m.rev) }

func (m *crashModel) record(key string, v crashVer) {
	if _, ok := m.hist[key]; !ok {
		m.keys = append(m.keys, key)
		m.sorted = false
	}
	m.hist[key] = append(m.hist[key], v)
}

func (m *crashModel) sortedKeys() []string {
	if !m.sorted {
		slices.Sort(m.keys)
		m.sorted = true
	}
	return m.keys
}

// apply applies the requests of raft index idx and returns the error each
// must fail with (nil: success), as a sentinel for errors.Is.
func (m *crashModel) apply(idx uint64, reqs []*pb.InternalRaftRequest) []error {
	errs := make([]error, len(reqs))
	for i, r := range reqs {
		rev := m.rev
		errs[i] = m.applyOne(r)
		kind := crashKind(r)
		switch {
		case errs[i] != nil:
			kind += " failed"
		case m.rev > rev:
			kind += " wrote"
		default:
			kind += " ok"
		}
		m.outcomes[kind]++
	}
	m.index = idx
	return errs
}

func crashKind(r *pb.InternalRaftRequest) string {
	switch {
	case r.Put != nil:
		return "put"
	case r.DeleteRange != nil:
		return "delete"
	case r.Range != nil:
		return "range"
	case r.Txn != nil:
		return "txn"
	case r.Compaction != nil:
		return "compaction"
	case r.LeaseGrant != nil:
		return "lease-grant"
	case r.LeaseRevoke != nil:
		return "lease-revoke"
	case r.LeaseCheckpoint != nil:
		return "lease-checkpoint"
	}
	return "other"
}

func (m *crashModel) applyOne(r *pb.InternalRaftRequest) error {
	switch {
	case r.Put != nil:
		return m.txn(nil, []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: r.Put}}}, nil)
	case r.DeleteRange != nil:
		return m.txn(nil, []*pb.RequestOp{{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: r.DeleteRange}}}, nil)
	case r.Range != nil:
		return m.txn(nil, []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: r.Range}}}, nil)
	case r.Txn != nil:
		return m.txn(r.Txn.Compare, r.Txn.Success, r.Txn.Failure)
	case r.Compaction != nil:
		switch rev := r.Compaction.Revision; {
		case rev > m.rev:
			return ErrCompactFuture
		case rev <= m.compactRev:
			return ErrCompacted
		default:
			m.compactRev = rev
		}
	case r.LeaseGrant != nil:
		g := r.LeaseGrant
		switch {
		case g.ID == 0 || g.TTL < 1:
			return ErrLeaseInvalid
		case m.leases[g.ID] != nil:
			return ErrLeaseExists
		}
		m.leases[g.ID] = &crashLease{ttl: g.TTL}
	case r.LeaseRevoke != nil:
		id := r.LeaseRevoke.ID
		if m.leases[id] == nil {
			return ErrLeaseNotFound
		}
		rev, changed := m.rev+1, false
		for _, k := range m.keys {
			if c := m.cur(k); c != nil && c.lease == id {
				m.record(k, crashVer{rev: rev, deleted: true})
				changed = true
			}
		}
		if changed {
			m.rev = rev
		}
		delete(m.leases, id)
	case r.LeaseCheckpoint != nil:
		for _, cp := range r.LeaseCheckpoint.Checkpoints {
			if l := m.leases[cp.ID]; l != nil {
				l.remaining = cp.Remaining_TTL
			}
		}
	default:
		return ErrInvalidRequest
	}
	return nil
}

// txn runs a flat transaction whose branches write distinct single keys
// (what the generators produce), so every op sees the state before the txn.
func (m *crashModel) txn(cmps []*pb.Compare, success, failure []*pb.RequestOp) error {
	ops := success
	for _, c := range cmps {
		if !m.compare(c) {
			ops = failure
			break
		}
	}
	for _, op := range ops {
		switch o := op.Request.(type) {
		case *pb.RequestOp_RequestPut:
			if l := o.RequestPut.Lease; l != 0 && m.leases[l] == nil {
				return ErrLeaseNotFound
			}
		case *pb.RequestOp_RequestRange:
			if rev := o.RequestRange.Revision; rev > m.rev {
				return ErrFutureRev
			} else if rev > 0 && rev < m.compactRev {
				return ErrCompacted
			}
		}
	}
	rev, changed := m.rev+1, false
	for _, op := range ops {
		switch o := op.Request.(type) {
		case *pb.RequestOp_RequestPut:
			p := o.RequestPut
			v := crashVer{rev: rev, value: p.Value, lease: p.Lease, create: rev, version: 1}
			if c := m.cur(string(p.Key)); c != nil {
				v.create, v.version = c.create, c.version+1
			}
			m.record(string(p.Key), v)
			changed = true
		case *pb.RequestOp_RequestDeleteRange:
			d := o.RequestDeleteRange
			for _, k := range m.liveIn(d.Key, d.RangeEnd) {
				m.record(k, crashVer{rev: rev, deleted: true})
				changed = true
			}
		}
	}
	if changed {
		m.rev = rev
	}
	return nil
}

func (m *crashModel) liveIn(key, end []byte) []string {
	if len(end) == 0 {
		if m.cur(string(key)) != nil {
			return []string{string(key)}
		}
		return nil
	}
	var out []string
	for _, k := range m.keys {
		if inRange([]byte(k), key, end) && m.cur(k) != nil {
			out = append(out, k)
		}
	}
	return out
}

func (m *crashModel) compare(c *pb.Compare) bool {
	v := m.cur(string(c.Key))
	if v == nil {
		if c.Target == pb.Compare_VALUE {
			return false
		}
		v = &crashVer{}
	}
	var r int
	switch c.Target {
	case pb.Compare_VALUE:
		r = bytes.Compare(v.value, c.GetValue())
	case pb.Compare_CREATE:
		r = cmp.Compare(v.create, c.GetCreateRevision())
	case pb.Compare_MOD:
		r = cmp.Compare(v.rev, c.GetModRevision())
	case pb.Compare_VERSION:
		r = cmp.Compare(v.version, c.GetVersion())
	case pb.Compare_LEASE:
		r = cmp.Compare(v.lease, c.GetLease())
	}
	switch c.Result {
	case pb.Compare_EQUAL:
		return r == 0
	case pb.Compare_NOT_EQUAL:
		return r != 0
	case pb.Compare_GREATER:
		return r > 0
	default:
		return r < 0
	}
}

// rangeAt is the model's range at rev over keys (sorted), in key order.
func (m *crashModel) rangeAt(rev int64, keys []string) []*mvccpb.KeyValue {
	var out []*mvccpb.KeyValue
	for _, k := range keys {
		if v := m.at(k, rev); v != nil {
			out = append(out, &mvccpb.KeyValue{Key: []byte(k), Value: v.value, CreateRevision: v.create,
				ModRevision: v.rev, Version: v.version, Lease: v.lease})
		}
	}
	return out
}

func crashKVString(kv *mvccpb.KeyValue) string {
	if kv == nil {
		return "<none>"
	}
	return fmt.Sprintf("%s=%x c%d m%d v%d l%d", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease)
}

func crashSameKV(a, b *mvccpb.KeyValue) bool {
	return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) && a.CreateRevision == b.CreateRevision &&
		a.ModRevision == b.ModRevision && a.Version == b.Version && a.Lease == b.Lease
}

// advance replays the stream from the model's index up to idx.
func (m *crashModel) advance(cfg crashConfig, idx uint64) {
	for i := m.index + 1; i <= idx; i++ {
		m.apply(i, crashGen(cfg, i, m))
	}
}

// ---------------------------------------------------------------------------
// Entry generators: the requests of index idx from (seed, idx, model).

var crashMixedKeys = func() []string {
	ks := make([]string, 12)
	for i := range ks {
		ks[i] = fmt.Sprintf("/c/%02d", i)
	}
	return ks
}()

func crashGen(cfg crashConfig, idx uint64, m *crashModel) []*pb.InternalRaftRequest {
	r := rand.New(rand.NewPCG(cfg.Seed, idx))
	if cfg.Mode == crashCompact {
		return crashGenCompact(cfg, idx, r, m)
	}
	reqs := make([]*pb.InternalRaftRequest, 1+r.IntN(4))
	for i := range reqs {
		reqs[i] = crashGenMixed(r, m)
	}
	return reqs
}

func crashValue(r *rand.Rand, minLen, maxLen int) []byte {
	v := make([]byte, minLen+r.IntN(maxLen-minLen+1))
	for i := range v {
		v[i] = byte(r.Uint32())
	}
	return v
}

func crashGenMixed(r *rand.Rand, m *crashModel) *pb.InternalRaftRequest {
	key := func() []byte { return []byte(crashMixedKeys[r.IntN(len(crashMixedKeys))]) }
	put := func(k []byte) *pb.PutRequest {
		p := &pb.PutRequest{Key: k, Value: crashValue(r, 0, 32)}
		if r.IntN(4) == 0 {
			p.Lease = 1 + r.Int64N(5) // lease 5 is never granted
		}
		return p
	}
	readRev := func() int64 { return m.rev - r.Int64N(40) } // may be compacted; <= 0 means current
	switch p := r.IntN(100); {
	case p < 45:
		return &pb.InternalRaftRequest{Put: put(key())}
	case p < 57:
		d := &pb.DeleteRangeRequest{Key: key()}
		if r.IntN(3) == 0 {
			d.RangeEnd = key()
		}
		return &pb.InternalRaftRequest{DeleteRange: d}
	case p < 77:
		perm := r.Perm(len(crashMixedKeys))
		branch := func(keys []int) []*pb.RequestOp {
			var ops []*pb.RequestOp
			for _, ki := range keys {
				k := []byte(crashMixedKeys[ki])
				if r.IntN(10) < 7 {
					ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: put(k)}})
				} else {
					ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: k}}})
				}
			}
			if r.IntN(4) == 0 {
				rr := &pb.RangeRequest{Key: key(), Revision: readRev()}
				ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: rr}})
			}
			return ops
		}
		a, b := r.IntN(4), r.IntN(4)
		t := &pb.TxnRequest{Success: branch(perm[:a]), Failure: branch(perm[a : a+b])}
		for range r.IntN(3) {
			c := &pb.Compare{Key: key(), Result: pb.Compare_CompareResult(r.IntN(4)), Target: pb.Compare_CompareTarget(r.IntN(5))}
			cur := m.cur(string(c.Key))
			switch c.Target {
			case pb.Compare_VERSION:
				c.TargetUnion = &pb.Compare_Version{Version: r.Int64N(4)}
			case pb.Compare_CREATE:
				c.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: m.rev - r.Int64N(20)}
			case pb.Compare_MOD:
				c.TargetUnion = &pb.Compare_ModRevision{ModRevision: m.rev - r.Int64N(20)}
			case pb.Compare_VALUE:
				v := crashValue(r, 0, 2)
				if cur != nil && r.IntN(2) == 0 {
					v = cur.value
				}
				c.TargetUnion = &pb.Compare_Value{Value: v}
			case pb.Compare_LEASE:
				c.TargetUnion = &pb.Compare_Lease{Lease: r.Int64N(3)}
			}
			t.Compare = append(t.Compare, c)
		}
		return &pb.InternalRaftRequest{Txn: t}
	case p < 84:
		ttl := 1 + r.Int64N(100)
		if r.IntN(20) == 0 {
			ttl = 0 // invalid
		}
		return &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 1 + r.Int64N(4), TTL: ttl}}
	case p < 90:
		return &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 1 + r.Int64N(4)}}
	case p < 93:
		cp := &pb.LeaseCheckpoint{ID: 1 + r.Int64N(5), Remaining_TTL: r.Int64N(100)}
		return &pb.InternalRaftRequest{LeaseCheckpoint: &pb.LeaseCheckpointRequest{Checkpoints: []*pb.LeaseCheckpoint{cp}}}
	case p < 96:
		return &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: m.rev - 5 - r.Int64N(40)}}
	default:
		return &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: key(), Revision: readRev()}}
	}
}

func crashCompactKey(i int) []byte { return fmt.Appendf(nil, "/z/%06d", i) }

// crashGenCompact: a preload writing every key three times, then a
// compaction of the first two thirds of the history, then small writes
// with a compaction every 10 indexes.
func crashGenCompact(cfg crashConfig, idx uint64, r *rand.Rand, m *crashModel) []*pb.InternalRaftRequest {
	preload := cfg.preload()
	if idx <= preload {
		reqs := make([]*pb.InternalRaftRequest, crashPreloadBatch)
		for j := range reqs {
			k := (int(idx-1)*crashPreloadBatch + j) % cfg.Keys
			reqs[j] = &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: crashCompactKey(k), Value: crashValue(r, 32, 96)}}
		}
		return reqs
	}
	if (idx-preload-1)%10 == 0 {
		behind := int64(50)
		if idx == preload+1 {
			behind = int64(cfg.Keys)
		}
		return []*pb.InternalRaftRequest{{Compaction: &pb.CompactionRequest{Revision: m.rev - behind}}}
	}
	key := func() []byte { return crashCompactKey(r.IntN(cfg.Keys)) }
	reqs := make([]*pb.InternalRaftRequest, 1+r.IntN(3))
	for i := range reqs {
		switch p := r.IntN(10); {
		case p < 8:
			reqs[i] = &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: key(), Value: crashValue(r, 8, 64)}}
		case p < 9:
			reqs[i] = &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: key()}}
		default:
			k1, k2 := r.IntN(cfg.Keys), r.IntN(cfg.Keys-1)
			if k2 >= k1 {
				k2++
			}
			reqs[i] = &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
				Compare: []*pb.Compare{{Key: crashCompactKey(k1), Target: pb.Compare_VERSION, Result: pb.Compare_GREATER, TargetUnion: &pb.Compare_Version{Version: 3}}},
				Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: crashCompactKey(k1), Value: crashValue(r, 8, 16)}}}},
				Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: crashCompactKey(k2), Value: crashValue(r, 8, 16)}}}},
			}}
		}
	}
	return reqs
}
