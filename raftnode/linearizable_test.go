package raftnode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/kelson-dev/kelson/kvstore"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/raft/v3/raftpb"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// The linearizability test drives a three-member cluster with concurrent
// etcd clients while a fault injector drops, delays and partitions raft
// messages, records every operation with its call and return times and
// checks the history against a sequential key-value model with porcupine.

type kvOpKind uint8

const (
	kvGet kvOpKind = iota
	kvPut
	kvCAS // put value if the key holds expect ("" = absent); else read it
)

type kvInput struct {
	Op     kvOpKind
	Key    string
	Value  string // put, cas: the value written
	Expect string // cas: the value compared with ("" = key absent)
}

type kvOutput struct {
	// Unknown: the client got an error, so the write may or may not have
	// taken effect (its return time is set past the end of the history).
	Unknown bool
	Value   string // get: the value read; failed cas: the value found
	OK      bool   // cas: the comparison held and the value was written
}

// kvModel is a register per key ("" = absent), partitioned by key.
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(kvInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(string), input.(kvInput), output.(kvOutput)
		switch in.Op {
		case kvGet:
			return out.Unknown || out.Value == st, st
		case kvPut:
			return true, in.Value
		case kvCAS:
			holds := st == in.Expect
			switch {
			case out.Unknown: // took effect at its linearization point, or never (then it sits at the end)
				if holds {
					return true, in.Value
				}
				return true, st
			case out.OK:
				return holds, in.Value
			default:
				return !holds && out.Value == st, st
			}
		}
		return false, st
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvInput), output.(kvOutput)
		res := ""
		switch {
		case out.Unknown:
			res = "unknown"
		case in.Op == kvGet:
			res = fmt.Sprintf("%q", out.Value)
		case in.Op == kvCAS && out.OK:
			res = "ok"
		case in.Op == kvCAS:
			res = fmt.Sprintf("failed, found %q", out.Value)
		default:
			res = "ok"
		}
		switch in.Op {
		case kvGet:
			return fmt.Sprintf("get(%s) -> %s", in.Key, res)
		case kvPut:
			return fmt.Sprintf("put(%s, %s) -> %s", in.Key, in.Value, res)
		default:
			return fmt.Sprintf("cas(%s, %q -> %s) -> %s", in.Key, in.Expect, in.Value, res)
		}
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
}

// history collects operations from concurrent clients.
type history struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
}

func (h *history) now() int64 { return time.Since(h.start).Nanoseconds() }

func (h *history) add(op porcupine.Operation) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// finish gives the operations of unknown outcome a return time after every
// other event: they may take effect at any time after their call.
func (h *history) finish() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	var last int64
	for _, op := range h.ops {
		if !op.Output.(kvOutput).Unknown && op.Return > last {
			last = op.Return
		}
		if op.Call > last {
			last = op.Call
		}
	}
	out := append([]porcupine.Operation(nil), h.ops...)
	for i := range out {
		if out[i].Output.(kvOutput).Unknown {
			out[i].Return = last + 1
		}
	}
	return out
}

// definitelyNotApplied reports errors after which a write cannot have taken
// effect: raft dropped the proposal because the member knew no leader.
func definitelyNotApplied(err error) bool {
	return errors.Is(err, rpctypes.ErrNoLeader)
}

// kvClient runs random operations on a few keys until stop closes.
func kvClient(id int, cli *clientv3.Client, seed uint64, keys []string, h *history, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(seed, uint64(id)))
	seen := map[string]string{} // the last value this client saw per key: what its CAS expects
	seq := 0
	for {
		select {
		case <-stop:
			return
		default:
		}
		key := keys[rng.IntN(len(keys))]
		seq++
		value := fmt.Sprintf("c%d-%d", id, seq)
		in := kvInput{Key: key}
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		call := h.now()
		var out kvOutput
		var err error
		switch p := rng.IntN(10); {
		case p < 4:
			in.Op = kvGet
			var r *clientv3.GetResponse
			if r, err = cli.Get(ctx, key); err == nil {
				if len(r.Kvs) > 0 {
					out.Value = string(r.Kvs[0].Value)
				}
				seen[key] = out.Value
			}
		case p < 7:
			in.Op, in.Value = kvPut, value
			_, err = cli.Put(ctx, key, value)
		default:
			in.Op, in.Value, in.Expect = kvCAS, value, seen[key]
			cmp := clientv3.Compare(clientv3.Value(key), "=", in.Expect)
			if in.Expect == "" {
				cmp = clientv3.Compare(clientv3.Version(key), "=", 0)
			}
			var r *clientv3.TxnResponse
			r, err = cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, value)).Else(clientv3.OpGet(key)).Commit()
			if err == nil {
				out.OK = r.Succeeded
				if r.Succeeded {
					seen[key] = value
				} else {
					if kvs := r.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
						out.Value = string(kvs[0].Value)
					}
					seen[key] = out.Value
				}
			}
		}
		ret := h.now()
		cancel()
		meta := fmt.Sprintf("client %d", id)
		if err != nil {
			if in.Op == kvGet || definitelyNotApplied(err) {
				// A failed read or a dropped proposal changed nothing: leave it out.
				time.Sleep(50 * time.Millisecond)
				continue
			}
			out = kvOutput{Unknown: true}
			meta += ": " + err.Error()
			time.Sleep(50 * time.Millisecond)
		}
		h.add(porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out, Return: ret, Metadata: meta})
	}
}

// checkAckedWritesSurvive checks, per key, that the final value was written
// by the last acknowledged write or by one not known to precede it: no
// acknowledged write may be lost.
func checkAckedWritesSurvive(t *testing.T, ops []porcupine.Operation, final map[string]string) {
	t.Helper()
	type write struct{ call, ret int64 }
	writes := map[string]map[string]write{} // key -> value -> the write
	lastAckedCall := map[string]int64{}
	lastAckedValue := map[string]string{}
	for _, op := range ops {
		in, out := op.Input.(kvInput), op.Output.(kvOutput)
		if in.Op == kvGet || (in.Op == kvCAS && !out.OK && !out.Unknown) {
			continue
		}
		if writes[in.Key] == nil {
			writes[in.Key] = map[string]write{}
		}
		writes[in.Key][in.Value] = write{op.Call, op.Return}
		if !out.Unknown {
			if c, ok := lastAckedCall[in.Key]; !ok || op.Call > c {
				lastAckedCall[in.Key], lastAckedValue[in.Key] = op.Call, in.Value
			}
		}
	}
	for key, v := range final {
		ackCall, acked := lastAckedCall[key]
		if v == "" {
			if acked {
				t.Errorf("key %s: absent after healing, but %q was acknowledged", key, lastAckedValue[key])
			}
			continue
		}
		w, ok := writes[key][v]
		if !ok {
			t.Errorf("key %s: final value %q was never written", key, v)
			continue
		}
		if acked && w.ret < ackCall {
			t.Errorf("key %s: final value %q was overwritten before acknowledged %q was written: acknowledged write lost",
				key, v, lastAckedValue[key])
		}
	}
}

func TestLinearizableUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault-injection run takes several seconds")
	}
	for _, seed := range testSeeds(t, 1, 2, 3) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("rerun this case with KELSON_SEED=%d go test -race -run TestLinearizableUnderFaults ./raftnode/", seed)
				}
			})
			runLinearizable(t, seed)
		})
	}
}

func runLinearizable(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed*0x9e3779b97f4a7c15, seed^0x5bd1e995))
	faults := newFaultInjector(seed)
	tc := newTestCluster(t, 3, func(i int, c *Config) {
		c.transportFilter = faults.filter
		// Snapshot often and keep little log, so a member cut off for a
		// while catches up through a snapshot transfer.
		c.SnapshotCount = 100
		c.catchUpEntries = 20
	})
	tc.waitLeaderKnown()
	eps := tc.endpoints()
	keys := []string{"k0", "k1", "k2", "k3", "k4"}
	nClients := 4 + rng.IntN(3)
	h := &history{start: time.Now()}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < nClients; i++ {
		cli := quietClient(t, eps[i%len(eps)])
		wg.Add(1)
		go func() {
			defer wg.Done()
			kvClient(i, cli, seed, keys, h, stop)
		}()
	}

	// The fault schedule: phases in a seed-dependent order, healing between.
	ids := tc.memberIDs()
	type phase struct {
		name string
		run  func()
		heal func() // besides healing the network; may be nil
	}
	lossy := func() {
		faults.set(0.05+0.15*rng.Float64(), 0.3, time.Duration(10+rng.IntN(40))*time.Millisecond, 0)
	}
	restarted := -1
	phases := []phase{
		{"drop and delay", lossy, nil},
		{"partition the leader", func() { faults.set(0, 0, 0, ids[tc.leader()]) }, nil},
		{"partition a follower", func() {
			lead := tc.leader()
			faults.set(0, 0, 0, ids[(lead+1+rng.IntN(2))%3])
		}, nil},
		{"drop, delay and partition a random member", func() {
			faults.set(0.1, 0.3, 30*time.Millisecond, ids[rng.IntN(3)])
		}, nil},
		{"stop and restart a random member", func() {
			restarted = rng.IntN(3)
			tc.stop(restarted)
		}, func() { tc.start(restarted) }},
	}
	rng.Shuffle(len(phases), func(i, j int) { phases[i], phases[j] = phases[j], phases[i] })
	time.Sleep(300 * time.Millisecond)
	for _, p := range phases {
		p.run()
		d := time.Duration(700+rng.IntN(600)) * time.Millisecond
		t.Logf("%6dms phase %q for %v", time.Since(h.start).Milliseconds(), p.name, d)
		time.Sleep(d)
		faults.heal()
		if p.heal != nil {
			p.heal()
		}
		time.Sleep(time.Duration(200+rng.IntN(300)) * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	faults.heal()
	t.Logf("faults: %v; %d clients recorded %d operations", faults, nClients, len(h.ops))

	// After healing, a final linearizable read of every key joins the history.
	final := map[string]string{}
	fcli := quietClient(t, eps...)
	for _, k := range keys {
		eventually(t, 20*time.Second, "final read of "+k, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			call := h.now()
			r, err := fcli.Get(ctx, k)
			if err != nil {
				return err
			}
			v := ""
			if len(r.Kvs) > 0 {
				v = string(r.Kvs[0].Value)
			}
			final[k] = v
			h.add(porcupine.Operation{ClientId: nClients, Input: kvInput{Op: kvGet, Key: k}, Call: call,
				Output: kvOutput{Value: v}, Return: h.now(), Metadata: "final read"})
			return nil
		})
	}
	ops := h.finish()
	counts := map[string]int{}
	for _, op := range ops {
		in, out := op.Input.(kvInput), op.Output.(kvOutput)
		switch {
		case out.Unknown:
			counts["unknown"]++
		case in.Op == kvGet:
			counts["get"]++
		case in.Op == kvPut:
			counts["put"]++
		case out.OK:
			counts["cas ok"]++
		default:
			counts["cas failed"]++
		}
	}
	t.Logf("history: %v", counts)
	if counts["put"]+counts["cas ok"] < 20 {
		t.Errorf("only %d writes acknowledged: the cluster made too little progress under faults", counts["put"]+counts["cas ok"])
	}

	checkStart := time.Now()
	res, info := porcupine.CheckOperationsVerbose(kvModel, ops, 60*time.Second)
	t.Logf("porcupine: %s in %v", res, time.Since(checkStart).Round(time.Millisecond))
	if res != porcupine.Ok {
		f, err := os.CreateTemp("", fmt.Sprintf("kelson-linearizability-seed%d-*.html", seed))
		if err == nil {
			f.Close()
			if verr := porcupine.VisualizePath(kvModel, info, f.Name()); verr != nil {
				t.Logf("visualization: %v", verr)
			}
			t.Logf("visualization of the history: %s", f.Name())
		}
		t.Fatalf("history is not linearizable (porcupine: %s), seed %d", res, seed)
	}
	checkAckedWritesSurvive(t, ops, final)
	checkConverged(t, eps)
}

// TestSnapshotTransferReportedAsSent: a follower that catches up through a
// snapshot must be counted as such on both ends; the sender must not see the
// transfer fail (raft would then resend the snapshot).
func TestSnapshotTransferReportedAsSent(t *testing.T) {
	tc := newTestCluster(t, 3, func(i int, c *Config) {
		c.SnapshotCount = 50
		c.catchUpEntries = 10
	})
	lead := tc.waitLeaderKnown()
	follower := (lead + 1) % 3
	tc.stop(follower)
	cli := tc.client(tc.endpoints()[lead])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rev int64
	for i := 0; i < 200; i++ {
		r, err := putThroughElections(ctx, cli, fmt.Sprintf("k%03d", i), "v")
		if err != nil {
			t.Fatal(err)
		}
		rev = r.Header.Revision
	}
	tc.start(follower)
	fcli := tc.client(tc.endpoints()[follower])
	eventually(t, 20*time.Second, "follower catches up", func() error {
		r, err := fcli.Get(ctx, "k", clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable())
		if err != nil {
			return err
		}
		if r.Header.Revision < rev {
			return fmt.Errorf("at revision %d of %d", r.Header.Revision, rev)
		}
		return nil
	})
	var sent, failed uint64
	for i, s := range tc.servers {
		if i != follower && s != nil {
			m := s.Node.tr.Metrics()
			sent += m.SnapshotsSent
			failed += m.SnapshotsFailed
		}
	}
	recvd := tc.servers[follower].Node.tr.Metrics().SnapshotsReceived
	if sent == 0 || recvd == 0 {
		t.Fatalf("the follower caught up through a snapshot, but the transports count %d sent (%d failed) and %d received: "+
			"the receiver reported the transfer as failed", sent, failed, recvd)
	}
}

// gateReader passes through data, then blocks once at offset until open
// closes (reached is closed when it gets there).
type gateReader struct {
	data    []byte
	offset  int
	reached chan struct{}
	open    chan struct{}
	pos     int
	once    sync.Once
}

func (g *gateReader) Read(p []byte) (int, error) {
	if g.pos == g.offset {
		g.once.Do(func() { close(g.reached) })
		<-g.open
	}
	if g.pos >= len(g.data) {
		return 0, io.EOF
	}
	end := len(g.data)
	if g.pos < g.offset {
		end = g.offset
	}
	n := copy(p, g.data[g.pos:end])
	g.pos += n
	return n, nil
}

// TestConcurrentSnapshotReceiveSameIndex: two leaders (an old one still
// streaming and a new one), or a retry overlapping a dying stream, can
// deliver the same snapshot index to a member at once. Each receive must
// stage a complete store of its own; neither may destroy the other's.
func TestConcurrentSnapshotReceiveSameIndex(t *testing.T) {
	tc := newTestCluster(t, 1, nil)
	tc.waitLeaderKnown()
	cli := tc.client()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 50; i++ {
		if _, err := cli.Put(ctx, fmt.Sprintf("k%02d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	n := tc.servers[0].Node
	var body bytes.Buffer
	if err := n.store.Load().Snapshot(&body); err != nil {
		t.Fatal(err)
	}
	wantRev := n.store.Load().Rev()
	// A snapshot message from an unknown member at an old term: raft
	// ignores it, so only the staging is exercised.
	m := &raftpb.Message{Type: raftpb.MessageType_MsgSnap.Enum(), From: new(uint64(0xdead)), To: new(n.id), Term: new(uint64(1)),
		Snapshot: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(1 << 40)), Term: new(uint64(1))}}}
	slow := &gateReader{data: body.Bytes(), offset: body.Len() / 2, reached: make(chan struct{}), open: make(chan struct{})}
	first := make(chan error, 1)
	go func() { first <- n.ReceiveSnapshot(ctx, m, slow) }()
	<-slow.reached // the first receive is half way through restoring
	second := n.ReceiveSnapshot(ctx, m, bytes.NewReader(body.Bytes()))
	close(slow.open)
	firstErr := <-first
	t.Logf("first receive: %v; second receive: %v", firstErr, second)
	if firstErr != nil && second != nil {
		t.Fatalf("both receives failed: %v / %v", firstErr, second)
	}
	n.stagedMu.Lock()
	dir := n.staged[m.GetSnapshot().GetMetadata().GetIndex()]
	n.stagedMu.Unlock()
	if dir == "" {
		t.Fatal("a receive succeeded but nothing is staged")
	}
	s, err := func() (s *kvstore.Store, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return kvstore.Open(dir, kvstore.Options{Logger: testLogger(t)})
	}()
	if err != nil {
		t.Fatalf("the staged store %s does not open: %v", dir, err)
	}
	defer s.Close()
	if s.Rev() != wantRev {
		t.Fatalf("the staged store is at revision %d, want %d", s.Rev(), wantRev)
	}
	r, err := s.Range(&pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), CountOnly: true})
	if err != nil || r.Count != 50 {
		t.Fatalf("the staged store holds %v keys (%v), want 50", r.GetCount(), err)
	}
}

// TestKVModel checks the model the linearizability test relies on: it must
// reject a stale read and a lost write, and accept a write of unknown
// outcome whether or not it took effect.
func TestKVModel(t *testing.T) {
	op := func(client int, in kvInput, call int64, out kvOutput, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
	}
	put := kvInput{Op: kvPut, Key: "x", Value: "a"}
	get := kvInput{Op: kvGet, Key: "x"}
	cas := kvInput{Op: kvCAS, Key: "x", Expect: "a", Value: "b"}
	for _, tt := range []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"read after write", []porcupine.Operation{op(0, put, 0, kvOutput{}, 10), op(1, get, 20, kvOutput{Value: "a"}, 30)}, porcupine.Ok},
		{"stale read", []porcupine.Operation{op(0, put, 0, kvOutput{}, 10), op(1, get, 20, kvOutput{Value: ""}, 30)}, porcupine.Illegal},
		{"concurrent read", []porcupine.Operation{op(0, put, 0, kvOutput{}, 30), op(1, get, 10, kvOutput{Value: ""}, 20)}, porcupine.Ok},
		{"unknown write seen", []porcupine.Operation{op(0, put, 0, kvOutput{Unknown: true}, 100), op(1, get, 20, kvOutput{Value: "a"}, 30)}, porcupine.Ok},
		{"unknown write not seen", []porcupine.Operation{op(0, put, 0, kvOutput{Unknown: true}, 100), op(1, get, 20, kvOutput{Value: ""}, 30)}, porcupine.Ok},
		{"cas ok", []porcupine.Operation{op(0, put, 0, kvOutput{}, 10), op(1, cas, 20, kvOutput{OK: true}, 30), op(1, get, 40, kvOutput{Value: "b"}, 50)}, porcupine.Ok},
		{"cas ok on the wrong value", []porcupine.Operation{op(1, cas, 20, kvOutput{OK: true}, 30)}, porcupine.Illegal},
		{"cas failed reports the value", []porcupine.Operation{op(1, cas, 20, kvOutput{Value: ""}, 30)}, porcupine.Ok},
		{"cas failed on the expected value", []porcupine.Operation{op(0, put, 0, kvOutput{}, 10), op(1, cas, 20, kvOutput{Value: "a"}, 30)}, porcupine.Illegal},
		{"lost write", []porcupine.Operation{op(0, put, 0, kvOutput{}, 10), op(1, cas, 20, kvOutput{OK: true}, 30), op(1, get, 40, kvOutput{Value: "a"}, 50)}, porcupine.Illegal},
	} {
		if got := porcupine.CheckOperationsTimeout(kvModel, tt.ops, 10*time.Second); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
