package job

import (
	"slices"
	"strconv"
	"strings"
)

// indexSet is a set of completion indexes below a bound, in the text form
// of status.completedIndexes: ascending, consecutive runs as ranges,
// "1,3-5,7".
type indexSet map[int]bool

// parseIndexes reads status.completedIndexes, keeping indexes below
// limit; malformed parts are skipped (the status is the controller's own
// writing, but a user can edit it).
func parseIndexes(s string, limit int) indexSet {
	set := indexSet{}
	if s == "" {
		return set
	}
	for part := range strings.SplitSeq(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		lo, err := strconv.Atoi(a)
		if err != nil || lo < 0 {
			continue
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(b); err != nil || hi < lo {
				continue
			}
		}
		if hi >= limit {
			hi = limit - 1
		}
		for i := lo; i <= hi; i++ {
			set[i] = true
		}
	}
	return set
}

// String formats the set as status.completedIndexes.
func (s indexSet) String() string {
	ix := make([]int, 0, len(s))
	for i := range s {
		ix = append(ix, i)
	}
	slices.Sort(ix)
	var b strings.Builder
	for i := 0; i < len(ix); {
		j := i
		for j+1 < len(ix) && ix[j+1] == ix[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(ix[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(ix[j]))
		}
		i = j + 1
	}
	return b.String()
}
