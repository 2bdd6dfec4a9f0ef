package watchcache

import "sort"

// index finds the watchers of an event's key without looking at the
// others: watchers are grouped by their exact key prefix, and the distinct
// prefix lengths in use are kept sorted. The watchers of key K are those
// of the groups K[:L] for each length L in use — a few map lookups per
// event (one per distinct length: the resource prefix and the lengths of
// watched namespaces' prefixes), whatever the number of watchers.
type index struct {
	groups map[string]*group
	lens   []int       // distinct lengths of the groups' prefixes, ascending
	nlen   map[int]int // groups per prefix length
	n      int         // watchers
}

type group struct {
	prefix string
	ws     []*Watcher // each w.pos is its index here
}

func newIndex() index {
	return index{groups: map[string]*group{}, nlen: map[int]int{}}
}

func (x *index) add(w *Watcher) {
	g := x.groups[w.prefix]
	if g == nil {
		g = &group{prefix: w.prefix}
		x.groups[w.prefix] = g
		if x.nlen[len(w.prefix)]++; x.nlen[len(w.prefix)] == 1 {
			x.lens = append(x.lens, len(w.prefix))
			sort.Ints(x.lens)
		}
	}
	w.group, w.pos = g, len(g.ws)
	g.ws = append(g.ws, w)
	x.n++
}

// remove takes w out; it must be in.
func (x *index) remove(w *Watcher) {
	g := w.group
	last := g.ws[len(g.ws)-1]
	g.ws[w.pos], last.pos = last, w.pos
	g.ws[len(g.ws)-1] = nil
	g.ws = g.ws[:len(g.ws)-1]
	w.group = nil
	x.n--
	if len(g.ws) > 0 {
		return
	}
	delete(x.groups, g.prefix)
	if x.nlen[len(g.prefix)]--; x.nlen[len(g.prefix)] == 0 {
		delete(x.nlen, len(g.prefix))
		i := sort.SearchInts(x.lens, len(g.prefix))
		x.lens = append(x.lens[:i], x.lens[i+1:]...)
	}
}

// each calls fn with every watcher of key. fn must not change the index.
func (x *index) each(key string, fn func(*Watcher)) {
	for _, l := range x.lens {
		if l > len(key) {
			return
		}
		if g := x.groups[key[:l]]; g != nil {
			for _, w := range g.ws {
				fn(w)
			}
		}
	}
}

// all returns every watcher.
func (x *index) all() []*Watcher {
	out := make([]*Watcher, 0, x.n)
	for _, g := range x.groups {
		out = append(out, g.ws...)
	}
	return out
}
