package kvstore

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/cockroachdb/pebble"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// rangeItem is one key found by the index phase of a range.
type rangeItem struct {
	key              []byte
	rev              revision
	version, created int64
}

// rangePlan is the index phase's answer: the items to read (already
// filtered, sorted unless by value, and truncated unless by value) and the
// number of keys in the range.
type rangePlan struct {
	items       []rangeItem
	count       int64
	more        bool
	sortByValue bool
}

// effectiveSortOrder applies etcd's defaults: a target other than KEY with
// no order sorts ascending; KEY ascending is the natural order.
func effectiveSortOrder(req *pb.RangeRequest) pb.RangeRequest_SortOrder {
	order := req.SortOrder
	if req.SortTarget != pb.RangeRequest_KEY && order == pb.RangeRequest_NONE {
		return pb.RangeRequest_ASCEND
	}
	if req.SortTarget == pb.RangeRequest_KEY && order == pb.RangeRequest_ASCEND {
		return pb.RangeRequest_NONE
	}
	return order
}

func checkRange(req *pb.RangeRequest) error {
	if req == nil {
		return fmt.Errorf("%w: nil range request", ErrInvalidRequest)
	}
	if len(req.Key) == 0 {
		return ErrEmptyKey
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(req.SortOrder)]; !ok {
		return fmt.Errorf("%w: unknown sort order %d", ErrInvalidSortOption, req.SortOrder)
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(req.SortTarget)]; !ok {
		return fmt.Errorf("%w: unknown sort target %d", ErrInvalidSortOption, req.SortTarget)
	}
	return nil
}

// planRange runs the index phase of req at revision at.
func (t *treeIndex) planRange(req *pb.RangeRequest, at int64) rangePlan {
	var p rangePlan
	order := effectiveSortOrder(req)
	filtered := req.MinModRevision != 0 || req.MaxModRevision != 0 || req.MinCreateRevision != 0 || req.MaxCreateRevision != 0
	p.sortByValue = order != pb.RangeRequest_NONE && req.SortTarget == pb.RangeRequest_VALUE
	// Collect everything when the final order or set is only known after
	// looking at every key; else stop collecting at limit+1.
	collectAll := filtered || (order != pb.RangeRequest_NONE && !(req.SortTarget == pb.RangeRequest_KEY))
	keep := func(it rangeItem) bool {
		return (req.MinModRevision == 0 || it.rev.Main >= req.MinModRevision) &&
			(req.MaxModRevision == 0 || it.rev.Main <= req.MaxModRevision) &&
			(req.MinCreateRevision == 0 || it.created >= req.MinCreateRevision) &&
			(req.MaxCreateRevision == 0 || it.created <= req.MaxCreateRevision)
	}
	visit := func(ki *keyIndex) bool {
		rev, ver, created, ok := ki.get(at)
		if !ok {
			return true
		}
		p.count++
		if req.CountOnly {
			return true
		}
		it := rangeItem{key: ki.key, rev: rev, version: ver, created: created}
		if !keep(it) {
			return true
		}
		if collectAll || req.Limit <= 0 || int64(len(p.items)) <= req.Limit {
			p.items = append(p.items, it)
		}
		return true
	}
	if req.SortTarget == pb.RangeRequest_KEY && order == pb.RangeRequest_DESCEND {
		t.descend(req.Key, req.RangeEnd, visit)
	} else {
		t.ascend(req.Key, req.RangeEnd, visit)
	}
	if req.CountOnly {
		return p
	}
	if order != pb.RangeRequest_NONE && req.SortTarget != pb.RangeRequest_KEY && !p.sortByValue {
		sortItems(p.items, req.SortTarget, order)
	}
	if !p.sortByValue && req.Limit > 0 && int64(len(p.items)) > req.Limit {
		p.items = p.items[:req.Limit]
		p.more = true
	}
	return p
}

func sortItems(items []rangeItem, target pb.RangeRequest_SortTarget, order pb.RangeRequest_SortOrder) {
	field := func(it *rangeItem) int64 {
		switch target {
		case pb.RangeRequest_VERSION:
			return it.version
		case pb.RangeRequest_CREATE:
			return it.created
		default: // MOD
			return it.rev.Main
		}
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := field(&items[i]), field(&items[j])
		if order == pb.RangeRequest_DESCEND {
			return a > b
		}
		return a < b
	})
}

// finishRange turns a plan into a response, reading values with read.
func finishRange(req *pb.RangeRequest, p rangePlan, read func(rangeItem) (*mvccpb.KeyValue, error)) (*pb.RangeResponse, error) {
	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{}, Count: p.count, More: p.more}
	if len(p.items) > 0 {
		resp.Kvs = make([]*mvccpb.KeyValue, 0, len(p.items))
	}
	for _, it := range p.items {
		kv, err := read(it)
		if err != nil {
			return nil, err
		}
		resp.Kvs = append(resp.Kvs, kv)
	}
	if p.sortByValue {
		desc := effectiveSortOrder(req) == pb.RangeRequest_DESCEND
		sort.SliceStable(resp.Kvs, func(i, j int) bool {
			c := bytes.Compare(resp.Kvs[i].Value, resp.Kvs[j].Value)
			if desc {
				return c > 0
			}
			return c < 0
		})
		if req.Limit > 0 && int64(len(resp.Kvs)) > req.Limit {
			resp.Kvs = resp.Kvs[:req.Limit]
			resp.More = true
		}
	}
	if req.KeysOnly {
		for _, kv := range resp.Kvs {
			kv.Value = nil
		}
	}
	return resp, nil
}

// checkRevLocked resolves a requested read revision (0 = current).
func (s *Store) checkRevLocked(rev, current int64) (int64, error) {
	if rev <= 0 {
		return current, nil
	}
	if rev > current {
		return 0, fmt.Errorf("%w: %d > current %d", ErrFutureRev, rev, current)
	}
	if rev < s.compactRev {
		return 0, fmt.Errorf("%w: %d < compacted %d", ErrCompacted, rev, s.compactRev)
	}
	return rev, nil
}

// Range serves a serializable read of a key or range at req.Revision (0 =
// the current revision), with etcd's limit, sort, filter and count rules.
func (s *Store) Range(req *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := checkRange(req); err != nil {
		return nil, err
	}
	s.counters.ranges.Add(1)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	at, err := s.checkRevLocked(req.Revision, s.currentRev)
	if err != nil {
		s.mu.RUnlock()
		return nil, err
	}
	current := s.currentRev
	p := s.index.planRange(req, at)
	var it *pebble.Iterator
	if len(p.items) > 0 {
		// Opened under mu: the iterator's view predates any compaction
		// step that could remove the revisions the plan points at.
		it, err = s.newReaderIterLocked(revIterOptions())
	}
	s.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("kvstore: range: %w", err)
	}
	if it != nil {
		defer s.closeReaderIter(it)
	}
	var keyBuf []byte
	resp, err := finishRange(req, p, func(item rangeItem) (*mvccpb.KeyValue, error) {
		keyBuf = appendRevKey(keyBuf[:0], item.rev)
		return readRecord(it, keyBuf, item.rev)
	})
	if err != nil {
		return nil, err
	}
	resp.Header.Revision = current
	return resp, nil
}

func revIterOptions() *pebble.IterOptions {
	return &pebble.IterOptions{LowerBound: []byte{prefixRevision}, UpperBound: []byte{prefixRevision + 1}}
}

// readRecord reads the put record of rev (Pebble key k) through it and
// returns an owned copy.
func readRecord(it *pebble.Iterator, k []byte, rev revision) (*mvccpb.KeyValue, error) {
	if !it.SeekGE(k) || !bytes.Equal(it.Key(), k) {
		if err := it.Error(); err != nil {
			return nil, fmt.Errorf("kvstore: read revision %d/%d: %w", rev.Main, rev.Sub, err)
		}
		return nil, fmt.Errorf("%w: revision %d/%d is indexed but missing", ErrCorrupt, rev.Main, rev.Sub)
	}
	return decodeOwnedKV(rev, it.Value())
}

// decodeOwnedKV decodes a put record into a KeyValue that owns its bytes.
func decodeOwnedKV(rev revision, rec []byte) (*mvccpb.KeyValue, error) {
	d, err := decodeKVRecord(rev, rec)
	if err != nil {
		return nil, err
	}
	if d.tombstone {
		return nil, fmt.Errorf("%w: revision %d/%d is a tombstone where a put was indexed", ErrCorrupt, rev.Main, rev.Sub)
	}
	kv := &mvccpb.KeyValue{ModRevision: rev.Main, CreateRevision: d.create, Version: d.version, Lease: d.leaseID}
	// One allocation for key and value.
	buf := make([]byte, len(d.key)+len(d.value))
	copy(buf, d.key)
	copy(buf[len(d.key):], d.value)
	kv.Key = buf[:len(d.key):len(d.key)]
	if len(d.value) > 0 {
		kv.Value = buf[len(d.key):]
	}
	return kv, nil
}

// history implements historySource for the watch hub: the events of main
// revisions [from, to] on keys in [key, end), in revision order, stopping
// after the revision in which maxEvents is reached.
func (s *Store) history(key, end []byte, from, to int64, prevKV bool, maxEvents int) ([]*mvccpb.Event, int64, error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, 0, ErrClosed
	}
	if from < s.compactRev {
		c := s.compactRev
		s.mu.RUnlock()
		return nil, 0, fmt.Errorf("%w: history from %d < compacted %d", ErrCompacted, from, c)
	}
	if to > s.currentRev {
		to = s.currentRev
	}
	it, err := s.newReaderIterLocked(revIterOptions())
	s.mu.RUnlock()
	if err != nil {
		return nil, 0, fmt.Errorf("kvstore: history: %w", err)
	}
	defer s.closeReaderIter(it)
	var evs []*mvccpb.Event
	last := to
	lower := appendRevKey(nil, revision{Main: from})
	for ok := it.SeekGE(lower); ok; ok = it.Next() {
		rev, err := parseRevKey(it.Key())
		if err != nil {
			return nil, 0, err
		}
		if rev.Main > to {
			break
		}
		if maxEvents > 0 && len(evs) >= maxEvents && rev.Main > evs[len(evs)-1].Kv.ModRevision {
			last = evs[len(evs)-1].Kv.ModRevision
			break
		}
		d, err := decodeKVRecord(rev, it.Value())
		if err != nil {
			return nil, 0, err
		}
		if !inRange(d.key, key, end) {
			continue
		}
		ev := &mvccpb.Event{}
		if d.tombstone {
			ev.Type = mvccpb.Event_DELETE
			ev.Kv = &mvccpb.KeyValue{Key: append([]byte(nil), d.key...), ModRevision: rev.Main}
		} else {
			kv, err := decodeOwnedKV(rev, it.Value())
			if err != nil {
				return nil, 0, err
			}
			ev.Kv = kv
		}
		evs = append(evs, ev)
	}
	if err := it.Error(); err != nil {
		return nil, 0, fmt.Errorf("kvstore: history: %w", err)
	}
	if prevKV {
		if err := s.fillPrevKVs(it, evs); err != nil {
			return nil, 0, err
		}
	}
	return evs, last, nil
}

// fillPrevKVs sets PrevKv on each event to the key's value just before the
// event, when it existed and is still in history.
func (s *Store) fillPrevKVs(it *pebble.Iterator, evs []*mvccpb.Event) error {
	type want struct {
		ev  *mvccpb.Event
		rev revision
	}
	var wants []want
	s.mu.RLock()
	for _, ev := range evs {
		ki := s.index.get(ev.Kv.Key)
		if ki == nil {
			continue
		}
		if rev, _, _, ok := ki.get(ev.Kv.ModRevision - 1); ok {
			wants = append(wants, want{ev, rev})
		}
	}
	s.mu.RUnlock()
	var k []byte
	for _, w := range wants {
		k = appendRevKey(k[:0], w.rev)
		// The index drops a revision before Pebble does and the iterator
		// predates both, so what the index still knows the iterator has.
		kv, err := readRecord(it, k, w.rev)
		if err != nil {
			return err
		}
		w.ev.PrevKv = kv
	}
	return nil
}
