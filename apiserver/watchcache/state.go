package watchcache

import (
	"sort"
	"strings"

	"github.com/google/btree"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Object is one cached object. Obj is shared by every reader and watcher:
// it is read-only, callers DeepCopy it before changing it.
type Object struct {
	Key string
	Obj runtime.Object
	Rev int64 // the key's mod revision (the object's resourceVersion)
}

func lessObject(a, b *Object) bool { return a.Key < b.Key }

// state is the set of current objects: a map for Get and an ordered index
// for prefix lists, holding the same *Object values. An *Object is never
// changed once in the state; an update puts a new one in its place.
type state struct {
	byKey map[string]*Object
	tree  *btree.BTreeG[*Object]
}

func newState() *state {
	return &state{byKey: map[string]*Object{}, tree: btree.NewG(32, lessObject)}
}

func (s *state) put(o *Object) {
	s.byKey[o.Key] = o
	s.tree.ReplaceOrInsert(o)
}

func (s *state) delete(key string) {
	if o, ok := s.byKey[key]; ok {
		delete(s.byKey, key)
		s.tree.Delete(o)
	}
}

// scan calls fn with every object whose key starts with prefix, in key
// order, until fn returns false: O(log n + matches).
func (s *state) scan(prefix string, fn func(*Object) bool) {
	s.tree.AscendGreaterOrEqual(&Object{Key: prefix}, func(o *Object) bool {
		if !strings.HasPrefix(o.Key, prefix) {
			return false
		}
		return fn(o)
	})
}

// event is one change as the feeder applied it, shared read-only by every
// watcher it is sent to. Each watcher turns it into an Event through its
// own filter (see Watcher.convert).
type event struct {
	typ  watch.EventType // Added, Modified or Deleted as stored; Bookmark
	key  string
	obj  runtime.Object // the new state; nil for Deleted and Bookmark
	prev runtime.Object // the state before; nil for Added and Bookmark
	rev  int64
}

// history is a ring of the last len(buf) events, oldest first.
type history struct {
	buf  []*event
	head int // index of the oldest event
	n    int
}

func newHistory(size int) history { return history{buf: make([]*event, size)} }

func (h *history) at(i int) *event { return h.buf[(h.head+i)%len(h.buf)] }

// add appends e and returns the event it evicted, if the ring was full.
func (h *history) add(e *event) (evicted *event) {
	if len(h.buf) == 0 {
		return e
	}
	if h.n == len(h.buf) {
		evicted = h.buf[h.head]
		h.buf[h.head] = e
		h.head = (h.head + 1) % len(h.buf)
		return evicted
	}
	h.buf[(h.head+h.n)%len(h.buf)] = e
	h.n++
	return nil
}

// since returns a copy of the events with rev > rev, oldest first.
func (h *history) since(rev int64) []*event {
	i := sort.Search(h.n, func(i int) bool { return h.at(i).rev > rev })
	if i == h.n {
		return nil
	}
	out := make([]*event, 0, h.n-i)
	for ; i < h.n; i++ {
		out = append(out, h.at(i))
	}
	return out
}
