package bench

import (
	"fmt"
	"slices"
)

// ViolationKind classifies a departure from "every watcher receives every
// event once, in revision order".
type ViolationKind uint8

const (
	// Missing: an expected event never arrived.
	Missing ViolationKind = iota + 1
	// Duplicate: an event arrived again.
	Duplicate
	// Reordered: an event arrived after one of a later revision.
	Reordered
	// Unexpected: an event of a revision no put produced.
	Unexpected
)

func (k ViolationKind) String() string {
	switch k {
	case Missing:
		return "missing"
	case Duplicate:
		return "duplicate"
	case Reordered:
		return "reordered"
	case Unexpected:
		return "unexpected"
	}
	return fmt.Sprintf("ViolationKind(%d)", uint8(k))
}

// Violation is one departure seen by one watcher: the event's revision and
// its position in what the watcher received (-1 for a missing event).
type Violation struct {
	Watcher int
	Kind    ViolationKind
	Rev     int64
	Index   int
}

func (v Violation) String() string {
	if v.Kind == Missing {
		return fmt.Sprintf("watcher %d: %s revision %d", v.Watcher, v.Kind, v.Rev)
	}
	return fmt.Sprintf("watcher %d: %s revision %d at position %d", v.Watcher, v.Kind, v.Rev, v.Index)
}

// CheckOrder compares the revisions one watcher received, in arrival order,
// with the revisions it should have received (any order; duplicates in
// expected are ignored) and returns the violations in the order found:
// the received sequence left to right, then the missing revisions
// ascending.
//
// A received revision is Unexpected if not in expected; else Duplicate if
// already received; else Reordered if a later revision arrived before it;
// else in order. An expected revision never received is Missing. A
// reordered event is reported once, as Reordered, and not also as missing.
//
// For expected [1 2 3 4]: [1 2 3 4] is clean; [1 3 4] misses 2;
// [1 2 2 3 4] duplicates 2 at position 2; [1 3 2 4] reorders 2 at
// position 2; [1 2 9 3 4] has 9 unexpected at position 2.
func CheckOrder(watcher int, expected, got []int64) []Violation {
	want := slices.Clone(expected)
	slices.Sort(want)
	want = slices.Compact(want)
	seen := make([]bool, len(want))
	var out []Violation
	var highest int64
	for i, rev := range got {
		j, ok := slices.BinarySearch(want, rev)
		switch {
		case !ok:
			out = append(out, Violation{watcher, Unexpected, rev, i})
			continue
		case seen[j]:
			out = append(out, Violation{watcher, Duplicate, rev, i})
			continue
		case rev < highest:
			out = append(out, Violation{watcher, Reordered, rev, i})
		}
		seen[j] = true
		highest = max(highest, rev)
	}
	for j, ok := range seen {
		if !ok {
			out = append(out, Violation{watcher, Missing, want[j], -1})
		}
	}
	return out
}
