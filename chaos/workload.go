package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The workload's key space.
const (
	kvPrefix     = "kv/"  // the keys the KV clients work on, and the watchers watch
	markerPrefix = "dm/"  // one key per client: the marker of its delete txns
	leasePrefix  = "lse/" // keys attached to leases
	endKey       = "kv/~end"
)

// kvKeys are the keys the KV clients use.
func kvKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%sk%02d", kvPrefix, i)
	}
	return keys
}

// WorkloadConfig sizes the workload.
type WorkloadConfig struct {
	Seed       uint64
	KVClients  int // default 6
	Keys       int // default 16
	Watchers   int // default 3
	LeaseUsers int // default 2
	// OpTimeout bounds one client call. Default 2s.
	OpTimeout time.Duration
	// CompactEvery is the mean interval between compactions. Default 3s.
	CompactEvery time.Duration
}

func (c *WorkloadConfig) defaults() {
	if c.KVClients == 0 {
		c.KVClients = 6
	}
	if c.Keys == 0 {
		c.Keys = 16
	}
	if c.Watchers == 0 {
		c.Watchers = 3
	}
	if c.LeaseUsers == 0 {
		c.LeaseUsers = 2
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = 2 * time.Second
	}
	if c.CompactEvery == 0 {
		c.CompactEvery = 3 * time.Second
	}
}

// Workload runs clients against a cluster and records what they see:
// KV operations in History, a recorder watch of the whole key space from
// revision 1 (the reference history the checks compare with), watchers of
// kvPrefix, compactions and leases.
type Workload struct {
	cfg  WorkloadConfig
	eps  []string
	H    *History
	keys []string

	Recorder *WatchLog
	Watchers []*WatchLog

	mu          sync.Mutex
	compactions []Compaction
	leases      []*LeaseRec
	clients     []*clientv3.Client

	lastCompact atomic.Int64
	recLastRev  atomic.Int64 // the recorder's newest revision
	stop        chan struct{}
	wg          sync.WaitGroup
	watchWG     sync.WaitGroup
	stopWatch   chan struct{}
	watchEnd    atomic.Int64 // watchers stop once they have seen this revision (0: not yet)
}

// StartWorkload starts the recorder, then the clients, watchers, compactor
// and lease users.
func StartWorkload(eps []string, cfg WorkloadConfig) (*Workload, error) {
	cfg.defaults()
	w := &Workload{cfg: cfg, eps: eps, H: NewHistory(), keys: kvKeys(cfg.Keys),
		stop: make(chan struct{}), stopWatch: make(chan struct{})}
	newCli := func(eps ...string) (*clientv3.Client, error) {
		c, err := NewClient(eps...)
		if err == nil {
			w.mu.Lock()
			w.clients = append(w.clients, c)
			w.mu.Unlock()
		}
		return c, err
	}
	rec, err := newCli(eps...)
	if err != nil {
		return nil, err
	}
	w.Recorder = &WatchLog{Name: "recorder", Prefix: "", PrevKV: true}
	w.watchWG.Add(1)
	go w.watch(w.Recorder, rec, 1, nil)
	for i := 0; i < cfg.Watchers; i++ {
		// Watchers 0 and 2 use every member; the others stick to one.
		weps := eps
		if i%2 == 1 {
			weps = []string{eps[i%len(eps)]}
		}
		c, err := newCli(weps...)
		if err != nil {
			return nil, err
		}
		wl := &WatchLog{Name: fmt.Sprintf("watcher%d", i), Prefix: kvPrefix, PrevKV: i == 0}
		w.Watchers = append(w.Watchers, wl)
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(1000+i)))
		w.watchWG.Add(1)
		go w.watch(wl, c, 1, rng)
	}
	for i := 0; i < cfg.KVClients; i++ {
		c, err := newCli(eps...)
		if err != nil {
			return nil, err
		}
		// A client pinned to one member for serializable reads.
		one, err := newCli(eps[i%len(eps)])
		if err != nil {
			return nil, err
		}
		w.wg.Add(1)
		go w.kvClient(i, c, one)
	}
	for i := 0; i < cfg.LeaseUsers; i++ {
		c, err := newCli(eps...)
		if err != nil {
			return nil, err
		}
		w.wg.Add(1)
		go w.leaseUser(i, c)
	}
	c, err := newCli(eps...)
	if err != nil {
		return nil, err
	}
	w.wg.Add(1)
	go w.compactor(c)
	return w, nil
}

func (w *Workload) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// sleep waits d or until the workload stops; false if it stopped.
func (w *Workload) sleep(d time.Duration) bool {
	select {
	case <-w.stop:
		return false
	case <-time.After(d):
		return true
	}
}

// StopClients stops the KV clients, lease users and compactor and waits
// for their calls to return. Watchers keep running (see StopWatchers).
func (w *Workload) StopClients() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

// StopWatchers lets the recorder and watchers run until each has seen
// revision end (or timeout passes), then stops them.
func (w *Workload) StopWatchers(end int64, timeout time.Duration) {
	w.watchEnd.Store(end)
	done := make(chan struct{})
	go func() { w.watchWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		close(w.stopWatch)
		<-done
	}
}

// Close closes the clients.
func (w *Workload) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.clients {
		c.Close()
	}
}

// Compactions returns the compactions issued.
func (w *Workload) Compactions() []Compaction {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Compaction(nil), w.compactions...)
}

// Leases returns the leases (copies).
func (w *Workload) Leases() []LeaseRec {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]LeaseRec, len(w.leases))
	for i, l := range w.leases {
		out[i] = *l
	}
	return out
}

func (w *Workload) addLease(l *LeaseRec) {
	w.mu.Lock()
	w.leases = append(w.leases, l)
	w.mu.Unlock()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// kvClient runs random operations on the keys until the workload stops.
func (w *Workload) kvClient(id int, cli, one *clientv3.Client) {
	defer w.wg.Done()
	rng := rand.New(rand.NewPCG(w.cfg.Seed, uint64(id)))
	seen := map[string]string{} // the last value this client saw per key: what its CAS expects
	markerKey := fmt.Sprintf("%sc%d", markerPrefix, id)
	for seq := 1; !w.stopped(); seq++ {
		key := w.keys[rng.IntN(len(w.keys))]
		op := Op{Client: id, Key: key}
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.OpTimeout)
		op.Call = w.H.Now()
		var err error
		switch p := rng.IntN(100); {
		case p < 30:
			op.Kind = OpGet
			var r *clientv3.GetResponse
			if r, err = cli.Get(ctx, key); err == nil {
				op.Rev = r.Header.Revision
				if len(r.Kvs) > 0 {
					op.Found, op.ModRev = string(r.Kvs[0].Value), r.Kvs[0].ModRevision
				}
				seen[key] = op.Found
			}
		case p < 55:
			op.Kind, op.Value = OpPut, fmt.Sprintf("c%d-%d", id, seq)
			var opts []clientv3.OpOption
			if rng.IntN(2) == 0 {
				op.PrevKV = true
				opts = append(opts, clientv3.WithPrevKV())
			}
			var r *clientv3.PutResponse
			if r, err = cli.Put(ctx, key, op.Value, opts...); err == nil {
				op.Rev = r.Header.Revision
				if r.PrevKv != nil {
					op.Found, op.ModRev = string(r.PrevKv.Value), r.PrevKv.ModRevision
				}
				seen[key] = op.Value
			}
		case p < 75:
			op.Kind, op.Value, op.Expect = OpCAS, fmt.Sprintf("c%d-%d", id, seq), seen[key]
			cmp := clientv3.Compare(clientv3.Value(key), "=", op.Expect)
			if op.Expect == "" {
				cmp = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
			}
			var r *clientv3.TxnResponse
			r, err = cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, op.Value)).Else(clientv3.OpGet(key)).Commit()
			if err == nil {
				op.Rev, op.OK = r.Header.Revision, r.Succeeded
				if r.Succeeded {
					seen[key] = op.Value
				} else if len(r.Responses) == 1 {
					if kvs := r.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
						op.Found, op.ModRev = string(kvs[0].Value), kvs[0].ModRevision
					}
					seen[key] = op.Found
				} else {
					err = fmt.Errorf("chaos: failed cas got %d responses, want 1", len(r.Responses))
				}
			}
		case p < 85:
			op.Kind, op.Marker = OpDelete, fmt.Sprintf("m%d-%d", id, seq)
			var r *clientv3.TxnResponse
			r, err = cli.Txn(ctx).Then(clientv3.OpDelete(key), clientv3.OpPut(markerKey, op.Marker)).Commit()
			if err == nil {
				op.Rev = r.Header.Revision
				if len(r.Responses) == 2 && r.Responses[0].GetResponseDeleteRange() != nil {
					op.Deleted = r.Responses[0].GetResponseDeleteRange().Deleted
				} else {
					err = fmt.Errorf("chaos: delete txn got responses %v", r.Responses)
				}
				seen[key] = ""
			}
		default:
			op.Kind, op.Key = OpRange, kvPrefix
			opts := []clientv3.OpOption{clientv3.WithPrefix()}
			c := cli
			switch rng.IntN(4) {
			case 3:
				op.Stream = true
			case 1:
				op.Serializable, c = true, one
				opts = append(opts, clientv3.WithSerializable())
			case 2:
				if cur := w.recLastRev.Load(); cur > 1 {
					lo := w.lastCompact.Load()
					if lo < 1 {
						lo = 1
					}
					if cur > lo {
						op.AtRev = lo + rng.Int64N(cur-lo+1)
						opts = append(opts, clientv3.WithRev(op.AtRev))
					}
				}
			}
			var r *clientv3.GetResponse
			if op.Stream {
				var sc clientv3.GetStreamChan
				if sc, err = c.GetStream(ctx, kvPrefix, opts...); err == nil {
					r, err = clientv3.GetStreamToGetResponse(sc)
				}
				if err == nil && r.Header == nil {
					err = fmt.Errorf("chaos: range stream ended without a header")
				}
			} else {
				r, err = c.Get(ctx, kvPrefix, opts...)
			}
			if err == nil {
				op.Rev, op.Member = r.Header.Revision, r.Header.MemberId
				for _, kv := range r.Kvs {
					op.Kvs = append(op.Kvs, toKV(kv))
				}
			}
		}
		cancel()
		op.Return = w.H.Now()
		op.Err = errString(err)
		w.H.Add(op)
		if err != nil && !w.sleep(time.Duration(10+rng.IntN(40))*time.Millisecond) {
			return
		}
	}
}

func toKV(kv *mvccpb.KeyValue) KV {
	return KV{Key: string(kv.Key), Value: string(kv.Value), CreateRev: kv.CreateRevision, ModRev: kv.ModRevision,
		Version: kv.Version, LeaseID: kv.Lease}
}

// watch runs one watcher: Watch from startRev; when the stream ends it
// watches again from the revision after the last event it received, or,
// after a compaction error, from the compaction revision. A watcher with a
// rng is also canceled by the harness now and then (and lags a little
// before it resumes, so compactions overtake it) and asks for progress
// notifications. The recorder (rng == nil) is never canceled; compactions
// never pass it.
func (w *Workload) watch(log *WatchLog, cli *clientv3.Client, startRev int64, rng *rand.Rand) {
	defer w.watchWG.Done()
	next := startRev
	var lastRev int64
	resp := 0
	for {
		if end := w.watchEnd.Load(); end != 0 && lastRev >= end {
			return
		}
		select {
		case <-w.stopWatch:
			return
		default:
		}
		seg := &Segment{StartRev: next}
		log.mu.Lock()
		log.Segments = append(log.Segments, seg)
		log.mu.Unlock()
		ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(context.Background()))
		opts := []clientv3.OpOption{clientv3.WithRev(next)}
		key := log.Prefix
		if key == "" {
			key = "\x00"
			opts = append(opts, clientv3.WithFromKey())
		} else {
			opts = append(opts, clientv3.WithPrefix())
		}
		if log.PrevKV {
			opts = append(opts, clientv3.WithPrevKV())
		}
		ch := cli.Watch(ctx, key, opts...)
		var cancelTimer, progress <-chan time.Time
		var progressTicker *time.Ticker
		if rng != nil {
			cancelTimer = time.After(time.Duration(2000+rng.IntN(6000)) * time.Millisecond)
			progressTicker = time.NewTicker(time.Duration(300+rng.IntN(500)) * time.Millisecond)
			progress = progressTicker.C
		}
		endCheck := time.NewTicker(100 * time.Millisecond)
		harnessCancel := false
		lagAfter := time.Duration(0)
	stream:
		for {
			select {
			case wr, ok := <-ch:
				if !ok {
					if seg.Ended == "" {
						seg.Ended = "closed"
						if harnessCancel {
							seg.Ended = "harness cancel"
						}
					}
					break stream
				}
				r := WatchResp{At: w.H.Now(), Member: wr.Header.MemberId, HeaderRev: wr.Header.Revision, CompactRev: wr.CompactRevision,
					Canceled: wr.Canceled, Progress: wr.IsProgressNotify(), Err: errString(wr.Err())}
				for _, ev := range wr.Events {
					e := Event{Put: ev.Type == mvccpb.PUT, KV: toKV(ev.Kv), Rev: ev.Kv.ModRevision, RecvAt: r.At, RespSeq: resp}
					if ev.PrevKv != nil {
						p := toKV(ev.PrevKv)
						e.PrevKV = &p
					}
					if e.Rev > lastRev {
						lastRev = e.Rev
					}
					r.Events = append(r.Events, e)
				}
				resp++
				log.mu.Lock()
				seg.Responses = append(seg.Responses, r)
				log.mu.Unlock()
				if log == w.Recorder && lastRev > w.recLastRev.Load() {
					w.recLastRev.Store(lastRev)
				}
				if wr.CompactRevision != 0 {
					seg.Ended = "compacted"
					next = wr.CompactRevision
					cancel()
				} else if wr.Canceled {
					seg.Ended = "canceled: " + r.Err
					cancel()
				}
			case <-cancelTimer:
				harnessCancel = true
				lagAfter = time.Duration(rng.IntN(3000)) * time.Millisecond
				cancel()
			case <-progress:
				pctx, pcancel := context.WithTimeout(ctx, time.Second)
				_ = cli.RequestProgress(pctx)
				pcancel()
			case <-endCheck.C:
				if end := w.watchEnd.Load(); end != 0 && lastRev >= end {
					cancel()
				}
			case <-w.stopWatch:
				cancel()
			}
		}
		endCheck.Stop()
		if progressTicker != nil {
			progressTicker.Stop()
		}
		cancel()
		if seg.Ended != "compacted" && lastRev+1 > next {
			next = lastRev + 1
		}
		seg.NextRev = next
		if lagAfter > 0 {
			select {
			case <-time.After(lagAfter):
			case <-w.stopWatch:
			}
		}
		if seg.Ended != "harness cancel" && seg.Ended != "compacted" {
			time.Sleep(50 * time.Millisecond) // no busy loop while no member serves
		}
	}
}

// compactor compacts now and then, never past the recorder.
func (w *Workload) compactor(cli *clientv3.Client) {
	defer w.wg.Done()
	rng := rand.New(rand.NewPCG(w.cfg.Seed, 7777))
	for {
		d := w.cfg.CompactEvery/2 + time.Duration(rng.Int64N(int64(w.cfg.CompactEvery)))
		if !w.sleep(d) {
			return
		}
		target := w.recLastRev.Load() - rng.Int64N(100)
		if target <= w.lastCompact.Load() || target < 2 {
			continue
		}
		c := Compaction{Rev: target, Physical: rng.IntN(2) == 0, Call: w.H.Now()}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var opts []clientv3.CompactOption
		if c.Physical {
			opts = append(opts, clientv3.WithCompactPhysical())
		}
		_, err := cli.Compact(ctx, target, opts...)
		cancel()
		c.Return, c.Err = w.H.Now(), errString(err)
		w.mu.Lock()
		w.compactions = append(w.compactions, c)
		w.mu.Unlock()
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			// A timed-out compaction may still happen: readers at lower
			// revisions must expect it.
			if target > w.lastCompact.Load() {
				w.lastCompact.Store(target)
			}
		}
	}
}

// leaseUser grants leases one after another, attaches a key to each and
// then revokes it, keeps it alive once, or lets it expire, reading the key
// (linearizable) every 200ms until it is gone.
func (w *Workload) leaseUser(id int, cli *clientv3.Client) {
	defer w.wg.Done()
	rng := rand.New(rand.NewPCG(w.cfg.Seed, uint64(5000+id)))
	for n := 0; !w.stopped(); n++ {
		rec := &LeaseRec{Key: fmt.Sprintf("%su%d-%04d", leasePrefix, id, n), Value: fmt.Sprintf("l%d-%d", id, n), Source: "workload"}
		if !w.runLease(cli, rec, 2+rng.Int64N(3), rng.IntN(3), rng, w.stop, nil) {
			w.sleep(100 * time.Millisecond)
		}
	}
}

// runLease grants a lease of ttl seconds, puts rec.Key with it, then
// (mode 0) revokes it after a moment, (1) keeps it alive once after a
// second, or (2) lets it expire; it reads the key every 200ms until it is
// gone or ttl+60s pass. It closes put (if not nil) once the grant and the
// put returned. It returns false if the grant failed.
func (w *Workload) runLease(cli *clientv3.Client, rec *LeaseRec, ttl int64, mode int, rng *rand.Rand, stop <-chan struct{}, put chan<- struct{}) bool {
	if put != nil {
		defer func() {
			select {
			case put <- struct{}{}:
			default:
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.OpTimeout)
	rec.GrantCall = w.H.Now()
	g, err := cli.Grant(ctx, ttl)
	cancel()
	if err != nil {
		return false
	}
	rec.GrantReturn, rec.ID, rec.TTL = w.H.Now(), int64(g.ID), g.TTL
	w.addLease(rec)
	ctx, cancel = context.WithTimeout(context.Background(), w.cfg.OpTimeout)
	_, err = cli.Put(ctx, rec.Key, rec.Value, clientv3.WithLease(g.ID))
	cancel()
	w.mu.Lock()
	if err == nil {
		rec.PutReturn = w.H.Now()
	} else {
		rec.PutErr = err.Error()
	}
	w.mu.Unlock()
	if put != nil {
		put <- struct{}{}
		put = nil
	}
	actAt := time.Now().Add(time.Duration(500+rng.IntN(1000)) * time.Millisecond)
	acted := false
	give := time.Now().Add(time.Duration(rec.TTL)*time.Second + 60*time.Second)
	for time.Now().Before(give) {
		if !acted && time.Now().After(actAt) && mode != 2 {
			acted = true
			ctx, cancel := context.WithTimeout(context.Background(), w.cfg.OpTimeout)
			call := w.H.Now()
			if mode == 0 {
				w.mu.Lock()
				rec.RevokeCall = call
				w.mu.Unlock()
				// The result does not matter: the lease check counts any
				// revoke asked as possibly applied.
				_, _ = cli.Revoke(ctx, g.ID)
			} else {
				w.mu.Lock()
				rec.KeepAliveTry = append(rec.KeepAliveTry, call)
				w.mu.Unlock()
				if _, err = cli.KeepAliveOnce(ctx, g.ID); err == nil {
					w.mu.Lock()
					rec.KeepAlives = append(rec.KeepAlives, Span{call, w.H.Now()})
					w.mu.Unlock()
				}
			}
			cancel()
		}
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.OpTimeout)
		rd := LeaseRead{Call: w.H.Now()}
		r, err := cli.Get(ctx, rec.Key)
		cancel()
		rd.Return, rd.Err = w.H.Now(), errString(err)
		if err == nil {
			rd.Found = len(r.Kvs) > 0
		}
		w.mu.Lock()
		rec.Reads = append(rec.Reads, rd)
		w.mu.Unlock()
		if err == nil && !rd.Found {
			return true
		}
		select {
		case <-stop:
			return true
		case <-time.After(200 * time.Millisecond):
		}
	}
	return true
}

// PutEnd writes endKey (after the clients stopped) and returns its
// revision: the watchers stop once they have seen it.
func (w *Workload) PutEnd(timeout time.Duration) (int64, error) {
	cli, err := NewClient(w.eps...)
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	deadline := time.Now().Add(timeout)
	attempt := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		attempt++
		op := Op{Client: -1, Kind: OpPut, Key: endKey, Value: fmt.Sprintf("end-%d", attempt), Call: w.H.Now()}
		r, err := cli.Put(ctx, endKey, op.Value)
		cancel()
		op.Return, op.Err = w.H.Now(), errString(err)
		if err == nil {
			op.Rev = r.Header.Revision
		}
		w.H.Add(op)
		if err == nil {
			return r.Header.Revision, nil
		}
		if time.Now().After(deadline) {
			return 0, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// WaitLeases waits until no key under the lease prefix is left (every
// lease has been revoked or has expired), up to timeout, and returns the
// keys still there.
func (w *Workload) WaitLeases(timeout time.Duration) []string {
	cli, err := NewClient(w.eps...)
	if err != nil {
		return []string{err.Error()}
	}
	defer cli.Close()
	deadline := time.Now().Add(timeout)
	var left []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		r, err := cli.Get(ctx, leasePrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
		cancel()
		if err == nil {
			left = left[:0]
			for _, kv := range r.Kvs {
				left = append(left, string(kv.Key))
			}
			if len(left) == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return left
		}
		time.Sleep(250 * time.Millisecond)
	}
}
