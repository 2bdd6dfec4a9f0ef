package watchcache

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestIndexModel checks index against a plain list of watchers: the
// watchers of a key are those whose prefix it starts with, whatever the
// order of additions and removals.
func TestIndexModel(t *testing.T) {
	const seed = 7
	rng := rand.New(rand.NewPCG(seed, seed))
	prefixes := []string{"/r/", "/r/a/", "/r/bb/", "/r/a/x", "/r/ccc/", "/q/", "/"}
	keys := []string{"/r/a/x", "/r/a/y", "/r/bb/z", "/r/ccc/", "/r/d/e", "/q/1", "/s"}
	x := newIndex()
	var live []*Watcher
	for step := 0; step < 5000; step++ {
		if len(live) == 0 || rng.IntN(3) > 0 {
			w := &Watcher{prefix: prefixes[rng.IntN(len(prefixes))]}
			x.add(w)
			live = append(live, w)
		} else {
			i := rng.IntN(len(live))
			x.remove(live[i])
			live = append(live[:i], live[i+1:]...)
		}
		if x.n != len(live) || len(x.all()) != len(live) {
			t.Fatalf("seed %d step %d: n %d, all %d, want %d", seed, step, x.n, len(x.all()), len(live))
		}
		key := keys[rng.IntN(len(keys))]
		var got, want []*Watcher
		x.each(key, func(w *Watcher) { got = append(got, w) })
		for _, w := range live {
			if strings.HasPrefix(key, w.prefix) {
				want = append(want, w)
			}
		}
		if !sameWatchers(got, want) {
			t.Fatalf("seed %d step %d: key %s: %d watchers, want %d", seed, step, key, len(got), len(want))
		}
	}
}

func sameWatchers(a, b []*Watcher) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[*Watcher]int{}
	for _, w := range a {
		m[w]++
	}
	for _, w := range b {
		m[w]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}
