package kvstore

import (
	"bytes"
	"fmt"
)

// keyRange is a watched key range, normalised from etcd's (key, range_end):
//
//	range_end empty   -> single key:       end == nil, !toEnd; matches key only
//	range_end "\x00"  -> every key >= key: toEnd
//	otherwise         -> [key, range_end): end != nil, key < end
//
// A keyRange is immutable once built; its byte slices are owned by it.
type keyRange struct {
	start []byte
	end   []byte
	toEnd bool
}

// rangeID is a keyRange as a comparable value, used as a map key.
type rangeID struct {
	start, end string
	toEnd      bool
}

// newKeyRange validates and copies an etcd (key, range_end) pair.
func newKeyRange(key, end []byte) (keyRange, error) {
	switch {
	case len(end) == 0:
		return keyRange{start: bytes.Clone(nonNil(key))}, nil
	case isFromKey(end):
		return keyRange{start: bytes.Clone(nonNil(key)), toEnd: true}, nil
	case bytes.Compare(key, end) >= 0:
		return keyRange{}, fmt.Errorf("%w: watch range end %q must be greater than key %q (or empty for one key, or \"\\x00\" for every key from key on)",
			ErrInvalidRequest, end, key)
	}
	return keyRange{start: bytes.Clone(nonNil(key)), end: bytes.Clone(end)}, nil
}

// newRangeID validates an etcd (key, range_end) pair like newKeyRange and
// returns it as a rangeID (one copy of each string, no byte slices).
func newRangeID(key, end []byte) (rangeID, error) {
	switch {
	case len(end) == 0:
		return rangeID{start: string(key)}, nil
	case isFromKey(end):
		return rangeID{start: string(key), toEnd: true}, nil
	case bytes.Compare(key, end) >= 0:
		_, err := newKeyRange(key, end)
		return rangeID{}, err
	}
	return rangeID{start: string(key), end: string(end)}, nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (r keyRange) single() bool { return r.end == nil && !r.toEnd }

func (r keyRange) id() rangeID {
	return rangeID{start: string(r.start), end: string(r.end), toEnd: r.toEnd}
}

// keyRange converts back; the result shares no memory with id.
func (id rangeID) keyRange() keyRange {
	r := keyRange{start: []byte(id.start), toEnd: id.toEnd}
	if !id.toEnd && id.end != "" {
		r.end = []byte(id.end)
	}
	return r
}

// rangeEnd is the etcd range_end encoding of r, as historySource expects.
func (r keyRange) rangeEnd() []byte {
	switch {
	case r.toEnd:
		return []byte{0}
	case r.end == nil:
		return nil
	}
	return r.end
}

func (r keyRange) contains(k []byte) bool {
	if r.single() {
		return bytes.Equal(k, r.start)
	}
	if bytes.Compare(k, r.start) < 0 {
		return false
	}
	return r.toEnd || bytes.Compare(k, r.end) < 0
}

// compareRanges orders ranges by start, then end (toEnd last).
func compareRanges(a, b keyRange) int {
	if c := bytes.Compare(a.start, b.start); c != 0 {
		return c
	}
	return compareEnds(a.end, a.toEnd, b.end, b.toEnd)
}

func compareEnds(a []byte, aInf bool, b []byte, bInf bool) int {
	switch {
	case aInf && bInf:
		return 0
	case aInf:
		return 1
	case bInf:
		return -1
	}
	return bytes.Compare(a, b)
}

// rangeTree is an interval tree of non-single key ranges: a treap ordered by
// (start, end) whose nodes also hold the greatest end in their subtree, so
// that stab visits only subtrees that can contain the key. Each range is in
// the tree at most once (callers keep a map from rangeID to their value and
// insert/delete on the first/last user). The treap's priorities come from a
// per-tree deterministic generator, so shapes are reproducible in tests.
//
// Costs: insert and delete O(log n) expected; stab O(log n + m) expected
// for m matches in the common case of few overlapping ranges.
//
// Not safe for concurrent use: the owner's lock (hub.mu, or the pump
// goroutine's ownership) covers it.
type rangeTree[T any] struct {
	root *rangeNode[T]
	n    int
	seed uint64
}

type rangeNode[T any] struct {
	r           keyRange
	val         T
	prio        uint64
	left, right *rangeNode[T]
	// maxEnd/maxToEnd: the greatest end of any range in this subtree.
	maxEnd   []byte
	maxToEnd bool
}

func (t *rangeTree[T]) len() int { return t.n }

func (t *rangeTree[T]) nextPrio() uint64 {
	// splitmix64
	t.seed += 0x9e3779b97f4a7c15
	z := t.seed
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// insert adds r with value v. r must not be single and not already present.
func (t *rangeTree[T]) insert(r keyRange, v T) {
	t.root = treapInsert(t.root, &rangeNode[T]{r: r, val: v, prio: t.nextPrio()})
	t.n++
}

// delete removes r; it reports whether r was present.
func (t *rangeTree[T]) delete(r keyRange) bool {
	var found bool
	t.root = treapDelete(t.root, r, &found)
	if found {
		t.n--
	}
	return found
}

// stab appends to out the value of every range containing k.
func (t *rangeTree[T]) stab(k []byte, out []T) []T {
	return stabNode(t.root, k, out)
}

func stabNode[T any](n *rangeNode[T], k []byte, out []T) []T {
	for n != nil {
		if !n.maxToEnd && bytes.Compare(n.maxEnd, k) <= 0 {
			return out // every range below ends at or before k
		}
		out = stabNode(n.left, k, out)
		if bytes.Compare(n.r.start, k) > 0 {
			return out // this range and the right subtree start after k
		}
		if n.r.contains(k) {
			out = append(out, n.val)
		}
		n = n.right
	}
	return out
}

func (n *rangeNode[T]) update() {
	n.maxEnd, n.maxToEnd = n.r.end, n.r.toEnd
	for _, c := range [2]*rangeNode[T]{n.left, n.right} {
		if c != nil && compareEnds(c.maxEnd, c.maxToEnd, n.maxEnd, n.maxToEnd) > 0 {
			n.maxEnd, n.maxToEnd = c.maxEnd, c.maxToEnd
		}
	}
}

func rotateRight[T any](n *rangeNode[T]) *rangeNode[T] {
	l := n.left
	n.left = l.right
	n.update()
	l.right = n
	l.update()
	return l
}

func rotateLeft[T any](n *rangeNode[T]) *rangeNode[T] {
	r := n.right
	n.right = r.left
	n.update()
	r.left = n
	r.update()
	return r
}

func treapInsert[T any](n, x *rangeNode[T]) *rangeNode[T] {
	if n == nil {
		x.update()
		return x
	}
	if compareRanges(x.r, n.r) < 0 {
		n.left = treapInsert(n.left, x)
		if n.left.prio > n.prio {
			return rotateRight(n)
		}
	} else {
		n.right = treapInsert(n.right, x)
		if n.right.prio > n.prio {
			return rotateLeft(n)
		}
	}
	n.update()
	return n
}

func treapDelete[T any](n *rangeNode[T], r keyRange, found *bool) *rangeNode[T] {
	if n == nil {
		return nil
	}
	switch c := compareRanges(r, n.r); {
	case c < 0:
		n.left = treapDelete(n.left, r, found)
	case c > 0:
		n.right = treapDelete(n.right, r, found)
	default:
		*found = true
		return treapMerge(n.left, n.right)
	}
	n.update()
	return n
}

// treapMerge joins two treaps where every range in a sorts before b's.
func treapMerge[T any](a, b *rangeNode[T]) *rangeNode[T] {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.prio > b.prio:
		a.right = treapMerge(a.right, b)
		a.update()
		return a
	default:
		b.left = treapMerge(a, b.left)
		b.update()
		return b
	}
}
