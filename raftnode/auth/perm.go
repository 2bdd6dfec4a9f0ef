package auth

import (
	"bytes"
	"slices"

	"go.etcd.io/etcd/api/v3/authpb"
)

// Perm is one key permission of a role, as etcd's authpb.Permission:
//
//	RangeEnd empty      the single key Key
//	RangeEnd "\x00"     every key >= Key ("from key"; Key "\x00" too: all keys)
//	otherwise           the keys in [Key, RangeEnd)
type Perm struct {
	Type     authpb.Permission_Type
	Key      []byte
	RangeEnd []byte
}

// interval is a half-open key interval [begin, end); end nil means no
// upper bound.
type interval struct {
	begin, end []byte
}

// permInterval is the interval a permission covers: a single key k is
// [k, k+"\x00"), the smallest interval holding k alone.
func permInterval(key, rangeEnd []byte) interval {
	switch {
	case len(rangeEnd) == 0:
		return interval{begin: key, end: append(bytes.Clone(key), 0)}
	case isOpenEnded(rangeEnd):
		return interval{begin: key}
	default:
		return interval{begin: key, end: rangeEnd}
	}
}

func isOpenEnded(rangeEnd []byte) bool { return len(rangeEnd) == 1 && rangeEnd[0] == 0 }

// endLess orders interval ends, nil (unbounded) last.
func endLess(a, b []byte) bool {
	if a == nil {
		return false
	}
	if b == nil {
		return true
	}
	return bytes.Compare(a, b) < 0
}

// rangeSet is a union of key intervals, merged: sorted by begin, pairwise
// disjoint and not adjacent (one interval's end is never the next's begin).
// A range is inside the union exactly when it is inside one of them.
type rangeSet []interval

// newRangeSet merges ivs into a rangeSet.
func newRangeSet(ivs []interval) rangeSet {
	ivs = slices.Clone(ivs)
	slices.SortFunc(ivs, func(a, b interval) int { return bytes.Compare(a.begin, b.begin) })
	var out rangeSet
	for _, iv := range ivs {
		if iv.end != nil && bytes.Compare(iv.begin, iv.end) >= 0 {
			continue // empty
		}
		if n := len(out); n > 0 {
			last := &out[n-1]
			// Overlapping or adjacent: extend the last one.
			if last.end == nil || bytes.Compare(iv.begin, last.end) <= 0 {
				if endLess(last.end, iv.end) {
					last.end = iv.end
				}
				continue
			}
		}
		out = append(out, iv)
	}
	return out
}

// containsKey reports whether key is in the union.
func (rs rangeSet) containsKey(key []byte) bool {
	// The last interval beginning at or before key is the only candidate.
	i, found := slices.BinarySearchFunc(rs, key, func(iv interval, k []byte) int { return bytes.Compare(iv.begin, k) })
	if !found {
		i--
	}
	if i < 0 {
		return false
	}
	return rs[i].end == nil || bytes.Compare(key, rs[i].end) < 0
}

// containsRange reports whether every key of [begin, end) (end nil: no
// bound) is in the union.
func (rs rangeSet) containsRange(begin, end []byte) bool {
	i, found := slices.BinarySearchFunc(rs, begin, func(iv interval, k []byte) int { return bytes.Compare(iv.begin, k) })
	if !found {
		i--
	}
	if i < 0 {
		return false
	}
	return !endLess(rs[i].end, end)
}

// userPerms are a user's permissions merged over all its roles.
type userPerms struct {
	read, write rangeSet
}

// mergePerms merges the permissions of roles (READWRITE counts for both).
func mergePerms(perms []Perm) *userPerms {
	var read, write []interval
	for _, p := range perms {
		iv := permInterval(p.Key, p.RangeEnd)
		switch p.Type {
		case authpb.READ:
			read = append(read, iv)
		case authpb.WRITE:
			write = append(write, iv)
		case authpb.READWRITE:
			read = append(read, iv)
			write = append(write, iv)
		}
	}
	return &userPerms{read: newRangeSet(read), write: newRangeSet(write)}
}

// allowed decides whether the merged permissions allow an operation of
// type typ (READ or WRITE) on the request range key/rangeEnd, with etcd's
// request conventions:
//
//	rangeEnd empty      the single key
//	rangeEnd "\x00"     every key >= key
//	otherwise           [key, rangeEnd); an empty range (rangeEnd <= key)
//	                    is checked as the single key
//
// It is pure: the same permissions and request always give the same answer.
func (p *userPerms) allowed(key, rangeEnd []byte, typ authpb.Permission_Type) bool {
	if p == nil {
		return false
	}
	rs := p.read
	if typ == authpb.WRITE {
		rs = p.write
	}
	switch {
	case len(rangeEnd) == 0:
		return rs.containsKey(key)
	case isOpenEnded(rangeEnd):
		return rs.containsRange(key, nil)
	case bytes.Compare(rangeEnd, key) <= 0:
		return rs.containsKey(key)
	default:
		return rs.containsRange(key, rangeEnd)
	}
}

// validPermRange is etcd's rule for a granted permission: a non-empty key,
// and a range end that is empty (one key), "\x00" (open-ended) or after
// the key.
func validPermRange(key, rangeEnd []byte) bool {
	if len(key) == 0 {
		return false
	}
	if len(rangeEnd) == 0 || isOpenEnded(rangeEnd) {
		return true
	}
	return bytes.Compare(key, rangeEnd) < 0
}
