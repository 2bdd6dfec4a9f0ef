package kvstore

// TestModel runs random operation sequences against the store and the
// reference model (model_test.go) side by side and requires identical
// answers: responses field by field, errors by errors.Is, and Rev,
// CompactRev and AppliedIndex after every op. Seeds are fixed; a failure
// prints the seed, the op number and the op, then replays the sequence to
// shrink it and prints the shortest failing sequence it found.
//
// Rerun one seed:    KELSON_SEED=17 go test -run TestModel ./kvstore/
//                    (or -args -model.seed=17)
// More ops or seeds: KELSON_OPS=2000 KELSON_SEEDS=200 go test -run TestModel ./kvstore/

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

var (
	refSeedFlag    = flag.Uint64("model.seed", 0, "TestModel: run only this seed (env KELSON_SEED)")
	refOpsFlag     = flag.Int("model.ops", 0, "TestModel: ops per seed (env KELSON_OPS; default 300)")
	refSeedsFlag   = flag.Int("model.seeds", 0, "TestModel: number of seeds (env KELSON_SEEDS; default 40)")
	refLooseHdrs   = flag.Bool("model.loose-headers", false, "TestModel: do not compare the headers of responses nested in a txn")
	refShrinkFlag  = flag.Duration("model.shrink", 30*time.Second, "TestModel: time budget for shrinking a failing sequence (0: none)")
	refVerboseFlag = flag.Bool("model.v", false, "TestModel: log every op")
	refDupFlag     = flag.String("model.dup", "etcd", "TestModel: duplicate-write rule of the model: etcd (etcd's order-dependent check, what the store implements) or stated (any put/put or put/delete overlap that can both run)")
)

func refEnvInt(name string, flagVal uint64, def uint64) uint64 {
	if flagVal != 0 {
		return flagVal
	}
	if v := os.Getenv(name); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err == nil {
			return n
		}
	}
	return def
}

// refConfig is the store configuration of one seed: every other seed runs
// with a tiny MaxTxnOps so ErrTooManyOps is cheap to hit, and every third
// with a tiny compaction batch so compaction runs in many steps.
type refConfig struct {
	maxTxnOps       int
	compactionBatch int
}

func refConfigFor(seed uint64) refConfig {
	c := refConfig{}
	if seed%2 == 1 {
		c.maxTxnOps = 5
	}
	if seed%3 == 0 {
		c.compactionBatch = 2
	}
	return c
}

// refHarness owns the store under test and its filesystem, so the store
// can be closed and reopened on the same data.
type refHarness struct {
	fs    vfs.FS
	dir   string
	opts  Options
	s     *Store
	stats map[string]int // outcome counts, for -v
	// recent holds the last responses handed out with a private copy of
	// each: a response must not change after it was returned (no buffer
	// of the store's may be aliased into it).
	recent []refKept
	opNum  int // ops run so far
}

type refKept struct {
	resp, copy proto.Message
	op         int
}

// keep remembers a response returned by the store for op number op.
func (h *refHarness) keep(op int, m proto.Message) {
	if m == nil || !m.ProtoReflect().IsValid() {
		return
	}
	h.recent = append(h.recent, refKept{resp: m, copy: proto.Clone(m), op: op})
	if len(h.recent) > 8 {
		h.recent = h.recent[1:]
	}
}

// checkKept reports a response that changed after it was returned.
func (h *refHarness) checkKept() string {
	for _, k := range h.recent {
		if !proto.Equal(k.resp, k.copy) {
			return fmt.Sprintf("the response of op %d changed after it was returned:\n%s", k.op, refDiff(refMultiline(k.copy), refMultiline(k.resp)))
		}
	}
	return ""
}

// note counts the model's expectation for an op, to show what a run covered.
func (h *refHarness) note(kind string, want refResult) {
	if h.stats == nil {
		h.stats = map[string]int{}
	}
	switch {
	case len(want.errs) > 0:
		kind += " " + strings.TrimPrefix(want.errs[0].Error(), "kvstore: ")
	default:
		switch r := want.resp.(type) {
		case *pb.TxnResponse:
			if r.Succeeded {
				kind += " ok/success"
			} else {
				kind += " ok/failure"
			}
			if r.Header.Revision > 1 && refTxnWrote(r) {
				kind += "/write"
			}
			if refTxnNested(r) {
				h.stats["Txn nested ok"]++
			}
		case *pb.RangeResponse:
			if len(r.Kvs) > 0 {
				kind += " ok/kvs"
			} else {
				kind += " ok/empty"
			}
		case *pb.DeleteRangeResponse:
			if r.Deleted > 0 {
				kind += " ok/deleted"
			} else {
				kind += " ok/none"
			}
		default:
			kind += " ok"
		}
	}
	h.stats[kind]++
}

func refTxnWrote(r *pb.TxnResponse) bool {
	for _, op := range r.Responses {
		if op.GetResponsePut() != nil || op.GetResponseDeleteRange().GetDeleted() > 0 {
			return true
		}
		if t := op.GetResponseTxn(); t != nil && refTxnWrote(t) {
			return true
		}
	}
	return false
}

func refTxnNested(r *pb.TxnResponse) bool {
	for _, op := range r.Responses {
		if op.GetResponseTxn() != nil {
			return true
		}
	}
	return false
}

func newRefHarness(cfg refConfig) (*refHarness, error) {
	h := &refHarness{
		fs:  vfs.NewMem(),
		dir: "/kvstore-model",
	}
	h.opts = Options{FS: h.fs, MaxTxnOps: cfg.maxTxnOps, CompactionBatch: cfg.compactionBatch}
	s, err := Open(h.dir, h.opts)
	if err != nil {
		return nil, err
	}
	h.s = s
	return h, nil
}

func (h *refHarness) reopen() error {
	if err := h.s.Close(); err != nil {
		return fmt.Errorf("Close: %w", err)
	}
	s, err := Open(h.dir, h.opts)
	if err != nil {
		h.s = nil
		return fmt.Errorf("reopen: %w", err)
	}
	h.s = s
	return nil
}

func (h *refHarness) close() {
	if h != nil && h.s != nil {
		h.s.Close()
		h.s = nil
	}
}

// refNormalize returns a copy of m fit for comparison: with
// -model.loose-headers, headers of responses nested in a txn are dropped
// (the top-level header is always compared).
func refNormalize(m proto.Message) proto.Message {
	if m == nil {
		return nil
	}
	m = proto.Clone(m)
	if !*refLooseHdrs {
		return m
	}
	if t, ok := m.(*pb.TxnResponse); ok {
		refStripNested(t)
	}
	return m
}

func refStripNested(t *pb.TxnResponse) {
	for _, r := range t.Responses {
		switch v := r.Response.(type) {
		case *pb.ResponseOp_ResponseRange:
			if v.ResponseRange != nil {
				v.ResponseRange.Header = nil
			}
		case *pb.ResponseOp_ResponsePut:
			if v.ResponsePut != nil {
				v.ResponsePut.Header = nil
			}
		case *pb.ResponseOp_ResponseDeleteRange:
			if v.ResponseDeleteRange != nil {
				v.ResponseDeleteRange.Header = nil
			}
		case *pb.ResponseOp_ResponseTxn:
			if v.ResponseTxn != nil {
				v.ResponseTxn.Header = nil
				refStripNested(v.ResponseTxn)
			}
		}
	}
}

func refMultiline(m proto.Message) string {
	if m == nil {
		return "<nil>"
	}
	return prototext.MarshalOptions{Multiline: true, Indent: "  "}.Format(m)
}

// refDiff shows both texts with the first differing line marked.
func refDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	first := 0
	for first < len(wl) && first < len(gl) && wl[first] == gl[first] {
		first++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "first difference at line %d:\n  want: %q\n  got:  %q\n", first+1, refLine(wl, first), refLine(gl, first))
	fmt.Fprintf(&b, "--- want (model)\n%s\n--- got (store)\n%s", want, got)
	return b.String()
}

func refLine(ls []string, i int) string {
	if i < len(ls) {
		return ls[i]
	}
	return "<end>"
}

// refCheck compares one store answer with the model's expectation.
func refCheck(want refResult, got proto.Message, err error) string {
	if len(want.errs) > 0 {
		if err == nil {
			return fmt.Sprintf("want error %v, got success:\n%s", want.errs, refMultiline(got))
		}
		if !refErrIn(err, want.errs) {
			return fmt.Sprintf("want error %v, got error %q", want.errs, err)
		}
		return ""
	}
	if err != nil {
		return fmt.Sprintf("want success, got error %q\nwant:\n%s", err, refMultiline(want.resp))
	}
	if want.resp == nil {
		return ""
	}
	w, g := refNormalize(want.resp), refNormalize(got)
	if !proto.Equal(w, g) {
		return "response differs: " + refDiff(refMultiline(w), refMultiline(g))
	}
	return ""
}

func refSameBytes(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func refLeaseString(li LeaseInfo) string {
	ks := make([]string, len(li.Keys))
	for i, k := range li.Keys {
		ks[i] = strconv.Quote(string(k))
	}
	return fmt.Sprintf("{ID:%d TTL:%d RemainingTTL:%d Keys:[%s]}", li.ID, li.TTL, li.RemainingTTL, strings.Join(ks, " "))
}

func refSameLease(a, b LeaseInfo) bool {
	return a.ID == b.ID && a.TTL == b.TTL && a.RemainingTTL == b.RemainingTTL && refSameBytes(a.Keys, b.Keys)
}

func refCheckLease(h *refHarness, m *refModel, id int64) string {
	want, werr := m.Lease(id)
	got, gerr := h.s.Lease(id)
	if werr != nil {
		if gerr == nil || !refErrIn(gerr, []error{werr}) {
			return fmt.Sprintf("Lease(%d): want error %v, got %s, %v", id, werr, refLeaseString(got), gerr)
		}
		return ""
	}
	if gerr != nil {
		return fmt.Sprintf("Lease(%d): want %s, got error %q", id, refLeaseString(want), gerr)
	}
	if !refSameLease(want, got) {
		return fmt.Sprintf("Lease(%d): want %s, got %s", id, refLeaseString(want), refLeaseString(got))
	}
	return ""
}

func refCheckLeases(h *refHarness, m *refModel) string {
	want, got := m.Leases(), h.s.Leases()
	same := len(want) == len(got)
	for i := 0; same && i < len(want); i++ {
		same = refSameLease(want[i], got[i])
	}
	if !same {
		var ws, gs []string
		for _, l := range want {
			ws = append(ws, refLeaseString(l))
		}
		for _, l := range got {
			gs = append(gs, refLeaseString(l))
		}
		return fmt.Sprintf("Leases(): want [%s], got [%s]", strings.Join(ws, " "), strings.Join(gs, " "))
	}
	return ""
}

func refCheckCounters(h *refHarness, m *refModel) string {
	if r := h.s.Rev(); r != m.rev {
		return fmt.Sprintf("Rev() = %d, want %d", r, m.rev)
	}
	if r := h.s.CompactRev(); r != m.compactRev {
		return fmt.Sprintf("CompactRev() = %d, want %d", r, m.compactRev)
	}
	if a := h.s.AppliedIndex(); a != m.applied {
		return fmt.Sprintf("AppliedIndex() = %d, want %d", a, m.applied)
	}
	return ""
}

// refCheckAll reads every key at every readable revision, checks that the
// revision below the compacted one is refused, and compares all leases.
func refCheckAll(h *refHarness, m *refModel) string {
	lo := max(m.compactRev, 1)
	for rev := lo; rev <= m.rev; rev++ {
		req := &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: rev}
		resp, err := h.s.Range(proto.Clone(req).(*pb.RangeRequest))
		if msg := refCheck(m.Range(req), resp, err); msg != "" {
			return fmt.Sprintf("full read at revision %d: %s", rev, msg)
		}
	}
	if m.compactRev > 1 {
		req := &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: m.compactRev - 1}
		resp, err := h.s.Range(req)
		if msg := refCheck(m.Range(req), resp, err); msg != "" {
			return fmt.Sprintf("full read at revision %d: %s", m.compactRev-1, msg)
		}
	}
	if msg := refCheckLeases(h, m); msg != "" {
		return msg
	}
	for _, l := range m.Leases() {
		if msg := refCheckLease(h, m, l.ID); msg != "" {
			return msg
		}
	}
	return refCheckCounters(h, m)
}

// refCall runs a store call with a copy of the request and reports it if
// the store changed the request it was given.
func refCall[Q proto.Message, R proto.Message](req Q, call func(Q) (R, error)) (R, error, string) {
	c := proto.Clone(req).(Q)
	resp, err := call(c)
	if !proto.Equal(req, c) {
		return resp, err, "the store modified its request:\n" + refDiff(refMultiline(req), refMultiline(c))
	}
	return resp, err, ""
}

// refStep applies one op to both the model and the store and returns a
// description of the first difference, or "".
func refStep(h *refHarness, m *refModel, o refOp) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprintf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	switch o.kind {
	case opRange:
		want := m.Range(o.rng)
		h.note("Range", want)
		resp, err, mut := refCall(o.rng, h.s.Range)
		if msg = mut; msg == "" {
			msg = refCheck(want, resp, err)
		}
		if err == nil {
			h.keep(h.opNum, resp)
		}
	case opPut:
		want := m.Put(o.put)
		h.note("Put", want)
		resp, err, mut := refCall(o.put, h.s.Put)
		if msg = mut; msg == "" {
			msg = refCheck(want, resp, err)
		}
		if err == nil {
			h.keep(h.opNum, resp)
		}
	case opDelete:
		want := m.DeleteRange(o.del)
		h.note("DeleteRange", want)
		resp, err, mut := refCall(o.del, h.s.DeleteRange)
		if msg = mut; msg == "" {
			msg = refCheck(want, resp, err)
		}
		if err == nil {
			h.keep(h.opNum, resp)
		}
	case opTxn:
		want := m.Txn(o.txn)
		h.note("Txn", want)
		resp, err, mut := refCall(o.txn, h.s.Txn)
		if msg = mut; msg == "" {
			msg = refCheck(want, resp, err)
		}
		if err == nil {
			h.keep(h.opNum, resp)
		}
	case opCompact:
		want := m.Compact(o.rev)
		h.note("Compact", want)
		msg = refCheck(want, nil, h.s.Compact(o.rev))
		if o.wait {
			h.s.WaitCompaction()
		}
	case opLeaseGrant:
		want := m.LeaseGrant(o.id, o.ttl)
		h.note("LeaseGrant", want)
		msg = refCheck(want, nil, h.s.LeaseGrant(o.id, o.ttl))
	case opLeaseRevoke:
		want := m.LeaseRevoke(o.id)
		h.note("LeaseRevoke", want)
		msg = refCheck(want, nil, h.s.LeaseRevoke(o.id))
	case opLease:
		msg = refCheckLease(h, m, o.id)
	case opLeases:
		msg = refCheckLeases(h, m)
	case opApply:
		msg = refStepApply(h, m, o)
	case opReopen:
		h.note("Reopen", refResult{})
		if err := h.reopen(); err != nil {
			return err.Error()
		}
		msg = refCheckAll(h, m)
	case opCheckAll:
		msg = refCheckAll(h, m)
	}
	if msg == "" {
		msg = refCheckCounters(h, m)
	}
	if msg == "" && (h.opNum%8 == 0 || o.kind == opCheckAll || o.kind == opReopen) {
		msg = h.checkKept()
	}
	h.opNum++
	return msg
}

func refStepApply(h *refHarness, m *refModel, o refOp) string {
	want, applied := m.Apply(o.index, o.reqs)
	reqs := make([]*pb.InternalRaftRequest, len(o.reqs))
	for i, r := range o.reqs {
		reqs[i] = proto.Clone(r).(*pb.InternalRaftRequest)
	}
	got := h.s.Apply(o.index, reqs, o.sync)
	if !applied {
		h.note("Apply replayed", refResult{})
		if got != nil {
			return fmt.Sprintf("index %d was applied before (applied index %d): want nil, got %d results", o.index, m.applied, len(got))
		}
		return ""
	}
	if len(got) != len(want) {
		return fmt.Sprintf("want %d results, got %d", len(want), len(got))
	}
	for i := range want {
		h.keep(h.opNum, got[i].Resp)
		h.note("Apply/"+refReqKind(o.reqs[i]), want[i])
		if msg := refCheck(want[i], got[i].Resp, got[i].Err); msg != "" {
			return fmt.Sprintf("request %d: %s", i, msg)
		}
	}
	return ""
}

// refReplay runs ops on a fresh store and model, re-basing each op's
// revisions on the model's current one. It returns the ops as run, the
// index of the first failing op (-1 if none) and its message.
func refReplay(cfg refConfig, ops []refOp) ([]refOp, int, string) {
	h, err := newRefHarness(cfg)
	if err != nil {
		return ops, 0, "Open: " + err.Error()
	}
	defer h.close()
	m := newRefModel(cfg.maxTxnOps)
	ran := make([]refOp, 0, len(ops))
	for i, o := range ops {
		o = o.resolve(m.rev)
		ran = append(ran, o)
		if msg := refStep(h, m, o); msg != "" {
			return ran, i, msg
		}
	}
	if msg := refCheckAll(h, m); msg != "" {
		return ran, len(ops), msg
	}
	return ran, -1, ""
}

func refReqKind(r *pb.InternalRaftRequest) string {
	switch {
	case r.Range != nil:
		return "Range"
	case r.Put != nil:
		return "Put"
	case r.DeleteRange != nil:
		return "DeleteRange"
	case r.Txn != nil:
		return "Txn"
	case r.Compaction != nil:
		return "Compact"
	case r.LeaseGrant != nil:
		return "LeaseGrant"
	case r.LeaseRevoke != nil:
		return "LeaseRevoke"
	case r.LeaseCheckpoint != nil:
		return "LeaseCheckpoint"
	}
	return "other"
}

// refTotals adds up the outcome counts of all seeds (shown with -v).
var refTotals = struct {
	sync.Mutex
	m map[string]int
}{m: map[string]int{}}

func refSeeds() []uint64 {
	if s := refEnvInt("KELSON_SEED", *refSeedFlag, 0); s != 0 {
		return []uint64{s}
	}
	n := refEnvInt("KELSON_SEEDS", uint64(*refSeedsFlag), 40)
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = uint64(i + 1)
	}
	return seeds
}

func TestModel(t *testing.T) {
	nops := int(refEnvInt("KELSON_OPS", uint64(*refOpsFlag), 300))
	t.Cleanup(func() {
		if !testing.Verbose() {
			return
		}
		var lines []string
		for k, v := range refTotals.m {
			lines = append(lines, fmt.Sprintf("%6d  %s", v, k))
		}
		sort.Slice(lines, func(i, j int) bool { return lines[i][6:] < lines[j][6:] })
		t.Logf("outcomes over all seeds:\n%s", strings.Join(lines, "\n"))
	})
	for _, seed := range refSeeds() {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			refRunSeed(t, seed, nops)
		})
	}
}

func refRunSeed(t *testing.T, seed uint64, nops int) {
	cfg := refConfigFor(seed)
	h, err := newRefHarness(cfg)
	if err != nil {
		t.Fatalf("seed %d: Open: %v", seed, err)
	}
	defer h.close()
	m := newRefModel(cfg.maxTxnOps)
	g := &refGen{r: rand.New(rand.NewPCG(seed, 0x6b656c736f6e)), m: m}
	var ops []refOp
	fail := func(i int, msg string) {
		h.close()
		var b strings.Builder
		fmt.Fprintf(&b, "seed %d (MaxTxnOps=%d CompactionBatch=%d), op %d of %d: %s\n%s\n", seed, cfg.maxTxnOps, cfg.compactionBatch, i, nops, ops[len(ops)-1], msg)
		fmt.Fprintf(&b, "rerun: KELSON_SEED=%d go test -run 'TestModel' ./kvstore/\n", seed)
		if *refShrinkFlag > 0 {
			small, at, smsg := refShrink(cfg, ops, *refShrinkFlag)
			if at < 0 {
				b.WriteString("replaying the sequence did not fail again (timing-dependent?)\n")
			} else {
				fmt.Fprintf(&b, "\nshortest failing sequence found (%d ops, fails at op %d):\n", len(small), at)
				for j, o := range small {
					fmt.Fprintf(&b, "  %3d %s\n", j, o)
				}
				fmt.Fprintf(&b, "failure: %s\n", smsg)
			}
		}
		t.Fatal(b.String())
	}
	for i := range nops {
		o := g.next()
		o.genRev = m.rev
		ops = append(ops, o)
		if *refVerboseFlag {
			t.Logf("op %d: %s", i, o)
		}
		if msg := refStep(h, m, o); msg != "" {
			fail(i, msg)
		}
	}
	ops = append(ops, refOp{kind: opCheckAll})
	if msg := refStep(h, m, ops[len(ops)-1]); msg != "" {
		fail(nops, msg)
	}
	refTotals.Lock()
	for k, v := range h.stats {
		refTotals.m[k] += v
	}
	refTotals.Unlock()
}
