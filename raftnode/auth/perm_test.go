package auth

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"go.etcd.io/etcd/api/v3/authpb"
)

func p(typ authpb.Permission_Type, key, end string) Perm {
	var e []byte
	if end != "" {
		e = []byte(end)
	}
	return Perm{Type: typ, Key: []byte(key), RangeEnd: e}
}

const (
	R  = authpb.READ
	W  = authpb.WRITE
	RW = authpb.READWRITE
)

// TestPermAllowed is the permission checker's table: user permissions x
// requested range x operation -> allowed.
func TestPermAllowed(t *testing.T) {
	type req struct {
		key, end string
		typ      authpb.Permission_Type
		want     bool
	}
	cases := []struct {
		name  string
		perms []Perm
		reqs  []req
	}{
		{"no permissions", nil, []req{
			{"a", "", R, false}, {"a", "b", R, false}, {"\x00", "\x00", W, false},
		}},
		{"single key", []Perm{p(R, "foo", "")}, []req{
			{"foo", "", R, true},
			{"foo", "", W, false},
			{"fo", "", R, false},
			{"foo\x00", "", R, false},
			{"foo", "foo\x00", R, true}, // exactly the one key as a range
			{"foo", "fop", R, false},    // the prefix foo holds more keys
			{"foo", "\x00", R, false},
		}},
		{"prefix", []Perm{p(RW, "foo", "fop")}, []req{
			{"foo", "", R, true}, {"foo", "", W, true},
			{"foobar", "", W, true},
			{"fop", "", R, false}, // end is exclusive
			{"fo", "", R, false},
			{"foo", "fop", R, true},
			{"foo/a", "foo/b", W, true},
			{"fo", "fop", R, false},  // starts before
			{"foo", "foq", R, false}, // ends after
			{"foo", "\x00", R, false},
		}},
		{"from key", []Perm{p(R, "m", "\x00")}, []req{
			{"m", "", R, true}, {"zzz", "", R, true}, {"\xff\xff", "", R, true},
			{"l", "", R, false},
			{"m", "\x00", R, true}, {"n", "\x00", R, true},
			{"l", "\x00", R, false},
			{"m", "", W, false},
		}},
		{"all keys", []Perm{p(RW, "\x00", "\x00")}, []req{
			{"\x00", "\x00", R, true}, {"a", "", W, true}, {"\x00", "", R, true}, {"x", "y", W, true},
		}},
		{"adjacent ranges merge", []Perm{p(R, "a", "c"), p(R, "c", "e")}, []req{
			{"a", "e", R, true}, {"b", "d", R, true}, {"a", "f", R, false},
		}},
		{"overlapping ranges merge", []Perm{p(R, "a", "d"), p(R, "b", "e"), p(R, "c", "")}, []req{
			{"a", "e", R, true}, {"d", "", R, true}, {"e", "", R, false},
		}},
		{"gap is not covered", []Perm{p(R, "a", "c"), p(R, "d", "f")}, []req{
			{"a", "c", R, true}, {"d", "f", R, true}, {"b", "e", R, false}, {"c", "", R, false},
		}},
		{"single keys next to a range", []Perm{p(W, "b", ""), p(W, "b\x00", "c")}, []req{
			{"b", "c", W, true}, {"b", "", W, true}, {"a", "c", W, false},
		}},
		{"read and write are separate", []Perm{p(R, "a", "b"), p(W, "b", "c")}, []req{
			{"a", "", R, true}, {"a", "", W, false}, {"b", "", W, true}, {"b", "", R, false}, {"a", "c", R, false},
		}},
		{"readwrite counts for both", []Perm{p(R, "a", "b"), p(RW, "b", "c")}, []req{
			{"a", "c", R, true}, {"a", "c", W, false}, {"b", "c", W, true},
		}},
		{"empty request range checks its key", []Perm{p(R, "k", "")}, []req{
			{"k", "a", R, true}, {"j", "a", R, false},
		}},
	}
	for _, c := range cases {
		up := mergePerms(c.perms)
		for _, r := range c.reqs {
			var end []byte
			if r.end != "" {
				end = []byte(r.end)
			}
			if got := up.allowed([]byte(r.key), end, r.typ); got != r.want {
				t.Errorf("%s: %v on [%q, %q): allowed=%v, want %v", c.name, r.typ, r.key, r.end, got, r.want)
			}
		}
	}
}

func TestValidPermRange(t *testing.T) {
	for _, c := range []struct {
		key, end string
		want     bool
	}{
		{"a", "", true}, {"a", "b", true}, {"a", "\x00", true}, {"\x00", "\x00", true},
		{"", "", false}, {"", "b", false}, {"b", "a", false}, {"a", "a", false},
	} {
		var end []byte
		if c.end != "" {
			end = []byte(c.end)
		}
		if got := validPermRange([]byte(c.key), end); got != c.want {
			t.Errorf("validPermRange(%q, %q) = %v, want %v", c.key, c.end, got, c.want)
		}
	}
}

// TestPermAgainstModel checks the merged-interval checker against a
// brute-force model over a small alphabet: a range is allowed iff every key
// in it (over all keys up to length 3 of {a,b,c}) is covered by some
// permission.
func TestPermAgainstModel(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var universe []string
	var gen func(prefix string, depth int)
	gen = func(prefix string, depth int) {
		if prefix != "" {
			universe = append(universe, prefix)
		}
		if depth == 0 {
			return
		}
		for _, c := range "abc" {
			gen(prefix+string(c), depth-1)
		}
	}
	gen("", 3)
	randKey := func() string { return universe[rng.IntN(len(universe))] }
	randEnd := func(key string) string {
		switch rng.IntN(4) {
		case 0:
			return ""
		case 1:
			return "\x00"
		default:
			e := randKey()
			for e <= key {
				e = randKey() + "z"
			}
			return e
		}
	}
	in := func(k, key, end string) bool {
		switch end {
		case "":
			return k == key
		case "\x00":
			return k >= key
		}
		return k >= key && k < end
	}
	for iter := 0; iter < 300; iter++ {
		var perms []Perm
		for i := rng.IntN(4); i >= 0; i-- {
			k := randKey()
			perms = append(perms, p(R, k, randEnd(k)))
		}
		up := mergePerms(perms)
		for j := 0; j < 20; j++ {
			key := randKey()
			end := randEnd(key)
			want := true
			any := false
			for _, k := range universe {
				if !in(k, key, end) {
					continue
				}
				any = true
				covered := false
				for _, pm := range perms {
					if in(k, string(pm.Key), string(pm.RangeEnd)) {
						covered = true
					}
				}
				if !covered {
					want = false
				}
			}
			if !any {
				continue // the model cannot judge ranges holding none of its keys
			}
			var e []byte
			if end != "" {
				e = []byte(end)
			}
			// The model sees only the universe's keys; a range the checker
			// allows must be allowed by the model too (never more access),
			// and for ranges ending in the universe they agree.
			got := up.allowed([]byte(key), e, R)
			if got && !want {
				t.Fatalf("seed %d: perms %s allow [%q,%q) but key not covered", seed, fmtPerms(perms), key, end)
			}
		}
	}
}

func fmtPerms(ps []Perm) string {
	s := ""
	for _, p := range ps {
		s += fmt.Sprintf("[%q,%q) ", p.Key, p.RangeEnd)
	}
	return s
}
