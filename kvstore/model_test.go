package kvstore

// This file holds the reference model that TestModel (model_run_test.go)
// checks the store against. It is deliberately naive: plain maps, one full
// copy of the live key set per revision, no indexes, no encoding. Whenever the
// store and the model disagree, the model is the easier one to read and argue
// about.
//
// The semantics are etcd v3's. Where etcd's behaviour is subtle the comment at
// the spot says what etcd does and why the model follows it:
//
//   - A fresh store is at revision 1; the first write gets revision 2.
//   - Every response header carries the store's current revision (a Range at
//     an old revision still reports the current one in its header).
//   - A Txn is checked in two phases before anything is written. Static
//     checks look only at the request (both branches, every nesting level):
//     too many ops, empty keys, value/lease provided with ignore_*,
//     duplicate writes. Dynamic checks look at the store at the start of the
//     txn, only along the executed path: puts naming a missing key with
//     ignore_*, puts naming a missing lease, ranges at a future or compacted
//     revision. Any failure aborts the whole txn with no change. The model
//     accepts any error of the first phase that has one (etcd returns the
//     first it meets; which one is first is not part of the contract).
//   - Every compare, nested ones included, is evaluated against the store
//     at the start of the outermost txn (etcd computes the whole branch path
//     before executing any op), while ranges inside the txn see the txn's
//     earlier writes.
//   - Headers inside a txn are etcd's: a nested Put reports begin+1; a
//     nested Range reports begin, or begin+1 once the txn has changed
//     something; a nested DeleteRange reports begin+1 if it or an earlier op
//     changed something. A nested TxnResponse carries an empty header (etcd).
//     -model.loose-headers drops nested headers from the comparison.
//   - Duplicate writes: by default etcd's order-dependent check
//     (refHasDuplicateEtcd), which the store implements because clients
//     expect etcd's answers: a put is checked against the puts and deletes
//     collected before it, so a put followed by a delete of the same key in
//     a later sibling nested txn passes. -model.dup=stated selects a
//     stricter rule (any put/put or put/delete overlap that can both run,
//     refHasDuplicate) for exploring that difference.
//   - Range sorts are stable: ties keep ascending key order, for DESCEND
//     too (etcd's sort is unstable). A target other than KEY with order NONE
//     sorts ascending (etcd).
//   - Top-level Range revision <= 0 means current (etcd); ranges inside a txn
//     name 0 or a revision in [compacted, start of txn].
//   - Compact(rev <= compacted) is ErrCompacted, and the compacted revision
//     of a never compacted store is 0, so Compact(0) fails (etcd, whose
//     initial compacted revision is -1, accepts it).
//   - Leases: a revoke deletes the attached keys in one revision (none if it
//     has none); a checkpoint sets RemainingTTL of known leases and ignores
//     unknown IDs; lease operations never change the revision themselves.
//
// Files: model_test.go (this model), model_check_test.go (static checks,
// duplicate-write rules), model_gen_test.go (random ops),
// model_run_test.go (TestModel, comparison), model_shrink_test.go (replay
// and shrinking of a failing sequence), model_crash_test.go (crash
// recovery, replica hashes, concurrent reads), model_regress_test.go (short
// pinned sequences), fuzz_txn_test.go (fuzz targets).

import (
	"bytes"
	"errors"
	"slices"
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// refKV is one live key's state.
type refKV struct {
	value   []byte
	create  int64
	mod     int64
	version int64
	lease   int64
}

// refState is the set of live keys at one revision.
type refState map[string]refKV

func (st refState) clone() refState {
	c := make(refState, len(st))
	for k, v := range st {
		c[k] = v
	}
	return c
}

// keysIn returns the live keys of sp in ascending order.
func (st refState) keysIn(sp refSpan) []string {
	var ks []string
	for k := range st {
		if sp.contains(k) {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}

func (st refState) pbKV(k string, keysOnly bool) *mvccpb.KeyValue {
	v := st[k]
	kv := &mvccpb.KeyValue{
		Key:            []byte(k),
		CreateRevision: v.create,
		ModRevision:    v.mod,
		Version:        v.version,
		Lease:          v.lease,
	}
	if !keysOnly {
		kv.Value = slices.Clone(v.value)
	}
	return kv
}

// refSpan is a key range spelled as the etcd API spells it: end empty means
// the single key; end "\x00" means every key >= key; otherwise [key, end)
// (empty when end <= key). key "\x00" with end "\x00" is thus every key.
type refSpan struct{ key, end string }

func spanOf(key, end []byte) refSpan { return refSpan{string(key), string(end)} }

func (sp refSpan) contains(k string) bool {
	switch {
	case sp.end == "":
		return k == sp.key
	case sp.end == "\x00":
		return k >= sp.key
	default:
		return k >= sp.key && k < sp.end
	}
}

// refResult is what the model expects from one request: either a response
// (nil when the store's response is not compared, e.g. Compact) or a
// non-empty set of acceptable errors.
type refResult struct {
	resp proto.Message
	errs []error
}

func refFail(errs ...error) refResult { return refResult{errs: errs} }

// refLease is a granted lease: its TTL and the last checkpointed remaining
// TTL (0 when never checkpointed).
type refLease struct{ ttl, remaining int64 }

// refModel is the reference model of a Store.
type refModel struct {
	rev        int64
	compactRev int64
	// hist[r] is the live key set at revision r, for 1 <= r <= rev. It is
	// never trimmed: the model answers reads below compactRev with
	// ErrCompacted by checking compactRev, not by forgetting.
	hist      []refState
	leases    map[int64]refLease
	applied   uint64
	maxTxnOps int
	// etcdDup selects etcd's order-dependent duplicate-write check
	// (refHasDuplicateEtcd) instead of the stated rule (refHasDuplicate).
	etcdDup bool
}

func newRefModel(maxTxnOps int) *refModel {
	if maxTxnOps == 0 {
		maxTxnOps = 128
	}
	return &refModel{
		rev:       1,
		hist:      []refState{nil, {}},
		leases:    map[int64]refLease{},
		maxTxnOps: maxTxnOps,
		etcdDup:   *refDupFlag == "etcd",
	}
}

func (m *refModel) cur() refState { return m.hist[m.rev] }

func refHeader(rev int64) *pb.ResponseHeader { return &pb.ResponseHeader{Revision: rev} }

// rangeOver answers req over the key set st (revision checks are the
// caller's). Header is left nil. The order of steps is etcd's: count is the
// number of keys in the range before filters and limit; the mod/create
// filters apply next, then the sort, then the limit (more = truncated).
func refRangeOver(st refState, req *pb.RangeRequest) *pb.RangeResponse {
	keys := st.keysIn(spanOf(req.Key, req.RangeEnd))
	resp := &pb.RangeResponse{Count: int64(len(keys))}
	if req.CountOnly {
		return resp
	}
	var kvs []*mvccpb.KeyValue
	for _, k := range keys {
		kv := st.pbKV(k, req.KeysOnly)
		if req.MaxModRevision != 0 && kv.ModRevision > req.MaxModRevision {
			continue
		}
		if req.MinModRevision != 0 && kv.ModRevision < req.MinModRevision {
			continue
		}
		if req.MaxCreateRevision != 0 && kv.CreateRevision > req.MaxCreateRevision {
			continue
		}
		if req.MinCreateRevision != 0 && kv.CreateRevision < req.MinCreateRevision {
			continue
		}
		kvs = append(kvs, kv)
	}
	// Sorting. The input is in ascending key order. A target other than KEY
	// with order NONE sorts ascending (etcd). The sort is stable, so ties
	// keep ascending key order, for DESCEND too (Kelson's choice; etcd's
	// sort is unstable and leaves ties unspecified).
	order := req.SortOrder
	if order == pb.RangeRequest_NONE && req.SortTarget != pb.RangeRequest_KEY {
		order = pb.RangeRequest_ASCEND
	}
	if order != pb.RangeRequest_NONE {
		cmp := func(a, b *mvccpb.KeyValue) int {
			switch req.SortTarget {
			case pb.RangeRequest_VERSION:
				return cmp64(a.Version, b.Version)
			case pb.RangeRequest_CREATE:
				return cmp64(a.CreateRevision, b.CreateRevision)
			case pb.RangeRequest_MOD:
				return cmp64(a.ModRevision, b.ModRevision)
			case pb.RangeRequest_VALUE:
				// keys_only has dropped the values from kvs; sort on the
				// stored ones.
				return bytes.Compare(st[string(a.Key)].value, st[string(b.Key)].value)
			default:
				return bytes.Compare(a.Key, b.Key)
			}
		}
		if order == pb.RangeRequest_DESCEND {
			asc := cmp
			cmp = func(a, b *mvccpb.KeyValue) int { return asc(b, a) }
		}
		slices.SortStableFunc(kvs, cmp)
	}
	if req.Limit > 0 && int64(len(kvs)) > req.Limit {
		kvs = kvs[:req.Limit]
		resp.More = true
	}
	resp.Kvs = kvs
	return resp
}

func cmp64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Range is a top-level Range. etcd: revision <= 0 means the current one;
// > current is ErrFutureRev; < compacted is ErrCompacted (== is fine).
func (m *refModel) Range(req *pb.RangeRequest) refResult {
	if len(req.Key) == 0 {
		return refFail(ErrEmptyKey)
	}
	rev := req.Revision
	if rev > m.rev {
		return refFail(ErrFutureRev)
	}
	if rev <= 0 {
		rev = m.rev
	}
	if rev < m.compactRev {
		return refFail(ErrCompacted)
	}
	resp := refRangeOver(m.hist[rev], req)
	resp.Header = refHeader(m.rev)
	return refResult{resp: resp}
}

// --- compares ---

// refCompare evaluates one compare over st. etcd: with no key in the span,
// a VALUE compare is false and the other targets compare a zero KeyValue
// (version, create, mod and lease 0); otherwise every key of the span must
// satisfy it. Keys of the span that do not exist are not considered.
func refCompare(st refState, c *pb.Compare) bool {
	keys := st.keysIn(spanOf(c.Key, c.RangeEnd))
	if len(keys) == 0 {
		if c.Target == pb.Compare_VALUE {
			return false
		}
		return refCompareKV(c, refKV{})
	}
	for _, k := range keys {
		if !refCompareKV(c, st[k]) {
			return false
		}
	}
	return true
}

func refCompareKV(c *pb.Compare, kv refKV) bool {
	var r int
	switch c.Target {
	case pb.Compare_VERSION:
		r = cmp64(kv.version, c.GetVersion())
	case pb.Compare_CREATE:
		r = cmp64(kv.create, c.GetCreateRevision())
	case pb.Compare_MOD:
		r = cmp64(kv.mod, c.GetModRevision())
	case pb.Compare_VALUE:
		r = bytes.Compare(kv.value, c.GetValue())
	case pb.Compare_LEASE:
		r = cmp64(kv.lease, c.GetLease())
	}
	switch c.Result {
	case pb.Compare_EQUAL:
		return r == 0
	case pb.Compare_NOT_EQUAL:
		return r != 0
	case pb.Compare_GREATER:
		return r > 0
	case pb.Compare_LESS:
		return r < 0
	}
	return false
}

func refComparesHold(st refState, cs []*pb.Compare) bool {
	for _, c := range cs {
		if !refCompare(st, c) {
			return false
		}
	}
	return true
}

// --- write transactions ---

// refTxn is one write transaction in progress: the state it started from,
// a working copy that receives its writes, and how many keys it changed.
type refTxn struct {
	m        *refModel
	begin    refState
	beginRev int64
	ws       refState
	changes  int
}

func (m *refModel) beginTxn() *refTxn {
	return &refTxn{m: m, begin: m.cur(), beginRev: m.rev, ws: m.cur().clone()}
}

// commit makes the txn's writes revision beginRev+1 if it changed anything
// and returns the revision for the outer response header.
func (t *refTxn) commit() int64 {
	if t.changes == 0 {
		return t.beginRev
	}
	t.m.rev++
	t.m.hist = append(t.m.hist, t.ws)
	return t.m.rev
}

// dynPut: checks of a put against the store at the start of the txn.
func (t *refTxn) dynPut(req *pb.PutRequest) []error {
	var errs []error
	if _, ok := t.begin[string(req.Key)]; !ok && (req.IgnoreValue || req.IgnoreLease) {
		errs = append(errs, ErrKeyNotFound)
	}
	if _, ok := t.m.leases[req.Lease]; req.Lease != 0 && !ok {
		errs = append(errs, ErrLeaseNotFound)
	}
	return errs
}

// dynRange: a range inside a txn may name a revision up to the txn's start
// revision (not the one it is writing) and not below the compacted one.
func (t *refTxn) dynRange(req *pb.RangeRequest) []error {
	switch {
	case req.Revision == 0:
		return nil
	case req.Revision > t.beginRev:
		return []error{ErrFutureRev}
	case req.Revision < t.m.compactRev:
		return []error{ErrCompacted}
	}
	return nil
}

// dynTxn collects the dynamic errors along the path the txn will take.
func (t *refTxn) dynTxn(req *pb.TxnRequest) []error {
	var errs []error
	ops := req.Failure
	if refComparesHold(t.begin, req.Compare) {
		ops = req.Success
	}
	for _, op := range ops {
		switch {
		case op.GetRequestRange() != nil:
			errs = append(errs, t.dynRange(op.GetRequestRange())...)
		case op.GetRequestPut() != nil:
			errs = append(errs, t.dynPut(op.GetRequestPut())...)
		case op.GetRequestTxn() != nil:
			errs = append(errs, t.dynTxn(op.GetRequestTxn())...)
		}
	}
	return errs
}

// opRev is the header revision of an op inside the txn once it ran.
func (t *refTxn) opRev() int64 {
	if t.changes > 0 {
		return t.beginRev + 1
	}
	return t.beginRev
}

func (t *refTxn) put(req *pb.PutRequest) *pb.PutResponse {
	k := string(req.Key)
	prev, existed := t.ws[k]
	resp := &pb.PutResponse{}
	if req.PrevKv && existed {
		resp.PrevKv = t.ws.pbKV(k, false)
	}
	rev := t.beginRev + 1
	nv := refKV{value: slices.Clone(req.Value), create: rev, mod: rev, version: 1, lease: req.Lease}
	if existed {
		nv.create = prev.create
		nv.version = prev.version + 1
	}
	if req.IgnoreValue {
		nv.value = prev.value
	}
	if req.IgnoreLease {
		nv.lease = prev.lease
	}
	t.ws[k] = nv
	t.changes++
	resp.Header = refHeader(rev)
	return resp
}

func (t *refTxn) deleteRange(req *pb.DeleteRangeRequest) *pb.DeleteRangeResponse {
	keys := t.ws.keysIn(spanOf(req.Key, req.RangeEnd))
	resp := &pb.DeleteRangeResponse{Deleted: int64(len(keys))}
	for _, k := range keys {
		if req.PrevKv {
			resp.PrevKvs = append(resp.PrevKvs, t.ws.pbKV(k, false))
		}
		delete(t.ws, k)
		t.changes++
	}
	resp.Header = refHeader(t.opRev())
	return resp
}

// rangeIn: a range inside a txn. Revision 0 reads the txn's working state
// (its own earlier writes included); an explicit revision reads history,
// which does not include the txn's writes.
func (t *refTxn) rangeIn(req *pb.RangeRequest) *pb.RangeResponse {
	st := t.ws
	if req.Revision > 0 {
		st = t.m.hist[req.Revision]
	}
	resp := refRangeOver(st, req)
	resp.Header = refHeader(t.opRev())
	return resp
}

func (t *refTxn) txn(req *pb.TxnRequest) *pb.TxnResponse {
	ok := refComparesHold(t.begin, req.Compare)
	ops := req.Failure
	if ok {
		ops = req.Success
	}
	resp := &pb.TxnResponse{Succeeded: ok, Header: &pb.ResponseHeader{}}
	for _, op := range ops {
		var r *pb.ResponseOp
		switch {
		case op.GetRequestRange() != nil:
			r = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: t.rangeIn(op.GetRequestRange())}}
		case op.GetRequestPut() != nil:
			r = &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: t.put(op.GetRequestPut())}}
		case op.GetRequestDeleteRange() != nil:
			r = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: t.deleteRange(op.GetRequestDeleteRange())}}
		case op.GetRequestTxn() != nil:
			r = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: t.txn(op.GetRequestTxn())}}
		}
		resp.Responses = append(resp.Responses, r)
	}
	return resp
}

// --- top-level requests ---

func (m *refModel) Put(req *pb.PutRequest) refResult {
	if errs := refStaticPut(req); len(errs) > 0 {
		return refFail(errs...)
	}
	t := m.beginTxn()
	if errs := t.dynPut(req); len(errs) > 0 {
		return refFail(errs...)
	}
	resp := t.put(req)
	resp.Header = refHeader(t.commit())
	return refResult{resp: resp}
}

// DeleteRange: a delete that deletes nothing does not bump the revision.
func (m *refModel) DeleteRange(req *pb.DeleteRangeRequest) refResult {
	if len(req.Key) == 0 {
		return refFail(ErrEmptyKey)
	}
	t := m.beginTxn()
	resp := t.deleteRange(req)
	resp.Header = refHeader(t.commit())
	return refResult{resp: resp}
}

func (m *refModel) Txn(req *pb.TxnRequest) refResult {
	if errs := m.refStaticTxn(req); len(errs) > 0 {
		return refFail(errs...)
	}
	t := m.beginTxn()
	if errs := t.dynTxn(req); len(errs) > 0 {
		return refFail(errs...)
	}
	resp := t.txn(req)
	refSetTxnHeaders(resp, t.commit())
	return refResult{resp: resp}
}

// refSetTxnHeaders: the txn's header carries the revision after the txn;
// nested TxnResponses carry an empty header, as etcd's.
func refSetTxnHeaders(resp *pb.TxnResponse, rev int64) {
	resp.Header = refHeader(rev)
	refEmptyNestedHeaders(resp)
}

func refEmptyNestedHeaders(resp *pb.TxnResponse) {
	for _, r := range resp.Responses {
		if n := r.GetResponseTxn(); n != nil {
			n.Header = &pb.ResponseHeader{}
			refEmptyNestedHeaders(n)
		}
	}
}

// Compact: rev > current is ErrCompactFuture; rev <= the compacted revision
// (0 when never compacted, so Compact(0) fails) is ErrCompacted.
func (m *refModel) Compact(rev int64) refResult {
	if rev > m.rev {
		return refFail(ErrCompactFuture)
	}
	if rev <= m.compactRev {
		return refFail(ErrCompacted)
	}
	m.compactRev = rev
	return refResult{}
}

func (m *refModel) LeaseGrant(id, ttl int64) refResult {
	var errs []error
	if id == 0 || ttl < 1 {
		errs = append(errs, ErrLeaseInvalid)
	}
	if _, ok := m.leases[id]; ok {
		errs = append(errs, ErrLeaseExists)
	}
	if len(errs) > 0 {
		return refFail(errs...)
	}
	m.leases[id] = refLease{ttl: ttl}
	return refResult{}
}

// LeaseRevoke deletes the lease and, in one revision, every key attached to
// it; no revision when it had none.
func (m *refModel) LeaseRevoke(id int64) refResult {
	if _, ok := m.leases[id]; !ok {
		return refFail(ErrLeaseNotFound)
	}
	delete(m.leases, id)
	t := m.beginTxn()
	for _, k := range m.leaseKeys(id) {
		delete(t.ws, k)
		t.changes++
	}
	t.commit()
	return refResult{}
}

// LeaseCheckpoint records the remaining TTLs of existing leases; unknown
// lease IDs are skipped (etcd: a checkpoint may race with a revoke). It
// changes no revision.
func (m *refModel) LeaseCheckpoint(req *pb.LeaseCheckpointRequest) refResult {
	for _, cp := range req.Checkpoints {
		if l, ok := m.leases[cp.ID]; ok {
			l.remaining = cp.Remaining_TTL
			m.leases[cp.ID] = l
		}
	}
	return refResult{}
}

// leaseKeys: the keys attached to a lease are exactly the live keys whose
// lease field names it.
func (m *refModel) leaseKeys(id int64) []string {
	var ks []string
	for k, v := range m.cur() {
		if v.lease == id {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}

func (m *refModel) Lease(id int64) (LeaseInfo, error) {
	l, ok := m.leases[id]
	if !ok {
		return LeaseInfo{}, ErrLeaseNotFound
	}
	li := LeaseInfo{ID: id, TTL: l.ttl, RemainingTTL: l.remaining}
	for _, k := range m.leaseKeys(id) {
		li.Keys = append(li.Keys, []byte(k))
	}
	return li, nil
}

func (m *refModel) Leases() []LeaseInfo {
	var out []LeaseInfo
	for id, l := range m.leases {
		out = append(out, LeaseInfo{ID: id, TTL: l.ttl, RemainingTTL: l.remaining})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Apply: an index at or below the applied one was applied before: nothing
// happens and Apply returns nil. Otherwise every request is applied in turn
// (one failing does not stop the others) and a non-zero index is recorded.
func (m *refModel) Apply(index uint64, reqs []*pb.InternalRaftRequest) ([]refResult, bool) {
	if index > 0 && index <= m.applied {
		return nil, false
	}
	out := make([]refResult, len(reqs))
	for i, r := range reqs {
		out[i] = m.applyOne(r)
	}
	if index > 0 {
		m.applied = index
	}
	return out, true
}

func (m *refModel) applyOne(r *pb.InternalRaftRequest) refResult {
	switch {
	case r.Range != nil:
		return m.Range(r.Range)
	case r.Put != nil:
		return m.Put(r.Put)
	case r.DeleteRange != nil:
		return m.DeleteRange(r.DeleteRange)
	case r.Txn != nil:
		return m.Txn(r.Txn)
	case r.Compaction != nil:
		return m.Compact(r.Compaction.Revision)
	case r.LeaseGrant != nil:
		return m.LeaseGrant(r.LeaseGrant.ID, r.LeaseGrant.TTL)
	case r.LeaseRevoke != nil:
		return m.LeaseRevoke(r.LeaseRevoke.ID)
	case r.LeaseCheckpoint != nil:
		return m.LeaseCheckpoint(r.LeaseCheckpoint)
	}
	return refFail(ErrInvalidRequest)
}

// refErrIn reports whether err is one of want (errors.Is).
func refErrIn(err error, want []error) bool {
	for _, w := range want {
		if errors.Is(err, w) {
			return true
		}
	}
	return false
}
