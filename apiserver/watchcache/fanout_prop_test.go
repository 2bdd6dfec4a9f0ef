package watchcache

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// modelObj is the reference model's view of one key.
type modelObj struct {
	color, data string
	rev         int64
}

// modelEvent is one change as the reference model sees it.
type modelEvent struct {
	key       string
	rev       int64
	prev, cur *modelObj // nil: absent
}

// spec is what one watcher of the property test asked for.
type spec struct {
	prefix  string
	color   string // "" matches everything
	initial bool
	fromRev int64
}

func (s spec) matches(o *modelObj) bool { return o != nil && (s.color == "" || o.color == s.color) }

// expected is the reference answer: what a watcher of s started at rev0
// on state must receive, given the events after rev0.
func (s spec) expected(state map[string]*modelObj, rev0 int64, evs []modelEvent) []summary {
	var out []summary
	if s.initial {
		var keys []string
		for k, o := range state {
			if len(k) >= len(s.prefix) && k[:len(s.prefix)] == s.prefix && s.matches(o) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, summary{"ADDED", k, state[k].rev, state[k].data})
		}
		out = append(out, summary{"BOOKMARK", "", rev0, ""})
	}
	for _, e := range evs {
		if len(e.key) < len(s.prefix) || e.key[:len(s.prefix)] != s.prefix {
			continue
		}
		old, cur := s.matches(e.prev), s.matches(e.cur)
		switch {
		case old && cur:
			out = append(out, summary{"MODIFIED", e.key, e.rev, e.cur.data})
		case cur:
			out = append(out, summary{"ADDED", e.key, e.rev, e.cur.data})
		case old:
			out = append(out, summary{"DELETED", e.key, e.rev, e.prev.data})
		}
	}
	return out
}

// TestFanoutProperty: 1,000 watchers of random prefixes, filters and
// starting points each get exactly the events the reference model says, in
// order, once. KELSON_SEED=n replays a failure.
func TestFanoutProperty(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("KELSON_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seed = v
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (replay: KELSON_SEED=%d go test -race -run TestFanoutProperty ./apiserver/watchcache/)", seed, seed)
		}
	})
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	st := startMember(t)
	c := startCache(t, st, func(c *Config) { c.WatcherBuffer = 100000 }) // no termination here: see TestStalledWatcherTerminated

	namespaces := []string{"a", "bb", "ccc", "dddddd", "e1", "f2f2f2f2f2"}
	colors := []string{"red", "blue"}
	state := map[string]*modelObj{}
	var evs []modelEvent
	seq := 0
	// step writes one txn of 1-3 random changes on distinct keys.
	step := func() {
		seq++
		n := 1 + rng.IntN(3)
		used := map[string]bool{}
		var ops []*pb.RequestOp
		type change struct {
			key string
			cur *modelObj
		}
		var changes []change
		for len(ops) < n {
			ns := namespaces[rng.IntN(len(namespaces))]
			name := fmt.Sprintf("cm%d", rng.IntN(4))
			key := cmKey(ns, name)
			if used[key] {
				continue
			}
			used[key] = true
			if state[key] != nil && rng.IntN(4) == 0 {
				ops = append(ops, delOp(key))
				changes = append(changes, change{key, nil})
				continue
			}
			o := &modelObj{color: colors[rng.IntN(2)], data: strconv.Itoa(seq)}
			ops = append(ops, putOp(key, cmValue(ns, name, map[string]string{"color": o.color}, o.data)))
			changes = append(changes, change{key, o})
		}
		rev := txn(t, st, ops...)
		for _, ch := range changes {
			if ch.cur == nil && state[ch.key] == nil {
				continue
			}
			if ch.cur != nil {
				ch.cur.rev = rev
			}
			evs = append(evs, modelEvent{key: ch.key, rev: rev, prev: state[ch.key], cur: ch.cur})
			if ch.cur == nil {
				delete(state, ch.key)
			} else {
				state[ch.key] = ch.cur
			}
		}
	}

	// Phase 1: history for watchers that resume.
	for i := 0; i < 40; i++ {
		step()
	}
	rev0 := fresh(t, c)
	state0 := map[string]*modelObj{}
	for k, v := range state {
		state0[k] = v
	}
	hist := evs
	evs = nil

	const nWatchers = 1000
	specs := make([]spec, nWatchers)
	watchers := make([]*Watcher, nWatchers)
	for i := range specs {
		s := spec{prefix: prefix}
		if rng.IntN(3) > 0 {
			s.prefix = prefix + namespaces[rng.IntN(len(namespaces))] + "/"
		}
		if rng.IntN(2) == 0 {
			s.color = colors[rng.IntN(2)]
		}
		switch rng.IntN(3) {
		case 0:
			s.initial = true
		case 1:
			s.fromRev = 0
		default:
			// Resume from a random earlier revision: its later history
			// events count.
			if len(hist) > 0 {
				s.fromRev = hist[rng.IntN(len(hist))].rev
			}
		}
		specs[i] = s
		var match func(runtime.Object) bool
		if color := s.color; color != "" {
			match = func(o runtime.Object) bool { return o.(*corev1.ConfigMap).Labels["color"] == color }
		}
		w, err := c.Watch(s.prefix, s.fromRev, match, s.initial, s.initial)
		if err != nil {
			t.Fatalf("watcher %d %+v: %v", i, s, err)
		}
		t.Cleanup(w.Stop)
		watchers[i] = w
	}

	got := make([][]summary, nWatchers)
	wants := make([][]summary, nWatchers)
	var wg sync.WaitGroup
	phase2 := 60
	for i := 0; i < phase2; i++ {
		step()
	}
	for i, s := range specs {
		var after []modelEvent
		if !s.initial && s.fromRev != 0 {
			for _, e := range hist {
				if e.rev > s.fromRev {
					after = append(after, e)
				}
			}
		}
		wants[i] = s.expected(state0, rev0, append(after, evs...))
	}
	failed := make(chan string, nWatchers)
	for i, w := range watchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			timeout := time.After(30 * time.Second)
			for len(got[i]) < len(wants[i]) {
				select {
				case ev, ok := <-w.Chan():
					if !ok {
						failed <- fmt.Sprintf("watcher %d %+v closed after %d of %d events", i, specs[i], len(got[i]), len(wants[i]))
						return
					}
					got[i] = append(got[i], summarize(ev))
				case <-timeout:
					failed <- fmt.Sprintf("watcher %d %+v: %d of %d events after 30s", i, specs[i], len(got[i]), len(wants[i]))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(failed)
	for f := range failed {
		t.Fatal(f)
	}
	time.Sleep(100 * time.Millisecond) // a watcher with an extra event is blocked sending it by now
	for i, w := range watchers {
		for j := range wants[i] {
			if got[i][j] != wants[i][j] {
				t.Fatalf("watcher %d %+v, event %d:\n got %+v\nwant %+v\nall got  %+v\nall want %+v", i, specs[i], j, got[i][j], wants[i][j], got[i], wants[i])
			}
		}
		select {
		case ev, ok := <-w.Chan():
			t.Fatalf("watcher %d %+v: extra event %+v (open %v)", i, specs[i], summarize(ev), ok)
		default:
		}
	}
	if s := c.Stats(); s.Terminated != 0 || s.Watchers != nWatchers {
		t.Fatalf("stats %+v", s)
	}
}
