package e2e

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// workload is a set of concurrent writers doing puts, each writer on its
// own keys (so each key's puts are sequential and their values increase),
// recording which puts were acknowledged and at which revision.
//
// Key w03/k017 under the prefix is written only by writer 3, with values
// "w03-<seq>" where seq grows with each put of that writer. A put that
// failed (an error, a timeout) may or may not have been applied; one that
// was acknowledged must be in every member's history at its revision, and
// the current value of a key must be its last acknowledged value or a value
// attempted after it.
type workload struct {
	prefix  string
	cli     *clientv3.Client
	writers int
	keys    int // keys per writer
	seed    int64

	acked  atomic.Int64
	failed atomic.Int64

	mu       sync.Mutex
	acks     []ack
	last     map[string]ack   // key -> its last acknowledged put
	attempts map[string]int64 // key -> seq of its newest put attempted
	lastErr  error
	errs     map[string]int // error message -> count

	stop chan struct{}
	wg   sync.WaitGroup
}

type ack struct {
	key, val string
	seq, rev int64
}

func startWorkload(t testing.TB, cli *clientv3.Client, prefix string, writers, keys int, seed int64) *workload {
	w := &workload{
		prefix: prefix, cli: cli, writers: writers, keys: keys, seed: seed,
		last: map[string]ack{}, attempts: map[string]int64{}, errs: map[string]int{}, stop: make(chan struct{}),
	}
	for i := 0; i < writers; i++ {
		w.wg.Add(1)
		go w.write(i)
	}
	t.Cleanup(w.Stop)
	return w
}

func (w *workload) write(id int) {
	defer w.wg.Done()
	rnd := rand.New(rand.NewSource(w.seed + int64(id)))
	for seq := int64(1); ; seq++ {
		select {
		case <-w.stop:
			return
		default:
		}
		key := fmt.Sprintf("%s/w%02d/k%03d", w.prefix, id, rnd.Intn(w.keys))
		val := fmt.Sprintf("w%02d-%09d", id, seq)
		w.mu.Lock()
		w.attempts[key] = seq
		w.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := w.cli.Put(ctx, key, val)
		cancel()
		if err != nil {
			w.failed.Add(1)
			w.mu.Lock()
			w.lastErr = err
			w.errs[err.Error()]++
			w.mu.Unlock()
			select { // no busy loop while there is no leader
			case <-w.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		a := ack{key: key, val: val, seq: seq, rev: resp.Header.Revision}
		w.mu.Lock()
		w.acks = append(w.acks, a)
		w.last[key] = a
		w.mu.Unlock()
		w.acked.Add(1)
	}
}

// Stop stops the writers and waits for their calls to return.
func (w *workload) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

// WaitAcked waits until at least n puts are acknowledged.
func (w *workload) WaitAcked(t testing.TB, n int64, timeout time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for w.acked.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d puts acknowledged after %v, want %d (%d failed, last error: %v)",
				what, w.acked.Load(), timeout, n, w.failed.Load(), w.err())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (w *workload) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

func (w *workload) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := fmt.Sprintf("%d puts acknowledged, %d failed", w.acked.Load(), w.failed.Load())
	if len(w.errs) > 0 {
		var es []string
		for e, n := range w.errs {
			es = append(es, fmt.Sprintf("%dx %q", n, e))
		}
		sort.Strings(es)
		s += " (" + strings.Join(es, ", ") + ")"
	}
	return s
}

// seqOf parses the seq out of a value "wNN-<seq>" written by writer
// prefix "wNN"; ok is false for any other value.
func seqOf(val, writer string) (int64, bool) {
	rest, ok := strings.CutPrefix(val, writer+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	return n, err == nil
}

// settledRevision waits until every member's store is at the same
// revision and returns it. Call it once the writers have stopped.
func settledRevision(t testing.TB, ms []*member) int64 {
	t.Helper()
	deadline := time.Now().Add(leaderTimeout)
	var last string
	for time.Now().Before(deadline) {
		var revs []int64
		for _, m := range ms {
			st, err := m.Status()
			if err != nil {
				last = fmt.Sprintf("%s: %v", m.Name, err)
				break
			}
			revs = append(revs, st.Header.Revision)
		}
		if len(revs) == len(ms) {
			same := true
			for _, r := range revs {
				same = same && r == revs[0]
			}
			if same {
				return revs[0]
			}
			last = fmt.Sprintf("revisions %v", revs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("members %s do not settle on one revision within %v: %s", names(ms), leaderTimeout, last)
	return 0
}

// verify checks member m against the workload at revision rev (m's store
// must be at rev or later): its history holds every acknowledged put at its
// revision, with no gap; its state at rev holds, for each key, the last
// acknowledged value or one attempted after it. Reads are serializable, so
// they show m's own store.
func (w *workload) verify(t testing.TB, m *member, rev int64) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	cli := m.Client()

	// History, from revision 1, through a watch on m alone.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	events := map[int64]*clientv3.Event{}
	var first, lastRev int64
	wch := cli.Watch(ctx, w.prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(1))
history:
	for wr := range wch {
		if err := wr.Err(); err != nil {
			t.Fatalf("%s: watch history: %v", m.Name, err)
		}
		for _, ev := range wr.Events {
			r := ev.Kv.ModRevision
			if r > rev {
				break history
			}
			if first == 0 {
				first = r
			}
			if r != lastRev+1 && lastRev != 0 {
				t.Errorf("%s: history jumps from revision %d to %d", m.Name, lastRev, r)
			}
			lastRev = r
			events[r] = ev
			if r == rev {
				break history
			}
		}
	}
	if ctx.Err() != nil || lastRev != rev {
		t.Fatalf("%s: watch history ends at revision %d, want %d (ctx: %v)", m.Name, lastRev, rev, ctx.Err())
	}
	missing := 0
	for _, a := range w.acks {
		if a.rev > rev {
			continue
		}
		ev := events[a.rev]
		switch {
		case ev == nil:
			missing++
			if missing <= 10 {
				t.Errorf("%s: acknowledged put %s=%s at revision %d is not in the history", m.Name, a.key, a.val, a.rev)
			}
		case ev.Type != mvccpb.PUT || string(ev.Kv.Key) != a.key || string(ev.Kv.Value) != a.val:
			missing++
			if missing <= 10 {
				t.Errorf("%s: revision %d is %v %s=%s, want the acknowledged put %s=%s",
					m.Name, a.rev, ev.Type, ev.Kv.Key, ev.Kv.Value, a.key, a.val)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%s: %d of %d acknowledged puts wrong or missing in history", m.Name, missing, len(w.acks))
	}

	// State at rev.
	gctx, gcancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer gcancel()
	resp, err := cli.Get(gctx, w.prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(rev), clientv3.WithSerializable())
	if err != nil {
		t.Fatalf("%s: get at revision %d: %v", m.Name, rev, err)
	}
	state := map[string]*mvccpb.KeyValue{}
	for _, kv := range resp.Kvs {
		state[string(kv.Key)] = kv
	}
	bad := 0
	report := func(format string, args ...any) {
		bad++
		if bad <= 10 {
			t.Errorf("%s: "+format, append([]any{m.Name}, args...)...)
		}
	}
	keys := make([]string, 0, len(w.attempts))
	for k := range w.attempts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		writer := strings.Split(strings.TrimPrefix(k, w.prefix+"/"), "/")[0]
		kv := state[k]
		delete(state, k)
		a, acked := w.last[k]
		if kv == nil {
			if acked {
				report("key %s is missing; its last acknowledged put is %s at revision %d", k, a.val, a.rev)
			}
			continue
		}
		seq, ok := seqOf(string(kv.Value), writer)
		switch {
		case !ok || seq > w.attempts[k]:
			report("key %s = %q, a value never written to it", k, kv.Value)
		case acked && seq < a.seq:
			report("key %s = %q at revision %d, older than its last acknowledged put %s at revision %d", k, kv.Value, kv.ModRevision, a.val, a.rev)
		case acked && kv.ModRevision < a.rev:
			report("key %s modified at revision %d, before its last acknowledged put at revision %d", k, kv.ModRevision, a.rev)
		}
	}
	for k := range state {
		report("key %s exists but was never written", k)
	}
	if bad > 0 {
		t.Errorf("%s: %d keys wrong at revision %d", m.Name, bad, rev)
	}
}

// sameHashKV checks that all members hash their history up to rev alike.
func sameHashKV(t testing.TB, ms []*member, rev int64) {
	t.Helper()
	var hashes []string
	var first uint32
	differ := false
	for i, m := range ms {
		ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
		h, err := m.Client().HashKV(ctx, m.ClientURL, rev)
		cancel()
		if err != nil {
			t.Fatalf("%s: HashKV(%d): %v", m.Name, rev, err)
		}
		hashes = append(hashes, fmt.Sprintf("%s=%08x", m.Name, h.Hash))
		if i == 0 {
			first = h.Hash
		} else if h.Hash != first {
			differ = true
		}
	}
	if differ {
		t.Errorf("HashKV at revision %d differs between members: %s", rev, strings.Join(hashes, " "))
	}
}
