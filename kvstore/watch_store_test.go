package kvstore

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// The hub on the real store: history from Pebble, PrevKv, compaction, a
// stalled stream, Close. The expected events come from a model of the
// writes, not from the store.
func TestWatchStoreIntegration(t *testing.T) {
	s, err := Open("db", Options{FS: vfs.NewMem(), WatchQueueLen: 2, WatchBatchEvents: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const seed = 7
	rng := rand.New(rand.NewPCG(seed, 0))
	keys := []string{"a", "a/1", "a/2", "b", "c"}

	type modelKV struct {
		val         string
		create, ver int64
		lastRev     int64
	}
	model := map[string]*modelKV{}
	type ev struct {
		rev  int64
		text string // without PrevKv
		prev string // PrevKv suffix
		key  string
		del  bool
	}
	var log []ev

	live := s.NewWatchStream()
	defer live.Close()
	all := mustWatch(t, live, 0, WatchRequest{Key: []byte{0}, End: []byte{0}, PrevKV: true})
	prefix := mustWatch(t, live, 0, WatchRequest{Key: []byte("a/"), End: []byte("a0")})
	stalled := s.NewWatchStream()
	defer stalled.Close()
	stalledID := mustWatch(t, stalled, 0, WatchRequest{Key: []byte("a"), End: []byte("b"), NoDelete: true})
	var stalledOne []int64 // enough of them to fill the stream's channel
	for range 10 {
		stalledOne = append(stalledOne, mustWatch(t, stalled, 0, WatchRequest{Key: []byte("a/1")}))
	}
	barrier(t, storeRevs{s}, live)
	waitLive(t, s.hub, stalled, "a/1")

	for range 200 {
		var ops []*pb.RequestOp
		var kinds []string
		used := map[string]bool{}
		for range 1 + rng.IntN(3) {
			k := keys[rng.IntN(len(keys))]
			if used[k] {
				continue
			}
			used[k] = true
			if model[k] != nil && rng.IntN(3) == 0 {
				ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{
					RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(k)}}})
				kinds = append(kinds, "del "+k)
			} else {
				v := fmt.Sprint(rng.IntN(1000))
				ops = append(ops, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{
					RequestPut: &pb.PutRequest{Key: []byte(k), Value: []byte(v)}}})
				kinds = append(kinds, "put "+k+" "+v)
			}
		}
		r, err := s.Txn(&pb.TxnRequest{Success: ops})
		if err != nil {
			t.Fatalf("txn: %v", err)
		}
		rev := r.Header.Revision
		for _, kind := range kinds {
			f := strings.Fields(kind)
			k, old := f[1], model[f[1]]
			prev := ""
			if old != nil {
				prev = fmt.Sprintf("(%d=%s)", old.lastRev, old.val)
			}
			if f[0] == "del" {
				delete(model, k)
				log = append(log, ev{rev: rev, text: fmt.Sprintf("%d:DELETE:%s", rev, k), prev: prev, key: k, del: true})
				continue
			}
			m := &modelKV{val: f[2], create: rev, ver: 1, lastRev: rev}
			if old != nil {
				m.create, m.ver = old.create, old.ver+1
			}
			model[k] = m
			log = append(log, ev{rev: rev, text: fmt.Sprintf("%d:PUT:%s=%s c%d v%d", rev, k, m.val, m.create, m.ver), prev: prev, key: k})
		}
	}
	render := func(evs []*mvccpb.Event) string {
		var out []string
		for _, e := range evs {
			s := fmt.Sprintf("%d:%s:%s", e.Kv.ModRevision, e.Type, e.Kv.Key)
			if e.Type == mvccpb.Event_PUT {
				s += fmt.Sprintf("=%s c%d v%d", e.Kv.Value, e.Kv.CreateRevision, e.Kv.Version)
			}
			if e.PrevKv != nil {
				s += fmt.Sprintf("(%d=%s)", e.PrevKv.ModRevision, e.PrevKv.Value)
			}
			out = append(out, s)
		}
		return strings.Join(out, " ")
	}
	want := func(from int64, in func(string) bool, prevKV, noDelete bool) string {
		var out []string
		for _, e := range log {
			if e.rev < from || !in(e.key) || (noDelete && e.del) {
				continue
			}
			if prevKV {
				out = append(out, e.text+e.prev)
			} else {
				out = append(out, e.text)
			}
		}
		return strings.Join(out, " ")
	}
	anyKey := func(string) bool { return true }
	inA := func(k string) bool { return strings.HasPrefix(k, "a/") }
	aToB := func(k string) bool { return k >= "a" && k < "b" }

	rs := barrier(t, storeRevs{s}, live)
	if got, w := render(eventsOf(rs, all)), want(2, anyKey, true, false); got != w {
		t.Fatalf("live all-keys watcher:\ngot  %s\nwant %s", got, w)
	}
	if got, w := render(eventsOf(rs, prefix)), want(2, inA, false, false); got != w {
		t.Fatalf("live prefix watcher:\ngot  %s\nwant %s", got, w)
	}
	// The stalled stream overflowed; it still gets everything, from history.
	rs = barrier(t, storeRevs{s}, stalled)
	if got, w := render(eventsOf(rs, stalledID)), want(2, aToB, false, true); got != w {
		t.Fatalf("stalled watcher:\ngot  %s\nwant %s", got, w)
	}
	for _, id := range stalledOne {
		if got, w := render(eventsOf(rs, id)), want(2, func(k string) bool { return k == "a/1" }, false, false); got != w {
			t.Fatalf("stalled watcher on a/1:\ngot  %s\nwant %s", got, w)
		}
	}
	if m := s.hub.metrics(); m.Overflows == 0 {
		t.Fatalf("stalled stream did not overflow: %+v", m)
	}

	// Historical watchers, then compaction.
	hist := s.NewWatchStream()
	defer hist.Close()
	from := int64(50)
	h1 := mustWatch(t, hist, 0, WatchRequest{Key: []byte("a"), End: []byte("b"), StartRev: from, PrevKV: true})
	rs = barrier(t, storeRevs{s}, hist)
	if got, w := render(eventsOf(rs, h1)), want(from, aToB, true, false); got != w {
		t.Fatalf("historical watcher:\ngot  %s\nwant %s", got, w)
	}
	compactAt := s.Rev() - 20
	if err := s.Compact(compactAt); err != nil {
		t.Fatal(err)
	}
	h2 := mustWatch(t, hist, 0, WatchRequest{Key: []byte("a"), StartRev: compactAt - 1})
	rs = barrier(t, storeRevs{s}, hist)
	var canceled *WatchResponse
	for i := range rs {
		if rs[i].WatchID == h2 && rs[i].Canceled {
			canceled = &rs[i]
		}
	}
	if canceled == nil || canceled.CompactRevision != compactAt {
		t.Fatalf("watch below the compacted revision %d: %+v", compactAt, rs)
	}
	h3 := mustWatch(t, hist, 0, WatchRequest{Key: []byte{0}, End: []byte{0}, StartRev: compactAt + 1})
	rs = barrier(t, storeRevs{s}, hist)
	if got, w := render(eventsOf(rs, h3)), want(compactAt+1, anyKey, false, false); got != w {
		t.Fatalf("watcher above the compacted revision:\ngot  %s\nwant %s", got, w)
	}

	s.Close()
	for _, ws := range []*WatchStream{live, stalled, hist} {
		for range ws.Chan() {
		}
	}
}

// storeRevs lets barrier read a real store's revision.
type storeRevs struct{ s *Store }

func (r storeRevs) revisions() (int64, int64) { return r.s.revisions() }
