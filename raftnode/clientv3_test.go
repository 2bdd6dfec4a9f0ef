package raftnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// TestClientV3Compat drives a three-member cluster with the unmodified etcd
// client and its concurrency recipes, checking the answers etcd gives.
func TestClientV3Compat(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	tc.waitLeaderKnown()
	eps := tc.endpoints()
	cli := quietClient(t, eps...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("KV", func(t *testing.T) { testKVOptions(t, ctx, cli) })
	t.Run("Txn", func(t *testing.T) { testTxn(t, ctx, cli) })
	t.Run("Watch", func(t *testing.T) { testWatch(t, ctx, cli) })
	t.Run("Mutex", func(t *testing.T) { testMutex(t, ctx, eps) })
	t.Run("Election", func(t *testing.T) { testElection(t, ctx, eps) })
	t.Run("Maintenance", func(t *testing.T) { testMaintenance(t, ctx, eps) })
}

func keysOf(kvs []*mvccpb.KeyValue) []string {
	var out []string
	for _, kv := range kvs {
		out = append(out, string(kv.Key))
	}
	return out
}

func valuesOf(kvs []*mvccpb.KeyValue) []string {
	var out []string
	for _, kv := range kvs {
		out = append(out, string(kv.Value))
	}
	return out
}

func testKVOptions(t *testing.T, ctx context.Context, cli *clientv3.Client) {
	// kv/a..kv/e with values in the reverse order of the keys, written in
	// the order c, a, e, b, d (so mod revisions differ from key order).
	vals := map[string]string{"kv/a": "5", "kv/b": "4", "kv/c": "3", "kv/d": "2", "kv/e": "1"}
	var first, last int64
	for _, k := range []string{"kv/c", "kv/a", "kv/e", "kv/b", "kv/d"} {
		r, err := cli.Put(ctx, k, vals[k])
		if err != nil {
			t.Fatal(err)
		}
		if first == 0 {
			first = r.Header.Revision
		}
		last = r.Header.Revision
	}
	if _, err := cli.Put(ctx, "kw", "outside"); err != nil {
		t.Fatal(err)
	}
	get := func(key string, opts ...clientv3.OpOption) *clientv3.GetResponse {
		t.Helper()
		r, err := cli.Get(ctx, key, opts...)
		if err != nil {
			t.Fatalf("get %q: %v", key, err)
		}
		return r
	}
	all := []string{"kv/a", "kv/b", "kv/c", "kv/d", "kv/e"}

	if r := get("kv/", clientv3.WithPrefix()); !slices.Equal(keysOf(r.Kvs), all) || r.Count != 5 || r.More {
		t.Errorf("prefix: keys %q count %d more %v", keysOf(r.Kvs), r.Count, r.More)
	}
	if r := get("kv/", clientv3.WithPrefix(), clientv3.WithLimit(2)); !slices.Equal(keysOf(r.Kvs), all[:2]) || r.Count != 5 || !r.More {
		t.Errorf("limit 2: keys %q count %d more %v; want 2 keys, count 5, more", keysOf(r.Kvs), r.Count, r.More)
	}
	if r := get("kv/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)); !slices.Equal(keysOf(r.Kvs), []string{"kv/e", "kv/d", "kv/c", "kv/b", "kv/a"}) {
		t.Errorf("sort by key descending: %q", keysOf(r.Kvs))
	}
	if r := get("kv/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByValue, clientv3.SortAscend)); !slices.Equal(valuesOf(r.Kvs), []string{"1", "2", "3", "4", "5"}) {
		t.Errorf("sort by value: %q", valuesOf(r.Kvs))
	}
	if r := get("kv/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortAscend), clientv3.WithLimit(3)); !slices.Equal(keysOf(r.Kvs), []string{"kv/c", "kv/a", "kv/e"}) {
		t.Errorf("sort by mod revision, limit 3: %q", keysOf(r.Kvs))
	}
	if r := get("kv/", clientv3.WithPrefix(), clientv3.WithCountOnly()); r.Count != 5 || len(r.Kvs) != 0 {
		t.Errorf("count only: count %d, %d kvs", r.Count, len(r.Kvs))
	}
	if r := get("kv/", clientv3.WithPrefix(), clientv3.WithKeysOnly()); !slices.Equal(keysOf(r.Kvs), all) || slices.ContainsFunc(r.Kvs, func(kv *mvccpb.KeyValue) bool { return len(kv.Value) > 0 }) {
		t.Errorf("keys only: %v", r.Kvs)
	}
	if r := get("kv/d", clientv3.WithFromKey()); !slices.Equal(keysOf(r.Kvs), []string{"kv/d", "kv/e", "kw"}) {
		t.Errorf("from key kv/d: %q", keysOf(r.Kvs))
	}
	if r := get("kv/b", clientv3.WithRange("kv/d")); !slices.Equal(keysOf(r.Kvs), []string{"kv/b", "kv/c"}) {
		t.Errorf("range [kv/b, kv/d): %q", keysOf(r.Kvs))
	}
	// Old revisions.
	if r := get("kv/", clientv3.WithPrefix(), clientv3.WithRev(first)); !slices.Equal(keysOf(r.Kvs), []string{"kv/c"}) {
		t.Errorf("at revision %d: %q, want only kv/c", first, keysOf(r.Kvs))
	}
	if r := get("kv/", clientv3.WithPrefix(), clientv3.WithRev(last-1)); len(r.Kvs) != 4 {
		t.Errorf("at revision %d: %q, want 4 keys", last-1, keysOf(r.Kvs))
	}
	if r := get("kv/", clientv3.WithPrefix(), clientv3.WithMinModRev(last-1)); !slices.Equal(keysOf(r.Kvs), []string{"kv/b", "kv/d"}) {
		t.Errorf("min mod revision %d: %q", last-1, keysOf(r.Kvs))
	}
	if r := get("kv/a", clientv3.WithSerializable()); len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "5" {
		t.Errorf("serializable get: %v", r.Kvs)
	}
	if _, err := cli.Get(ctx, "kv/a", clientv3.WithRev(last+1000)); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Errorf("get at a future revision: %v, want %v", err, rpctypes.ErrFutureRev)
	}

	// prevKV on put and delete; versions.
	p, err := cli.Put(ctx, "kv/a", "55", clientv3.WithPrevKV())
	if err != nil || p.PrevKv == nil || string(p.PrevKv.Value) != "5" {
		t.Fatalf("put with prevKV: %v %v", p, err)
	}
	if r := get("kv/a"); r.Kvs[0].Version != 2 || r.Kvs[0].CreateRevision == r.Kvs[0].ModRevision {
		t.Errorf("kv/a after a second put: %+v", r.Kvs[0])
	}
	d, err := cli.Delete(ctx, "kv/d", clientv3.WithRange("kv/f"), clientv3.WithPrevKV())
	if err != nil || d.Deleted != 2 || !slices.Equal(keysOf(d.PrevKvs), []string{"kv/d", "kv/e"}) {
		t.Fatalf("delete [kv/d, kv/f) with prevKV: %v %v", d, err)
	}
	if r := get("kv/", clientv3.WithPrefix(), clientv3.WithCountOnly()); r.Count != 3 {
		t.Errorf("after delete: count %d", r.Count)
	}
	if _, err := cli.Put(ctx, "kv/a", "", clientv3.WithIgnoreValue()); err != nil {
		t.Errorf("put with ignore value on an existing key: %v", err)
	} else if r := get("kv/a"); string(r.Kvs[0].Value) != "55" {
		t.Errorf("ignore value changed the value to %q", r.Kvs[0].Value)
	}
	if _, err := cli.Put(ctx, "kv/none", "", clientv3.WithIgnoreValue()); !errors.Is(err, rpctypes.ErrKeyNotFound) {
		t.Errorf("put with ignore value on a missing key: %v, want %v", err, rpctypes.ErrKeyNotFound)
	}
}

func testTxn(t *testing.T, ctx context.Context, cli *clientv3.Client) {
	p, err := cli.Put(ctx, "txn/a", "1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "txn/b", "2"); err != nil {
		t.Fatal(err)
	}
	// All compares hold: the then branch runs (a put and a read).
	r, err := cli.Txn(ctx).If(
		clientv3.Compare(clientv3.Value("txn/a"), "=", "1"),
		clientv3.Compare(clientv3.Version("txn/a"), "=", 1),
		clientv3.Compare(clientv3.CreateRevision("txn/a"), "=", p.Header.Revision),
		clientv3.Compare(clientv3.ModRevision("txn/b"), ">", p.Header.Revision),
		clientv3.Compare(clientv3.Version("txn/missing"), "=", 0),
		clientv3.Compare(clientv3.Value("txn/b"), "!=", "3"),
	).Then(
		clientv3.OpPut("txn/a", "10"),
		clientv3.OpGet("txn/", clientv3.WithPrefix()),
	).Else(
		clientv3.OpPut("txn/else", "x"),
	).Commit()
	if err != nil {
		t.Fatal(err)
	}
	if !r.Succeeded || len(r.Responses) != 2 {
		t.Fatalf("txn with holding compares: succeeded=%v, %d responses", r.Succeeded, len(r.Responses))
	}
	if got := valuesOf(r.Responses[1].GetResponseRange().Kvs); !slices.Equal(got, []string{"10", "2"}) {
		t.Errorf("read inside the txn sees %q, want its own put: [10 2]", got)
	}
	txnRev := r.Header.Revision
	// One compare fails: the else branch runs, with a nested txn.
	r, err = cli.Txn(ctx).If(
		clientv3.Compare(clientv3.Value("txn/a"), "=", "1"),
	).Then(
		clientv3.OpPut("txn/then", "x"),
	).Else(
		clientv3.OpPut("txn/else", "y"),
		clientv3.OpDelete("txn/b", clientv3.WithPrevKV()),
		clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.Value("txn/a"), "=", "10")},
			[]clientv3.Op{clientv3.OpGet("txn/a")}, nil),
	).Commit()
	if err != nil {
		t.Fatal(err)
	}
	if r.Succeeded || len(r.Responses) != 3 {
		t.Fatalf("txn with a failing compare: succeeded=%v, %d responses", r.Succeeded, len(r.Responses))
	}
	if del := r.Responses[1].GetResponseDeleteRange(); del.Deleted != 1 || string(del.PrevKvs[0].Value) != "2" {
		t.Errorf("delete in the else branch: %v", del)
	}
	if nested := r.Responses[2].GetResponseTxn(); !nested.Succeeded || string(nested.Responses[0].GetResponseRange().Kvs[0].Value) != "10" {
		t.Errorf("nested txn: %v", nested)
	}
	if r.Header.Revision != txnRev+1 {
		t.Errorf("the else branch's two writes took revisions %d..%d: a txn is one revision", txnRev+1, r.Header.Revision)
	}
	if g, _ := cli.Get(ctx, "txn/then"); g.Count != 0 {
		t.Errorf("the then branch of a failed txn wrote txn/then")
	}
	// Read-only txn.
	r, err = cli.Txn(ctx).If(clientv3.Compare(clientv3.Value("txn/else"), "=", "y")).Then(clientv3.OpGet("txn/else")).Commit()
	if err != nil || !r.Succeeded || r.Header.Revision != txnRev+1 {
		t.Errorf("read-only txn: %v %v", r, err)
	}
	// Writing one key twice in a txn is refused, as etcd does.
	_, err = cli.Txn(ctx).Then(clientv3.OpPut("txn/dup", "1"), clientv3.OpPut("txn/dup", "2")).Commit()
	if !errors.Is(err, rpctypes.ErrDuplicateKey) {
		t.Errorf("txn writing a key twice: %v, want %v", err, rpctypes.ErrDuplicateKey)
	}
}

// nextEvents reads watch responses until n events arrived.
func nextEvents(t *testing.T, wch clientv3.WatchChan, n int) []*clientv3.Event {
	t.Helper()
	var evs []*clientv3.Event
	timeout := time.After(10 * time.Second)
	for len(evs) < n {
		select {
		case wr, ok := <-wch:
			if !ok {
				t.Fatalf("watch closed after %d of %d events", len(evs), n)
			}
			if err := wr.Err(); err != nil {
				t.Fatalf("watch error after %d of %d events: %v", len(evs), n, err)
			}
			evs = append(evs, wr.Events...)
		case <-timeout:
			t.Fatalf("got %d of %d watch events", len(evs), n)
		}
	}
	return evs
}

func describeEvents(evs []*clientv3.Event) []string {
	var out []string
	for _, ev := range evs {
		s := fmt.Sprintf("%s %s=%s@%d", ev.Type, ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision)
		if ev.PrevKv != nil {
			s += fmt.Sprintf(" (prev %s)", ev.PrevKv.Value)
		}
		out = append(out, s)
	}
	return out
}

func testWatch(t *testing.T, ctx context.Context, cli *clientv3.Client) {
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	// A prefix watch with previous values, from now.
	wch := cli.Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithCreatedNotify())
	if wr := <-wch; !wr.Created {
		t.Fatalf("first watch response is not the created notification: %+v", wr)
	}
	p1, err := cli.Put(ctx, "w/a", "1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "other", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "w/a", "2"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, "w/a"); err != nil {
		t.Fatal(err)
	}
	evs := nextEvents(t, wch, 3)
	got := describeEvents(evs)
	want := []string{
		fmt.Sprintf("PUT w/a=1@%d", p1.Header.Revision),
		fmt.Sprintf("PUT w/a=2@%d (prev 1)", p1.Header.Revision+2),
		fmt.Sprintf("DELETE w/a=@%d (prev 2)", p1.Header.Revision+3),
	}
	if !slices.Equal(got, want) {
		t.Errorf("prefix watch with prevKV: %q, want %q", got, want)
	}

	// From an old revision: the history replays.
	old := cli.Watch(wctx, "w/a", clientv3.WithRev(p1.Header.Revision))
	if got := describeEvents(nextEvents(t, old, 3)); !slices.Equal(got, []string{want[0], fmt.Sprintf("PUT w/a=2@%d", p1.Header.Revision+2), fmt.Sprintf("DELETE w/a=@%d", p1.Header.Revision+3)}) {
		t.Errorf("watch from revision %d: %q", p1.Header.Revision, got)
	}

	// Progress notification on request.
	pctx, pcancel := context.WithCancel(ctx)
	pch := cli.Watch(pctx, "w/progress")
	cur, err := cli.Get(ctx, "w/progress")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "progress notification", func() error {
		if err := cli.RequestProgress(ctx); err != nil {
			return err
		}
		select {
		case wr := <-pch:
			if !wr.IsProgressNotify() {
				return fmt.Errorf("not a progress notification: %+v", wr)
			}
			if wr.Header.Revision < cur.Header.Revision {
				return fmt.Errorf("progress at revision %d, store at %d", wr.Header.Revision, cur.Header.Revision)
			}
			return nil
		case <-time.After(time.Second):
			return errors.New("no response")
		}
	})
	pcancel()

	// Compaction: a watch below the compacted revision is cancelled with
	// the compact revision; resuming from there continues.
	for i := 0; i < 3; i++ {
		if _, err := cli.Put(ctx, "w/c", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := cli.Put(ctx, "w/c", "3")
	if err != nil {
		t.Fatal(err)
	}
	compactAt := cp.Header.Revision - 1
	if _, err := cli.Compact(ctx, compactAt); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "w/c", "4"); err != nil {
		t.Fatal(err)
	}
	cch := cli.Watch(wctx, "w/c", clientv3.WithRev(p1.Header.Revision))
	var wr clientv3.WatchResponse
	select {
	case wr = <-cch:
	case <-time.After(10 * time.Second):
		t.Fatal("no response to a watch below the compacted revision")
	}
	if wr.CompactRevision != compactAt || !errors.Is(wr.Err(), rpctypes.ErrCompacted) || !wr.Canceled {
		t.Fatalf("watch below the compaction: compact revision %d (want %d), canceled %v, err %v",
			wr.CompactRevision, compactAt, wr.Canceled, wr.Err())
	}
	// The compact revision itself still holds each key's latest version:
	// resuming there replays it, then what followed.
	resumed := cli.Watch(wctx, "w/c", clientv3.WithRev(wr.CompactRevision))
	if got, want := describeEvents(nextEvents(t, resumed, 3)), []string{
		fmt.Sprintf("PUT w/c=2@%d", compactAt),
		fmt.Sprintf("PUT w/c=3@%d", cp.Header.Revision),
		fmt.Sprintf("PUT w/c=4@%d", cp.Header.Revision+1),
	}; !slices.Equal(got, want) {
		t.Errorf("watch resumed from the compact revision %d: %q, want %q", wr.CompactRevision, got, want)
	}
	if _, err := cli.Get(ctx, "w/c", clientv3.WithRev(compactAt-1)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("get below the compacted revision: %v, want %v", err, rpctypes.ErrCompacted)
	}
}

func testMutex(t *testing.T, ctx context.Context, eps []string) {
	const rounds = 15
	var inside atomic.Int32
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for w := 0; w < 2; w++ {
		cli := quietClient(t, eps[w%len(eps)])
		s, err := concurrency.NewSession(cli, concurrency.WithTTL(5))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		m := concurrency.NewMutex(s, "/lock/counter")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				if err := m.Lock(ctx); err != nil {
					errc <- fmt.Errorf("lock: %w", err)
					return
				}
				if n := inside.Add(1); n != 1 {
					errc <- fmt.Errorf("%d holders of the mutex at once", n)
				}
				// Read-modify-write of the counter, guarded only by the mutex;
				// the write is conditional on still owning the lock.
				r, err := cli.Get(ctx, "counter")
				if err != nil {
					errc <- err
					return
				}
				n := 0
				if len(r.Kvs) > 0 {
					fmt.Sscan(string(r.Kvs[0].Value), &n)
				}
				tr, err := cli.Txn(ctx).If(m.IsOwner()).Then(clientv3.OpPut("counter", fmt.Sprint(n+1))).Commit()
				if err != nil || !tr.Succeeded {
					errc <- fmt.Errorf("owner's write: succeeded=%v err=%v", tr != nil && tr.Succeeded, err)
					return
				}
				inside.Add(-1)
				if err := m.Unlock(ctx); err != nil {
					errc <- fmt.Errorf("unlock: %w", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	r, err := quietClient(t, eps...).Get(ctx, "counter")
	if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != fmt.Sprint(2*rounds) {
		t.Fatalf("counter = %v (%v), want %d", r, err, 2*rounds)
	}
	// TryLock on a held mutex fails at once.
	s1, err := concurrency.NewSession(quietClient(t, eps[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	s2, err := concurrency.NewSession(quietClient(t, eps[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	m1, m2 := concurrency.NewMutex(s1, "/lock/try"), concurrency.NewMutex(s2, "/lock/try")
	if err := m1.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m2.TryLock(ctx); !errors.Is(err, concurrency.ErrLocked) {
		t.Errorf("TryLock of a held mutex: %v, want %v", err, concurrency.ErrLocked)
	}
	// Closing the holder's session (revoking its lease) frees the mutex.
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
	defer lcancel()
	if err := m2.Lock(lctx); err != nil {
		t.Fatalf("lock after the holder's session closed: %v", err)
	}
}

func testElection(t *testing.T, ctx context.Context, eps []string) {
	newSession := func(ep string) *concurrency.Session {
		s, err := concurrency.NewSession(quietClient(t, ep), concurrency.WithTTL(5))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	e1 := concurrency.NewElection(newSession(eps[0]), "/election/")
	e2 := concurrency.NewElection(newSession(eps[1]), "/election/")
	watcher := concurrency.NewElection(newSession(eps[2]), "/election/")
	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	obs := watcher.Observe(octx)

	if err := e1.Campaign(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	observe := func(want string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case r, ok := <-obs:
				if !ok {
					t.Fatalf("observation ended while waiting for %q", want)
				}
				if string(r.Kvs[0].Value) == want {
					return
				}
			case <-timeout:
				t.Fatalf("observer never saw leader %q", want)
			}
		}
	}
	observe("alice")
	won := make(chan error, 1)
	go func() { won <- e2.Campaign(ctx, "bob") }()
	select {
	case err := <-won:
		t.Fatalf("second candidate won while the first leads: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := e1.Proclaim(ctx, "alice-2"); err != nil {
		t.Fatal(err)
	}
	observe("alice-2")
	if l, err := watcher.Leader(ctx); err != nil || string(l.Kvs[0].Value) != "alice-2" {
		t.Fatalf("Leader() = %v, %v", l, err)
	}
	if err := e1.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-won:
		if err != nil {
			t.Fatalf("second candidate's campaign: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second candidate did not win after the leader resigned")
	}
	observe("bob")
	if l, err := e1.Leader(ctx); err != nil || string(l.Kvs[0].Value) != "bob" {
		t.Fatalf("Leader() after resign = %v, %v", l, err)
	}
}

func testMaintenance(t *testing.T, ctx context.Context, eps []string) {
	cli := quietClient(t, eps...)
	var leader uint64
	for _, ep := range eps {
		st, err := cli.Status(ctx, ep)
		if err != nil {
			t.Fatalf("status of %s: %v", ep, err)
		}
		if st.Version == "" || st.Leader == 0 || st.RaftIndex == 0 || st.RaftTerm == 0 || st.DbSize <= 0 || st.Header.MemberId == 0 {
			t.Errorf("status of %s: %+v", ep, st)
		}
		if leader != 0 && st.Leader != leader {
			t.Errorf("%s names leader %x, another member %x", ep, st.Leader, leader)
		}
		leader = st.Leader
	}
	for i := 0; i < 20; i++ {
		if _, err := cli.Put(ctx, fmt.Sprintf("m/%02d", i), "some value to compact away"); err != nil {
			t.Fatal(err)
		}
	}
	rev := checkConverged(t, eps)

	// A snapshot streams the whole store.
	rc, err := cli.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	rc.Close()
	if err != nil || n == 0 {
		t.Fatalf("snapshot: %d bytes, %v", n, err)
	}
	t.Logf("snapshot: %d bytes", n)

	// Physical compaction, then the compacted history is gone everywhere.
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Get(ctx, "m/00", clientv3.WithRev(rev-1)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("get below the compaction: %v, want %v", err, rpctypes.ErrCompacted)
	}
	if _, err := cli.Compact(ctx, rev); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("compacting the compacted revision again: %v, want %v", err, rpctypes.ErrCompacted)
	}
	for _, ep := range eps {
		eventually(t, 10*time.Second, "compaction applied on "+ep, func() error {
			h, err := cli.HashKV(ctx, ep, 0)
			if err != nil {
				return err
			}
			if h.CompactRevision != rev {
				return fmt.Errorf("compact revision %d, want %d", h.CompactRevision, rev)
			}
			return nil
		})
	}
	checkConverged(t, eps)
}
