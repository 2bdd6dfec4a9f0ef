package kvstore

import (
	"bytes"
	"sort"
	"unsafe"

	"github.com/google/btree"
)

// keyIndex is the in-memory history of one user key: the revisions at which
// it was written, grouped into generations. A generation starts with the put
// that (re)creates the key and ends with the delete (tombstone) that removes
// it; only the last generation may be open (live).
//
// Worked example, key "a":
//
//	put@2 put@4 del@5 put@7         generations: {2,4,5✝} {7}
//	get(4) -> rev 4, version 2, created 2
//	get(6) -> not found (tombstoned at 5, re-created only at 7)
//	compact(4): gen 1 keeps {4,5✝} (4 is the last rev <= 4; reads at >= 4
//	           must still see it), version base becomes 2
//	compact(6): gen 1 ended at 5 < 6, so it is dropped whole: {7}
//
// A tombstone exactly at the compaction revision is kept (as a generation
// holding only itself) so that every event of the compacted revision is
// still in history: a watch may start at the compacted revision.
//
// Invariants: generations are in revision order; every generation has at
// least one revision; every generation but the last is tombstoned; the
// version of revs[i] is ver0+i (a tombstone's "version" is meaningless).
type keyIndex struct {
	key         []byte
	lease       int64 // lease of the live put, 0 if none or deleted
	generations []generation
}

type generation struct {
	created    int64 // main revision of the put that created the key
	ver0       int64 // version of revs[0]
	revs       []revision
	tombstoned bool // the last rev is a delete
}

func (g *generation) last() revision { return g.revs[len(g.revs)-1] }

// live reports whether the key currently exists.
func (ki *keyIndex) live() bool {
	n := len(ki.generations)
	return n > 0 && !ki.generations[n-1].tombstoned
}

// modified returns the key's latest revision (a put or a tombstone).
func (ki *keyIndex) modified() revision {
	g := &ki.generations[len(ki.generations)-1]
	return g.last()
}

// put records a put at rev and returns its version and create revision.
func (ki *keyIndex) put(rev revision, lease int64) (version, created int64) {
	ki.lease = lease
	if !ki.live() {
		ki.generations = append(ki.generations, generation{created: rev.Main, ver0: 1, revs: []revision{rev}})
		return 1, rev.Main
	}
	g := &ki.generations[len(ki.generations)-1]
	g.revs = append(g.revs, rev)
	return g.ver0 + int64(len(g.revs)) - 1, g.created
}

// restore records a put read back from disk, trusting its stored version
// and create revision (history before it may have been compacted).
func (ki *keyIndex) restore(rev revision, created, version, lease int64) {
	ki.lease = lease
	if ki.live() {
		g := &ki.generations[len(ki.generations)-1]
		g.revs = append(g.revs, rev)
		return
	}
	ki.generations = append(ki.generations, generation{created: created, ver0: version, revs: []revision{rev}})
}

// tombstone records a delete at rev. A tombstone with no live generation
// (left by a compaction interrupted by a crash) becomes a generation of its
// own so that the resumed compaction finds and removes it.
func (ki *keyIndex) tombstone(rev revision) {
	ki.lease = 0
	if !ki.live() {
		ki.generations = append(ki.generations, generation{created: rev.Main, revs: []revision{rev}, tombstoned: true})
		return
	}
	g := &ki.generations[len(ki.generations)-1]
	g.revs = append(g.revs, rev)
	g.tombstoned = true
}

// get returns the revision of the key visible at main revision at, with its
// version and create revision; ok is false when the key did not exist then.
func (ki *keyIndex) get(at int64) (rev revision, version, created int64, ok bool) {
	for gi := len(ki.generations) - 1; gi >= 0; gi-- {
		g := &ki.generations[gi]
		if g.revs[0].Main > at {
			continue
		}
		if g.tombstoned && g.last().Main <= at {
			return revision{}, 0, 0, false
		}
		// Last revision with Main <= at.
		i := sort.Search(len(g.revs), func(i int) bool { return g.revs[i].Main > at }) - 1
		return g.revs[i], g.ver0 + int64(i), g.created, true
	}
	return revision{}, 0, 0, false
}

// compact drops the revisions that neither a read nor a watch at a revision
// >= at can need, and calls drop for each. It reports whether the key index is now empty.
func (ki *keyIndex) compact(at int64, drop func(revision)) (empty bool) {
	kept := ki.generations[:0]
	for gi := range ki.generations {
		g := ki.generations[gi]
		if g.tombstoned && g.last().Main < at {
			for _, r := range g.revs {
				drop(r)
			}
			continue
		}
		// Keep the last revision <= at and everything after it.
		i := sort.Search(len(g.revs), func(i int) bool { return g.revs[i].Main > at }) - 1
		if i > 0 {
			for _, r := range g.revs[:i] {
				drop(r)
			}
			g.revs = append([]revision(nil), g.revs[i:]...)
			g.ver0 += int64(i)
		}
		kept = append(kept, g)
	}
	for i := len(kept); i < len(ki.generations); i++ {
		ki.generations[i] = generation{}
	}
	ki.generations = kept
	return len(kept) == 0
}

// treeIndex maps user keys to their keyIndex, ordered by key. It is not safe
// for concurrent use; Store guards it with Store.mu.
//
// The btree serves ranges; byKey serves exact-key lookups (every put,
// delete, compare and single-key range), which in the btree cost about
// log2(keys) comparisons, each chasing two pointers. Invariant: both hold
// the same keyIndexes. byKey's keys alias keyIndex.key, which is never
// modified after creation.
type treeIndex struct {
	tree  *btree.BTreeG[*keyIndex]
	byKey map[string]*keyIndex
}

func newTreeIndex() *treeIndex {
	return &treeIndex{
		tree:  btree.NewG(32, func(a, b *keyIndex) bool { return bytes.Compare(a.key, b.key) < 0 }),
		byKey: map[string]*keyIndex{},
	}
}

func (t *treeIndex) get(key []byte) *keyIndex {
	return t.byKey[string(key)] // no allocation: the conversion is only for the lookup
}

// getOrCreate returns the keyIndex of key, adding an empty one if absent.
// The key is copied.
func (t *treeIndex) getOrCreate(key []byte) *keyIndex {
	if ki := t.get(key); ki != nil {
		return ki
	}
	ki := &keyIndex{key: append([]byte(nil), key...)}
	t.tree.ReplaceOrInsert(ki)
	t.byKey[unsafe.String(unsafe.SliceData(ki.key), len(ki.key))] = ki
	return ki
}

func (t *treeIndex) delete(ki *keyIndex) {
	t.tree.Delete(ki)
	delete(t.byKey, string(ki.key))
}

// ascend calls fn for every keyIndex with key in [key, end) in key order
// until fn returns false. end follows etcd: nil means only key; a single
// zero byte means no upper bound.
func (t *treeIndex) ascend(key, end []byte, fn func(*keyIndex) bool) {
	switch {
	case len(end) == 0:
		if ki := t.get(key); ki != nil {
			fn(ki)
		}
	case isFromKey(end):
		t.tree.AscendGreaterOrEqual(&keyIndex{key: key}, fn)
	default:
		if bytes.Compare(key, end) >= 0 {
			return
		}
		t.tree.AscendRange(&keyIndex{key: key}, &keyIndex{key: end}, fn)
	}
}

// descend is ascend in reverse key order.
func (t *treeIndex) descend(key, end []byte, fn func(*keyIndex) bool) {
	switch {
	case len(end) == 0:
		if ki := t.get(key); ki != nil {
			fn(ki)
		}
	case isFromKey(end):
		t.tree.Descend(func(ki *keyIndex) bool {
			if bytes.Compare(ki.key, key) < 0 {
				return false
			}
			return fn(ki)
		})
	default:
		if bytes.Compare(key, end) >= 0 {
			return
		}
		t.tree.DescendLessOrEqual(&keyIndex{key: end}, func(ki *keyIndex) bool {
			if bytes.Equal(ki.key, end) {
				return true
			}
			if bytes.Compare(ki.key, key) < 0 {
				return false
			}
			return fn(ki)
		})
	}
}

// isFromKey reports whether end is etcd's "every key >= key" marker.
func isFromKey(end []byte) bool { return len(end) == 1 && end[0] == 0 }

// inRange reports whether k lies in [key, end) with etcd's end rules.
func inRange(k, key, end []byte) bool {
	switch {
	case len(end) == 0:
		return bytes.Equal(k, key)
	case isFromKey(end):
		return bytes.Compare(k, key) >= 0
	default:
		return bytes.Compare(k, key) >= 0 && bytes.Compare(k, end) < 0
	}
}
