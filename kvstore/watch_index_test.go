package kvstore

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The interval tree against a list scanned in full, on random operations.
func TestWatchRangeTreeModel(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		key := func() []byte {
			b := make([]byte, rng.IntN(3))
			for i := range b {
				b[i] = byte('a' + rng.IntN(4))
			}
			return b
		}
		var tree rangeTree[int]
		model := map[rangeID]int{}
		for step := range 600 {
			switch rng.IntN(3) {
			case 0, 1:
				k, e := key(), key()
				if rng.IntN(5) == 0 {
					e = []byte{0}
				}
				r, err := newKeyRange(k, e)
				if err != nil || r.single() {
					continue
				}
				if _, ok := model[r.id()]; ok {
					continue
				}
				model[r.id()] = step
				tree.insert(r, step)
			default:
				for id := range model { // map order: random enough
					if !tree.delete(id.keyRange()) {
						t.Fatalf("seed %d: delete of present range %+v failed", seed, id)
					}
					delete(model, id)
					break
				}
			}
			if tree.len() != len(model) {
				t.Fatalf("seed %d: tree has %d ranges, model %d", seed, tree.len(), len(model))
			}
			k := key()
			got := tree.stab(k, nil)
			var want []int
			for id, v := range model {
				if id.keyRange().contains(k) {
					want = append(want, v)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d step %d: stab(%q) = %v, want %v", seed, step, k, got, want)
			}
		}
		if tree.delete(keyRange{start: []byte("zz"), end: []byte("zzz")}) {
			t.Fatalf("seed %d: deleted an absent range", seed)
		}
	}
}

func TestWatchKeyRange(t *testing.T) {
	for _, c := range []struct {
		key, end string
		in, out  []string
	}{
		{"a", "", []string{"a"}, []string{"", "b", "a\x00"}},
		{"a", "c", []string{"a", "b", "bzzz"}, []string{"", "c", "\x00"}},
		{"b", "\x00", []string{"b", "c", "zzzz"}, []string{"a", ""}},
		{"", "\x00", []string{"", "a", "\x00"}, nil},
		{"\x00", "\x00", []string{"\x00", "a"}, []string{""}},
	} {
		r, err := newKeyRange([]byte(c.key), []byte(c.end))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range c.in {
			if !r.contains([]byte(k)) {
				t.Errorf("[%q, %q) should contain %q", c.key, c.end, k)
			}
		}
		for _, k := range c.out {
			if r.contains([]byte(k)) {
				t.Errorf("[%q, %q) should not contain %q", c.key, c.end, k)
			}
		}
		if id, err := newRangeID([]byte(c.key), []byte(c.end)); err != nil || id != r.id() {
			t.Errorf("newRangeID(%q, %q) = %+v, %v; want %+v", c.key, c.end, id, err, r.id())
		}
		back := r.id().keyRange()
		if compareRanges(r, back) != 0 || back.single() != r.single() || string(back.rangeEnd()) != string(r.rangeEnd()) {
			t.Errorf("round trip of %+v gave %+v", r, back)
		}
	}
}
