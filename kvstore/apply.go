package kvstore

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Apply applies requests in order and commits all of them, with the applied
// raft index when index > 0, in one Pebble batch, synced if sync is set. Each
// request that changes data gets its own main revision. It returns one
// Result per request.
//
// Replay is idempotent: when 0 < index <= AppliedIndex() the batch was
// applied before (e.g. replayed from the raft log after a crash) and Apply
// returns nil without changing anything. index 0 means "not from raft": the
// applied index is left alone.
//
// Past Options.QuotaBytes, requests that add data (AddsData) fail with
// ErrNoSpace when index is 0; replicated entries (index > 0) are applied
// regardless, as the proposer checked the quota.
//
// Apply handles Put, DeleteRange, Txn, Range, Compaction, LeaseGrant,
// LeaseRevoke and LeaseCheckpoint; any other request fails with
// ErrInvalidRequest. A failed Pebble commit leaves the store refusing writes
// (ErrCorrupt wraps the cause) until it is reopened, which rebuilds the
// in-memory state from disk.
func (s *Store) Apply(index uint64, reqs []*pb.InternalRaftRequest, sync bool) []Result {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if index != 0 && index <= s.appliedIndex.Load() {
		return nil
	}
	results := make([]Result, len(reqs))
	if err := s.writableLocked(); err != nil {
		return failAll(results, err)
	}
	a := &applier{s: s, batch: s.db.NewBatch(), wantPrev: s.hub.wantPrevKV(), compactTo: -1, enforceQuota: index == 0}
	defer a.batch.Close()
	for i, req := range reqs {
		results[i] = a.apply(req)
	}
	if s.failed != nil {
		// A read failed midway: the batch may hold wrong writes. Commit
		// nothing (not even the applied index, so the entries are applied
		// again after the reopen that rebuilds the in-memory state).
		return failAll(results, s.failed)
	}
	if index != 0 {
		a.batch.Set(metaAppliedIndex, appendInt64(nil, int64(index)), nil)
	}
	if len(a.revs) > 0 {
		a.batch.Set(metaCurrentRev, appendInt64(nil, s.writeRev), nil)
	}
	if a.batch.Empty() {
		return results
	}
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	if err := a.batch.Commit(opt); err != nil {
		s.setFailedLocked(fmt.Errorf("%w: commit failed, reopen the store: %v", ErrCorrupt, err))
		s.log.Error("kvstore: commit failed; refusing further writes until reopen", "err", err)
		return failAll(results, s.failed)
	}
	if index != 0 {
		s.appliedIndex.Store(index)
	}
	s.mu.Lock()
	s.currentRev = s.writeRev
	if a.compactTo > 0 {
		s.compactRev = a.compactTo
	}
	s.mu.Unlock()
	clear(s.pending)
	for _, r := range a.revs {
		s.hub.publish(r.rev, r.events)
	}
	if a.compactTo > 0 {
		s.kickCompactor()
	}
	return results
}

// failAll sets every result to err alone and returns them.
func failAll(results []Result, err error) []Result {
	for i := range results {
		results[i] = Result{Err: err}
	}
	return results
}

func (s *Store) writableLocked() error {
	if s.failed != nil {
		return s.failed
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// applier is the state of one Apply call. It runs with applyMu held, so it
// reads the index without mu; it takes mu only to change shared state.
type applier struct {
	s        *Store
	batch    *pebble.Batch
	wantPrev bool // the watch hub wants PrevKv on events
	// enforceQuota: refuse data-adding requests past the quota. Only for
	// non-replicated calls: replicas must apply the same entries alike, so
	// raftnode checks QuotaExceeded when proposing instead.
	enforceQuota bool
	revs         []committedRev
	compactTo    int64 // compaction requested by this Apply, or -1
	keyBuf       []byte
	recBuf       []byte
}

// committedRev is one revision produced by this Apply, published to the
// watch hub after the commit.
type committedRev struct {
	rev    int64
	events []*mvccpb.Event
}

func (a *applier) apply(req *pb.InternalRaftRequest) Result {
	if err := ValidateRequest(req, a.s.opts.MaxTxnOps); err != nil {
		return Result{Err: err}
	}
	if a.enforceQuota && AddsData(req) && a.s.QuotaExceeded() {
		return Result{Err: ErrNoSpace}
	}
	switch {
	case req.Put != nil:
		return a.txnResult(&pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: req.Put}}}},
			func(r *pb.TxnResponse) Result { return Result{Resp: r.Responses[0].GetResponsePut()} })
	case req.DeleteRange != nil:
		return a.txnResult(&pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: req.DeleteRange}}}},
			func(r *pb.TxnResponse) Result { return Result{Resp: r.Responses[0].GetResponseDeleteRange()} })
	case req.Range != nil:
		return a.txnResult(&pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: req.Range}}}},
			func(r *pb.TxnResponse) Result { return Result{Resp: r.Responses[0].GetResponseRange()} })
	case req.Txn != nil:
		a.s.counters.txns.Add(1)
		return a.txnResult(req.Txn, func(r *pb.TxnResponse) Result { return Result{Resp: r} })
	case req.Compaction != nil:
		return a.compact(req.Compaction.Revision)
	case req.LeaseGrant != nil:
		return a.leaseGrant(req.LeaseGrant)
	case req.LeaseRevoke != nil:
		return a.leaseRevoke(req.LeaseRevoke.ID)
	case req.LeaseCheckpoint != nil:
		return a.leaseCheckpoint(req.LeaseCheckpoint)
	}
	return Result{Err: fmt.Errorf("%w: unsupported request", ErrInvalidRequest)}
}

func (a *applier) txnResult(req *pb.TxnRequest, pick func(*pb.TxnResponse) Result) Result {
	resp, err := a.txn(req)
	if err != nil {
		return Result{Err: err}
	}
	return pick(resp)
}

// writeTxn is one write transaction: every change gets main revision rev
// and the next sub revision. If it changes nothing, the revision is unused.
type writeTxn struct {
	a       *applier
	begin   int64 // revision before the txn
	rev     int64 // begin + 1
	sub     int64
	events  []*mvccpb.Event
	changed bool
}

// viewRev is the revision a read inside the txn sees.
func (t *writeTxn) viewRev() int64 {
	if t.changed {
		return t.rev
	}
	return t.begin
}

func (a *applier) txn(req *pb.TxnRequest) (*pb.TxnResponse, error) {
	s := a.s
	t := &writeTxn{a: a, begin: s.writeRev, rev: s.writeRev + 1}
	// Decide every branch, then check the chosen path, both against the
	// state before the txn (as etcd); only then write anything.
	path := t.path(req, nil)
	if err := t.checkPath(req, path); err != nil {
		return nil, err
	}
	resp, _ := t.exec(req, path)
	if t.changed {
		s.writeRev = t.rev
		a.revs = append(a.revs, committedRev{rev: t.rev, events: t.events})
	}
	setTxnHeaders(resp, t.viewRev())
	return resp, nil
}

// path appends the branch taken by req and, depth first, by every nested
// txn on that branch.
func (t *writeTxn) path(req *pb.TxnRequest, path []bool) []bool {
	ok := true
	for _, c := range req.Compare {
		if !t.compare(c) {
			ok = false
			break
		}
	}
	path = append(path, ok)
	for _, op := range branch(req, ok) {
		if n, isTxn := op.Request.(*pb.RequestOp_RequestTxn); isTxn {
			path = t.path(n.RequestTxn, path)
		}
	}
	return path
}

func branch(req *pb.TxnRequest, ok bool) []*pb.RequestOp {
	if ok {
		return req.Success
	}
	return req.Failure
}

// compare evaluates c against the txn's current view.
func (t *writeTxn) compare(c *pb.Compare) bool {
	var kvs []*mvccpb.KeyValue
	failed := false
	t.a.s.index.ascend(c.Key, c.RangeEnd, func(ki *keyIndex) bool {
		rev, ver, created, ok := ki.get(t.viewRev())
		if !ok {
			return true
		}
		kv := &mvccpb.KeyValue{Key: ki.key, ModRevision: rev.Main, Version: ver, CreateRevision: created}
		if c.Target == pb.Compare_VALUE || c.Target == pb.Compare_LEASE {
			full, err := t.a.read(rev)
			if err != nil {
				t.a.fail(err) // the whole Apply is discarded
				failed = true
				return false
			}
			kv = full
		}
		kvs = append(kvs, kv)
		return true
	})
	if failed {
		return false
	}
	if len(kvs) == 0 {
		if c.Target == pb.Compare_VALUE {
			return false // a missing key has no value to compare
		}
		return compareKV(c, &mvccpb.KeyValue{})
	}
	for _, kv := range kvs {
		if !compareKV(c, kv) {
			return false
		}
	}
	return true
}

// checkPath rejects, before any write, what would fail midway: puts that
// need an existing key or lease, and reads at unavailable revisions.
func (t *writeTxn) checkPath(req *pb.TxnRequest, path []bool) error {
	_, err := t.walkCheck(req, path)
	return err
}

func (t *writeTxn) walkCheck(req *pb.TxnRequest, path []bool) ([]bool, error) {
	ok := path[0]
	path = path[1:]
	s := t.a.s
	for _, op := range branch(req, ok) {
		switch r := op.Request.(type) {
		case *pb.RequestOp_RequestPut:
			p := r.RequestPut
			if p.IgnoreValue || p.IgnoreLease {
				if ki := s.index.get(p.Key); ki == nil || !ki.live() {
					return nil, fmt.Errorf("%w: %q", ErrKeyNotFound, p.Key)
				}
			}
			if p.Lease != 0 {
				if err := s.leaseExists(p.Lease); err != nil {
					return nil, err
				}
			}
		case *pb.RequestOp_RequestRange:
			if rev := r.RequestRange.Revision; rev > 0 {
				if rev > t.begin {
					return nil, fmt.Errorf("%w: %d > current %d", ErrFutureRev, rev, t.begin)
				}
				if c := t.a.compacted(); rev < c {
					return nil, fmt.Errorf("%w: %d < compacted %d", ErrCompacted, rev, c)
				}
			}
		case *pb.RequestOp_RequestTxn:
			var err error
			if path, err = t.walkCheck(r.RequestTxn, path); err != nil {
				return nil, err
			}
		}
	}
	return path, nil
}

// exec runs the chosen path; checkPath has ruled out every expected error,
// so one here means the disk failed, and it is returned inside the response
// chain as a failed store.
func (t *writeTxn) exec(req *pb.TxnRequest, path []bool) (*pb.TxnResponse, []bool) {
	ok := path[0]
	path = path[1:]
	resp := &pb.TxnResponse{Header: &pb.ResponseHeader{}, Succeeded: ok}
	ops := branch(req, ok)
	resp.Responses = make([]*pb.ResponseOp, 0, len(ops))
	for _, op := range ops {
		var out pb.ResponseOp
		switch r := op.Request.(type) {
		case *pb.RequestOp_RequestRange:
			t.a.s.counters.ranges.Add(1)
			out.Response = &pb.ResponseOp_ResponseRange{ResponseRange: t.rangeInTxn(r.RequestRange)}
		case *pb.RequestOp_RequestPut:
			t.a.s.counters.puts.Add(1)
			out.Response = &pb.ResponseOp_ResponsePut{ResponsePut: t.put(r.RequestPut)}
		case *pb.RequestOp_RequestDeleteRange:
			t.a.s.counters.deletes.Add(1)
			out.Response = &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: t.deleteRange(r.RequestDeleteRange)}
		case *pb.RequestOp_RequestTxn:
			var sub *pb.TxnResponse
			sub, path = t.exec(r.RequestTxn, path)
			out.Response = &pb.ResponseOp_ResponseTxn{ResponseTxn: sub}
		}
		resp.Responses = append(resp.Responses, &out)
	}
	return resp, path
}

// setTxnHeaders gives the txn response the revision after the txn. As in
// etcd, nested txn responses keep an empty header and inner put, delete and
// range responses their own revision.
func setTxnHeaders(resp *pb.TxnResponse, rev int64) {
	resp.Header.Revision = rev
}

// read returns an owned copy of the put record at rev, from this Apply's
// pending writes or from Pebble.
func (a *applier) read(rev revision) (*mvccpb.KeyValue, error) {
	if kv, ok := a.s.pending[rev]; ok {
		return &mvccpb.KeyValue{Key: kv.Key, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision,
			Version: kv.Version, Value: kv.Value, Lease: kv.Lease}, nil
	}
	a.keyBuf = appendRevKey(a.keyBuf[:0], rev)
	v, closer, err := a.s.db.Get(a.keyBuf)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("%w: revision %d/%d is indexed but missing", ErrCorrupt, rev.Main, rev.Sub)
	}
	if err != nil {
		return nil, fmt.Errorf("kvstore: read revision %d/%d: %w", rev.Main, rev.Sub, err)
	}
	defer closer.Close()
	return decodeOwnedKV(rev, v)
}

// mustRead is read for the execution phase: a failure there is a disk or
// corruption error, which fails the store (no partial txn is committed).
func (t *writeTxn) mustRead(rev revision) *mvccpb.KeyValue {
	kv, err := t.a.read(rev)
	if err != nil {
		t.a.fail(err)
		return &mvccpb.KeyValue{ModRevision: rev.Main}
	}
	return kv
}

// fail marks the store failed: this Apply's batch is discarded.
func (a *applier) fail(err error) {
	if a.s.failed == nil {
		a.s.setFailedLocked(fmt.Errorf("%w: %v", ErrCorrupt, err))
		a.s.log.Error("kvstore: read failed while applying; refusing writes until reopen", "err", err)
	}
}

func (t *writeTxn) rangeInTxn(req *pb.RangeRequest) *pb.RangeResponse {
	at := t.viewRev()
	if req.Revision > 0 {
		at = req.Revision
	}
	p := t.a.s.index.planRange(req, at)
	resp, err := finishRange(req, p, func(it rangeItem) (*mvccpb.KeyValue, error) { return t.a.read(it.rev) })
	if err != nil {
		t.a.fail(err)
		return &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: t.viewRev()}}
	}
	resp.Header.Revision = t.viewRev()
	return resp
}

func (t *writeTxn) nextRev() revision {
	r := revision{Main: t.rev, Sub: t.sub}
	t.sub++
	t.changed = true
	return r
}

func (t *writeTxn) put(req *pb.PutRequest) *pb.PutResponse {
	a, s := t.a, t.a.s
	resp := &pb.PutResponse{Header: &pb.ResponseHeader{Revision: t.rev}}
	var prev *mvccpb.KeyValue
	ki := s.index.get(req.Key)
	if ki != nil && ki.live() {
		if req.PrevKv || req.IgnoreValue || req.IgnoreLease || a.wantPrev {
			prev = t.mustRead(ki.modified())
		}
	}
	value, leaseID := req.Value, req.Lease
	if req.IgnoreValue && prev != nil {
		value = prev.Value
	}
	if req.IgnoreLease && prev != nil {
		leaseID = prev.Lease
	}
	rev := t.nextRev()
	s.mu.Lock()
	if ki == nil {
		ki = s.index.getOrCreate(req.Key)
	}
	oldLease := ki.lease
	if !ki.live() {
		oldLease = 0
		s.counters.liveKeys.Add(1)
	}
	version, created := ki.put(rev, leaseID)
	s.moveLeaseLocked(ki.key, oldLease, leaseID)
	s.mu.Unlock()

	kv := &mvccpb.KeyValue{
		Key:            ki.key,
		CreateRevision: created,
		ModRevision:    rev.Main,
		Version:        version,
		Value:          append([]byte(nil), value...),
		Lease:          leaseID,
	}
	a.keyBuf = appendRevKey(a.keyBuf[:0], rev)
	a.recBuf = appendKVRecord(a.recBuf[:0], kv)
	a.batch.Set(a.keyBuf, a.recBuf, nil)
	s.pending[rev] = kv
	ev := &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: kv}
	if a.wantPrev {
		ev.PrevKv = prev
	}
	t.events = append(t.events, ev)
	if req.PrevKv {
		resp.PrevKv = prev
	}
	return resp
}

func (t *writeTxn) deleteRange(req *pb.DeleteRangeRequest) *pb.DeleteRangeResponse {
	a, s := t.a, t.a.s
	var live []*keyIndex
	s.index.ascend(req.Key, req.RangeEnd, func(ki *keyIndex) bool {
		if ki.live() {
			live = append(live, ki)
		}
		return true
	})
	resp := &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{}, Deleted: int64(len(live))}
	for _, ki := range live {
		var prev *mvccpb.KeyValue
		if req.PrevKv || a.wantPrev {
			prev = t.mustRead(ki.modified())
		}
		t.tombstone(ki, prev)
		if req.PrevKv {
			resp.PrevKvs = append(resp.PrevKvs, prev)
		}
	}
	resp.Header.Revision = t.viewRev()
	return resp
}

// tombstone deletes the live key ki at the next sub revision.
func (t *writeTxn) tombstone(ki *keyIndex, prev *mvccpb.KeyValue) {
	a, s := t.a, t.a.s
	rev := t.nextRev()
	s.mu.Lock()
	s.moveLeaseLocked(ki.key, ki.lease, 0)
	ki.tombstone(rev)
	s.counters.liveKeys.Add(-1)
	s.mu.Unlock()
	a.keyBuf = appendRevKey(a.keyBuf[:0], rev)
	a.recBuf = appendTombstoneRecord(a.recBuf[:0], ki.key)
	a.batch.Set(a.keyBuf, a.recBuf, nil)
	ev := &mvccpb.Event{Type: mvccpb.Event_DELETE, Kv: &mvccpb.KeyValue{Key: ki.key, ModRevision: rev.Main}}
	if a.wantPrev {
		ev.PrevKv = prev
	}
	t.events = append(t.events, ev)
}

// compacted is the compacted revision as this Apply sees it: a compaction
// earlier in the same Apply counts, so the outcome of a request never
// depends on how entries were grouped into Apply calls.
func (a *applier) compacted() int64 {
	a.s.mu.RLock()
	c := a.s.compactRev
	a.s.mu.RUnlock()
	return max(c, a.compactTo)
}
