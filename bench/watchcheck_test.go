package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestCheckOrder(t *testing.T) {
	v := func(k ViolationKind, rev int64, idx int) Violation {
		return Violation{Watcher: 7, Kind: k, Rev: rev, Index: idx}
	}
	exp := []int64{10, 11, 12, 13}
	for _, c := range []struct {
		name     string
		expected []int64
		got      []int64
		want     []Violation
	}{
		{"clean", exp, []int64{10, 11, 12, 13}, nil},
		{"expected in any order", []int64{13, 11, 10, 12}, []int64{10, 11, 12, 13}, nil},
		{"nothing expected nothing got", nil, nil, nil},
		{"missing one", exp, []int64{10, 12, 13}, []Violation{v(Missing, 11, -1)}},
		{"missing last", exp, []int64{10, 11, 12}, []Violation{v(Missing, 13, -1)}},
		{"missing all", exp, nil, []Violation{v(Missing, 10, -1), v(Missing, 11, -1), v(Missing, 12, -1), v(Missing, 13, -1)}},
		{"duplicate adjacent", exp, []int64{10, 11, 11, 12, 13}, []Violation{v(Duplicate, 11, 2)}},
		{"duplicate late", exp, []int64{10, 11, 12, 13, 10}, []Violation{v(Duplicate, 10, 4)}},
		{"reordered pair", exp, []int64{10, 12, 11, 13}, []Violation{v(Reordered, 11, 2)}},
		{"reordered first last", exp, []int64{13, 10, 11, 12}, []Violation{v(Reordered, 10, 1), v(Reordered, 11, 2), v(Reordered, 12, 3)}},
		{"unexpected", exp, []int64{10, 11, 99, 12, 13}, []Violation{v(Unexpected, 99, 2)}},
		{"unexpected before range", exp, []int64{9, 10, 11, 12, 13}, []Violation{v(Unexpected, 9, 0)}},
		{"reordered then duplicated", exp, []int64{10, 12, 11, 11, 13}, []Violation{v(Reordered, 11, 2), v(Duplicate, 11, 3)}},
		{"everything", exp, []int64{11, 10, 11, 42, 13},
			[]Violation{v(Reordered, 10, 1), v(Duplicate, 11, 2), v(Unexpected, 42, 3), v(Missing, 12, -1)}},
		{"duplicates in expected ignored", []int64{10, 10, 11}, []int64{10, 11}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := CheckOrder(7, c.expected, c.got)
			if !slices.Equal(got, c.want) {
				t.Fatalf("CheckOrder(%v, %v)\n got %v\nwant %v", c.expected, c.got, got, c.want)
			}
		})
	}
}

// TestCheckOrderProperties: on random deliveries, the violations account
// for every expected revision exactly: each is either received in order,
// reordered, or missing.
func TestCheckOrderProperties(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 4))
	for iter := 0; iter < 2000; iter++ {
		n := rng.IntN(20)
		var expected []int64
		for i := 0; i < n; i++ {
			expected = append(expected, int64(100+2*i)) // odd revisions are never expected
		}
		var got []int64
		for _, r := range expected {
			switch rng.IntN(10) {
			case 0: // drop
			case 1:
				got = append(got, r, r)
			case 2:
				got = append(got, r+1)
				got = append(got, r)
			default:
				got = append(got, r)
			}
		}
		if len(got) > 1 && rng.IntN(3) == 0 {
			i, j := rng.IntN(len(got)), rng.IntN(len(got))
			got[i], got[j] = got[j], got[i]
		}
		vs := CheckOrder(0, expected, got)
		byKind := map[ViolationKind]int{}
		missing := map[int64]bool{}
		for _, v := range vs {
			byKind[v.Kind]++
			if v.Kind == Missing {
				missing[v.Rev] = true
			}
		}
		distinct := map[int64]bool{}
		unexpected := 0
		for _, r := range got {
			if r%2 == 1 {
				unexpected++
			} else {
				distinct[r] = true
			}
		}
		if byKind[Unexpected] != unexpected {
			t.Fatalf("seed %d iter %d: %d unexpected reported, want %d (got %v)", seed, iter, byKind[Unexpected], unexpected, got)
		}
		if byKind[Duplicate] != len(got)-unexpected-len(distinct) {
			t.Fatalf("seed %d iter %d: %d duplicates reported, want %d (got %v)", seed, iter, byKind[Duplicate], len(got)-unexpected-len(distinct), got)
		}
		for _, r := range expected {
			if distinct[r] == missing[r] {
				t.Fatalf("seed %d iter %d: revision %d received=%v but missing=%v (got %v)", seed, iter, r, distinct[r], missing[r], got)
			}
		}
		sorted := true
		for i := 1; i < len(got); i++ {
			sorted = sorted && got[i] > got[i-1]
		}
		if sorted && len(vs) != len(expected)-len(distinct)+unexpected {
			t.Fatalf("seed %d iter %d: strictly increasing delivery has violations %v", seed, iter, vs)
		}
	}
}

func TestSeqValue(t *testing.T) {
	for _, c := range []struct {
		seq  int64
		size int
		want string
	}{{0, 8, "00000000"}, {42, 8, "00000042"}, {123456789, 4, "123456789"}, {7, 1, "7"}} {
		got := seqValue(c.seq, c.size)
		if got != c.want {
			t.Errorf("seqValue(%d, %d) = %q, want %q", c.seq, c.size, got, c.want)
		}
		if s, ok := parseSeq([]byte(got)); !ok || s != c.seq {
			t.Errorf("parseSeq(%q) = %d, %v", got, s, ok)
		}
	}
	for _, bad := range []string{"", "12a", "-1", "1234567890123456789"} {
		if _, ok := parseSeq([]byte(bad)); ok {
			t.Errorf("parseSeq(%q) accepted", bad)
		}
	}
}
