package chaos

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Bad input: every etcd v3 gRPC method gets random bytes, mutated valid
// messages and valid messages with hostile field values. The server must
// answer each with a response or a gRPC error, stay up, keep serving and
// never recover from a handler panic (which it logs as a bug).

// rawCodec sends and receives bytes as they are. It is named "proto" so
// that the server decodes what it receives as the protobuf it expects.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(*b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*p = data.Materialize()
	return nil
}

// method is one etcd v3 RPC.
type method struct {
	name         string // /etcdserverpb.KV/Range
	serverStream bool
	clientStream bool
	typed        func(r *rand.Rand) proto.Message // a valid message type with hostile values
}

func etcdMethods() []method {
	var out []method
	for _, sd := range []grpc.ServiceDesc{pb.KV_ServiceDesc, pb.Watch_ServiceDesc, pb.Lease_ServiceDesc,
		pb.Cluster_ServiceDesc, pb.Maintenance_ServiceDesc, pb.Auth_ServiceDesc} {
		for _, m := range sd.Methods {
			out = append(out, method{name: "/" + sd.ServiceName + "/" + m.MethodName})
		}
		for _, s := range sd.Streams {
			out = append(out, method{name: "/" + sd.ServiceName + "/" + s.StreamName, serverStream: s.ServerStreams, clientStream: s.ClientStreams})
		}
	}
	gen := typedGenerators()
	for i := range out {
		short := out[i].name[strings.LastIndex(out[i].name, "/")+1:]
		out[i].typed = gen[short]
	}
	return out
}

// Hostile values.
func hostileInt(r *rand.Rand) int64 {
	switch r.IntN(8) {
	case 0:
		return 0
	case 1:
		return -1
	case 2:
		return math.MinInt64
	case 3:
		return math.MaxInt64
	case 4:
		return -r.Int64N(1 << 40)
	case 5:
		return r.Int64N(1 << 20)
	case 6:
		return math.MaxInt32 + 1
	default:
		return r.Int64()
	}
}

func hostileBytes(r *rand.Rand) []byte {
	switch r.IntN(10) {
	case 0:
		return nil
	case 1:
		return []byte{0}
	case 2:
		return bytes.Repeat([]byte{0xff}, 1+r.IntN(10))
	case 3:
		return bytes.Repeat([]byte("k"), 1<<20+r.IntN(1<<20)) // a giant key: over the request limit, or near it
	case 4:
		return bytes.Repeat([]byte("k"), 64<<10)
	case 5:
		return []byte("fz/" + fmt.Sprint(r.IntN(10)))
	default:
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	}
}

func hostileKey(r *rand.Rand) []byte {
	if r.IntN(3) == 0 {
		return hostileBytes(r)
	}
	return []byte("fz/" + fmt.Sprint(r.IntN(50)))
}

func hostileEnum(r *rand.Rand, valid int32) int32 {
	switch r.IntN(4) {
	case 0:
		return -1 - r.Int32N(100)
	case 1:
		return valid + 1 + r.Int32N(1000)
	default:
		return r.Int32N(valid + 1)
	}
}

func randRange(r *rand.Rand) *pb.RangeRequest {
	return &pb.RangeRequest{Key: hostileKey(r), RangeEnd: hostileBytes(r), Limit: hostileInt(r), Revision: hostileInt(r),
		SortOrder: pb.RangeRequest_SortOrder(hostileEnum(r, 2)), SortTarget: pb.RangeRequest_SortTarget(hostileEnum(r, 4)),
		Serializable: r.IntN(2) == 0, KeysOnly: r.IntN(2) == 0, CountOnly: r.IntN(2) == 0,
		MinModRevision: hostileInt(r), MaxModRevision: hostileInt(r), MinCreateRevision: hostileInt(r), MaxCreateRevision: hostileInt(r)}
}

func randPut(r *rand.Rand) *pb.PutRequest {
	return &pb.PutRequest{Key: hostileKey(r), Value: hostileBytes(r), Lease: hostileInt(r) * int64(r.IntN(2)),
		PrevKv: r.IntN(2) == 0, IgnoreValue: r.IntN(4) == 0, IgnoreLease: r.IntN(4) == 0}
}

func randDelete(r *rand.Rand) *pb.DeleteRangeRequest {
	return &pb.DeleteRangeRequest{Key: hostileKey(r), RangeEnd: hostileBytes(r), PrevKv: r.IntN(2) == 0}
}

func randCompare(r *rand.Rand) *pb.Compare {
	c := &pb.Compare{Result: pb.Compare_CompareResult(hostileEnum(r, 3)), Target: pb.Compare_CompareTarget(hostileEnum(r, 4)),
		Key: hostileKey(r), RangeEnd: hostileBytes(r)}
	switch r.IntN(6) {
	case 0:
		c.TargetUnion = &pb.Compare_Version{Version: hostileInt(r)}
	case 1:
		c.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: hostileInt(r)}
	case 2:
		c.TargetUnion = &pb.Compare_ModRevision{ModRevision: hostileInt(r)}
	case 3:
		c.TargetUnion = &pb.Compare_Value{Value: hostileBytes(r)}
	case 4:
		c.TargetUnion = &pb.Compare_Lease{Lease: hostileInt(r)}
	}
	return c
}

func randTxn(r *rand.Rand, depth int) *pb.TxnRequest {
	t := &pb.TxnRequest{}
	n := r.IntN(4)
	if r.IntN(20) == 0 {
		n = 129 + r.IntN(50) // over --max-txn-ops
	}
	for i := 0; i < r.IntN(3); i++ {
		t.Compare = append(t.Compare, randCompare(r))
	}
	for i := 0; i < n; i++ {
		op := &pb.RequestOp{}
		switch k := r.IntN(6); {
		case k == 0:
			op.Request = &pb.RequestOp_RequestRange{RequestRange: randRange(r)}
		case k == 1:
			op.Request = &pb.RequestOp_RequestPut{RequestPut: randPut(r)}
		case k == 2:
			op.Request = &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: randDelete(r)}
		case k == 3 && depth > 0:
			op.Request = &pb.RequestOp_RequestTxn{RequestTxn: randTxn(r, depth-1)}
		case k == 4:
			// an empty operation (no request set)
		default:
			op.Request = &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: hostileKey(r), Value: []byte("v")}}
		}
		if r.IntN(2) == 0 {
			t.Success = append(t.Success, op)
		} else {
			t.Failure = append(t.Failure, op)
		}
	}
	return t
}

// deepTxn nests txns depth levels deep; the innermost has one compare.
func deepTxn(depth int) *pb.TxnRequest {
	inner := &pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("deep"), Target: pb.Compare_VERSION, Result: pb.Compare_EQUAL,
		TargetUnion: &pb.Compare_Version{Version: 0}}}}
	for i := 1; i < depth; i++ {
		inner = &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestTxn{RequestTxn: inner}}}}
	}
	return inner
}

func typedGenerators() map[string]func(r *rand.Rand) proto.Message {
	return map[string]func(r *rand.Rand) proto.Message{
		"Range":       func(r *rand.Rand) proto.Message { return randRange(r) },
		"RangeStream": func(r *rand.Rand) proto.Message { return randRange(r) },
		"Put":         func(r *rand.Rand) proto.Message { return randPut(r) },
		"DeleteRange": func(r *rand.Rand) proto.Message { return randDelete(r) },
		"Txn":         func(r *rand.Rand) proto.Message { return randTxn(r, r.IntN(6)) },
		"Compact": func(r *rand.Rand) proto.Message {
			return &pb.CompactionRequest{Revision: hostileInt(r), Physical: r.IntN(2) == 0}
		},
		"Watch": func(r *rand.Rand) proto.Message {
			switch r.IntN(3) {
			case 0:
				return &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
					Key: hostileKey(r), RangeEnd: hostileBytes(r), StartRevision: hostileInt(r), ProgressNotify: r.IntN(2) == 0,
					Filters: []pb.WatchCreateRequest_FilterType{pb.WatchCreateRequest_FilterType(hostileEnum(r, 1))},
					PrevKv:  r.IntN(2) == 0, WatchId: hostileInt(r), Fragment: r.IntN(2) == 0}}}
			case 1:
				return &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: hostileInt(r)}}}
			default:
				return &pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}}
			}
		},
		"LeaseGrant":     func(r *rand.Rand) proto.Message { return &pb.LeaseGrantRequest{TTL: hostileInt(r), ID: hostileInt(r)} },
		"LeaseRevoke":    func(r *rand.Rand) proto.Message { return &pb.LeaseRevokeRequest{ID: hostileInt(r)} },
		"LeaseKeepAlive": func(r *rand.Rand) proto.Message { return &pb.LeaseKeepAliveRequest{ID: hostileInt(r)} },
		"LeaseTimeToLive": func(r *rand.Rand) proto.Message {
			return &pb.LeaseTimeToLiveRequest{ID: hostileInt(r), Keys: r.IntN(2) == 0}
		},
		"LeaseLeases": func(r *rand.Rand) proto.Message { return &pb.LeaseLeasesRequest{} },
		// Membership changes: only learners and unknown IDs, so that the
		// member keeps its quorum (the checks after the fuzzing remove
		// whatever was added).
		"MemberAdd": func(r *rand.Rand) proto.Message {
			urls := []string{strings.ToValidUTF8(string(hostileBytes(r)), "?"), "http://127.0.0.1:1", "http://[::1", "unix://x", "http://h:99999"}
			return &pb.MemberAddRequest{PeerURLs: urls[:1+r.IntN(len(urls))], IsLearner: true}
		},
		"MemberRemove": func(r *rand.Rand) proto.Message { return &pb.MemberRemoveRequest{ID: uint64(hostileInt(r))} },
		"MemberUpdate": func(r *rand.Rand) proto.Message {
			return &pb.MemberUpdateRequest{ID: uint64(hostileInt(r)), PeerURLs: []string{"http://127.0.0.1:2"}}
		},
		"MemberList":    func(r *rand.Rand) proto.Message { return &pb.MemberListRequest{Linearizable: r.IntN(2) == 0} },
		"MemberPromote": func(r *rand.Rand) proto.Message { return &pb.MemberPromoteRequest{ID: uint64(hostileInt(r))} },
		"Alarm": func(r *rand.Rand) proto.Message {
			return &pb.AlarmRequest{Action: pb.AlarmRequest_AlarmAction(hostileEnum(r, 2)), MemberID: uint64(hostileInt(r)),
				Alarm: pb.AlarmType(hostileEnum(r, 2))}
		},
		"Status":     func(r *rand.Rand) proto.Message { return &pb.StatusRequest{} },
		"Defragment": func(r *rand.Rand) proto.Message { return &pb.DefragmentRequest{} },
		"Hash":       func(r *rand.Rand) proto.Message { return &pb.HashRequest{} },
		"HashKV":     func(r *rand.Rand) proto.Message { return &pb.HashKVRequest{Revision: hostileInt(r)} },
		"MoveLeader": func(r *rand.Rand) proto.Message { return &pb.MoveLeaderRequest{TargetID: uint64(hostileInt(r))} },
		"Downgrade": func(r *rand.Rand) proto.Message {
			return &pb.DowngradeRequest{Action: pb.DowngradeRequest_DowngradeAction(hostileEnum(r, 2)), Version: strings.ToValidUTF8(string(hostileBytes(r)), "?")}
		},
		"Snapshot": func(r *rand.Rand) proto.Message { return &pb.SnapshotRequest{} },
	}
}

// randomPayload is random bytes, or a valid message of the method's type
// mutated (bytes flipped, truncated, garbage appended).
func randomPayload(r *rand.Rand, m method) []byte {
	if m.typed == nil || r.IntN(2) == 0 {
		b := make([]byte, r.IntN(300))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	}
	b, err := proto.Marshal(m.typed(r))
	if err != nil || len(b) == 0 {
		return []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}
	}
	if len(b) > 4<<10 {
		b = b[:4<<10]
	}
	switch r.IntN(3) {
	case 0:
		for i := 0; i < 1+r.IntN(4); i++ {
			b[r.IntN(len(b))] = byte(r.IntN(256))
		}
	case 1:
		b = b[:r.IntN(len(b))]
	default:
		b = append(b, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)))
	}
	return b
}

// fuzzStats counts answers by method and gRPC code.
type fuzzStats map[string]int

func (s fuzzStats) add(name string, err error) {
	code := "OK"
	if err != nil {
		if st, ok := status.FromError(err); ok {
			code = st.Code().String()
		} else {
			code = "non-gRPC error"
		}
	}
	s[code]++
}

func (s fuzzStats) String() string {
	var ks []string
	for k := range s {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s=%d", k, s[k]))
	}
	return strings.Join(parts, " ")
}

// call sends one payload (raw bytes) on m and reads the answer.
func call(cc *grpc.ClientConn, m method, payload []byte, extra [][]byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	opt := grpc.ForceCodecV2(rawCodec{})
	if !m.serverStream && !m.clientStream {
		var out []byte
		return cc.Invoke(ctx, m.name, &payload, &out, opt)
	}
	desc := &grpc.StreamDesc{StreamName: m.name, ServerStreams: m.serverStream, ClientStreams: m.clientStream}
	s, err := cc.NewStream(ctx, desc, m.name, opt)
	if err != nil {
		return err
	}
	if err := s.SendMsg(&payload); err != nil && err != io.EOF {
		return err
	}
	for _, p := range extra {
		if err := s.SendMsg(&p); err != nil {
			break
		}
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	// Read a few answers; a watch or keep-alive stream may stay open.
	rctx, rcancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer rcancel()
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 20; i++ {
			var out []byte
			if err := s.RecvMsg(&out); err != nil {
				if err == io.EOF {
					err = nil
				}
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		return err
	case <-rctx.Done():
		cancel()
		return nil
	}
}

// alive fails the test unless the member runs and serves a put and a
// linearizable get within 10s.
func alive(t *testing.T, m *Member, what string) {
	t.Helper()
	if !m.Running() {
		t.Fatalf("%s: member %s is not running (crashed); log:\n%s", what, m.Name, m.Tail(60))
	}
	cli := m.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "fz-alive", what); err != nil {
		t.Fatalf("%s: member %s does not serve a put: %v; log:\n%s", what, m.Name, err, m.Tail(40))
	}
	if _, err := cli.Get(ctx, "fz-alive"); err != nil {
		t.Fatalf("%s: member %s does not serve a get: %v", what, m.Name, err)
	}
}

// TestGRPCFuzz sends random and hostile requests to every etcd v3 method.
func TestGRPCFuzz(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 99))
	c := startTestCluster(t, 1)
	m := c.Members[0]
	cc, err := grpc.NewClient(m.Endpoint(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	methods := etcdMethods()
	rounds := 40
	if longRun() {
		rounds = 600
	}
	raw, typed := fuzzStats{}, fuzzStats{}
	spent := map[string]time.Duration{}
	start := time.Now()
	for round := 0; round < rounds; round++ {
		for _, meth := range methods {
			// Random or mutated bytes.
			p := randomPayload(rng, meth)
			var extra [][]byte
			if meth.clientStream {
				for i := 0; i < rng.IntN(4); i++ {
					extra = append(extra, randomPayload(rng, meth))
				}
			}
			t0 := time.Now()
			raw.add(meth.name, call(cc, meth, p, extra))
			spent[meth.name] += time.Since(t0)
			// A valid message type with hostile values.
			if meth.typed != nil {
				b, err := proto.Marshal(meth.typed(rng))
				if err != nil {
					t.Fatalf("marshal %s: %v", meth.name, err)
				}
				t0 := time.Now()
				typed.add(meth.name, call(cc, meth, b, nil))
				spent[meth.name] += time.Since(t0)
			}
		}
		if round%10 == 9 {
			// Undo what could stop the member from serving: alarms
			// (NOSPACE refuses writes) and learners added.
			cleanupAfterFuzz(t, m)
			alive(t, m, fmt.Sprintf("after fuzz round %d", round))
		}
	}
	cleanupAfterFuzz(t, m)
	alive(t, m, "after fuzzing")
	t.Logf("%d methods x %d rounds in %v; random bytes: %s; hostile values: %s", len(methods), rounds,
		time.Since(start).Round(time.Millisecond), raw, typed)
	var slow []string
	for name, d := range spent {
		if d > time.Second {
			slow = append(slow, fmt.Sprintf("%s %v", name, d.Round(time.Millisecond)))
		}
	}
	sort.Strings(slow)
	t.Logf("methods that took over 1s in total: %v", slow)
	b, _ := os.ReadFile(m.LogPath)
	if n := strings.Count(string(b), "recovered from a panic"); n > 0 {
		i := strings.Index(string(b), "recovered from a panic")
		t.Errorf("the member recovered from %d handler panics (a bug); first:\n%s", n, string(b)[max(0, i-200):min(len(b), i+3000)])
	}
}

func cleanupAfterFuzz(t *testing.T, m *Member) {
	t.Helper()
	cli := m.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{}); err != nil {
		t.Logf("disarm alarms: %v", err)
	}
	ml, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatalf("member list after fuzzing: %v", err)
	}
	for _, mem := range ml.Members {
		if mem.IsLearner {
			if _, err := cli.MemberRemove(ctx, mem.ID); err != nil {
				t.Logf("remove learner %x added by the fuzzer: %v", mem.ID, err)
			}
		}
	}
}

// TestDeepTxn: txns nested deeper and deeper (the innermost holds one
// compare), up to what a gRPC request may carry (protobuf's limit is 10000
// nested messages; each txn level is two). Each is answered, with a
// response or an error, and the members go on serving.
func TestDeepTxn(t *testing.T) {
	c := startTestCluster(t, 3)
	cli := testClient(t, c.Endpoints()...)
	kv := pb.NewKVClient(cli.ActiveConnection())
	for _, depth := range []int{10, 100, 1000, 4000, 4999, 5000, 5001, 20000} {
		req := deepTxn(depth)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := kv.Txn(ctx, req)
		cancel()
		t.Logf("txn nested %d deep (%d bytes): %v", depth, proto.Size(req), err)
		for _, m := range c.Members {
			alive(t, m, fmt.Sprintf("after a txn nested %d deep", depth))
		}
	}
}

// TestHugeRange: 50000 keys of 1 KiB, then ranges over all of them with
// no limit, several at once. The member stays up and answers; the test
// reports how large the answer is (Kelson sends it whole: its gRPC send
// limit is unlimited, as etcd's) and the member's memory.
func TestHugeRange(t *testing.T) {
	c := startTestCluster(t, 1)
	m := c.Members[0]
	cli := testClient(t, m.ClientURL)
	keys := 50000
	val := strings.Repeat("x", 1024)
	start := time.Now()
	const per = 100
	errc := make(chan error, 8)
	for w := 0; w < 8; w++ {
		go func() {
			for i := w * per; i < keys; i += 8 * per {
				ops := make([]clientv3.Op, 0, per)
				for j := i; j < i+per && j < keys; j++ {
					ops = append(ops, clientv3.OpPut(fmt.Sprintf("huge/%06d", j), val))
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				_, err := cli.Txn(ctx).Then(ops...).Commit()
				cancel()
				if err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for w := 0; w < 8; w++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d keys of 1 KiB in %v; member RSS %s", keys, time.Since(start).Round(time.Millisecond), rss(m.Pid()))
	big := testClient(t, m.ClientURL)
	start = time.Now()
	r, err := big.Get(ctxT(t, 2*time.Minute), "huge/", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("range over %d keys: %v", keys, err)
	}
	size := proto.Size((*pb.RangeResponse)(r))
	t.Logf("one range, no limit: %d keys, %d MiB answer, in %v; member RSS %s", len(r.Kvs), size>>20, time.Since(start).Round(time.Millisecond), rss(m.Pid()))
	if len(r.Kvs) != keys {
		t.Errorf("range returned %d keys, want %d", len(r.Kvs), keys)
	}
	// Several at once, and a client that refuses large answers.
	start = time.Now()
	done := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			r, err := big.Get(ctx, "huge/", clientv3.WithPrefix())
			if err == nil && len(r.Kvs) != keys {
				err = fmt.Errorf("%d keys", len(r.Kvs))
			}
			done <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-done; err != nil {
			t.Errorf("concurrent range: %v", err)
		}
	}
	t.Logf("4 concurrent ranges in %v; member RSS %s", time.Since(start).Round(time.Millisecond), rss(m.Pid()))
	// A streamed range while writers change and delete keys: the chunks
	// together must be one revision's snapshot, equal to a plain range at
	// the revision in the final chunk's header.
	stopW := make(chan struct{})
	wdone := make(chan int)
	go func() {
		n := 0
		defer func() { wdone <- n }()
		for i := 0; ; i++ {
			select {
			case <-stopW:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var err error
			if i%5 == 4 {
				_, err = big.Delete(ctx, fmt.Sprintf("huge/%06d", (i*7919)%keys))
			} else {
				_, err = big.Put(ctx, fmt.Sprintf("huge/%06d", (i*7919)%keys), strings.Repeat("y", 1024))
			}
			cancel()
			if err == nil {
				n++
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	start = time.Now()
	sc, err := big.GetStream(ctxT(t, 2*time.Minute), "huge/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	streamed := &pb.RangeResponse{}
	chunks := 0
	for r := range sc {
		if err := r.Err(); err != nil {
			t.Fatalf("range stream: %v", err)
		}
		chunks++
		proto.Merge(streamed, r.RangeResponse)
	}
	close(stopW)
	writes := <-wdone
	if streamed.Header == nil {
		t.Fatalf("range stream of %d chunks ended without a header", chunks)
	}
	t.Logf("range stream during %d writes: %d keys in %d chunks at revision %d, in %v; member RSS %s", writes, len(streamed.Kvs), chunks,
		streamed.Header.Revision, time.Since(start).Round(time.Millisecond), rss(m.Pid()))
	at, err := big.Get(ctxT(t, 2*time.Minute), "huge/", clientv3.WithPrefix(), clientv3.WithRev(streamed.Header.Revision))
	if err != nil {
		t.Fatal(err)
	}
	if len(at.Kvs) != len(streamed.Kvs) || int64(len(streamed.Kvs)) != streamed.Count {
		t.Errorf("range stream: %d keys (count %d); a range at its revision %d: %d keys", len(streamed.Kvs), streamed.Count, streamed.Header.Revision, len(at.Kvs))
	}
	diff := 0
	for i := 0; i < len(at.Kvs) && i < len(streamed.Kvs); i++ {
		if !proto.Equal(at.Kvs[i], streamed.Kvs[i]) {
			diff++
			if diff < 5 {
				t.Errorf("range stream at revision %d, key %d: %s@%d, a range at that revision: %s@%d", streamed.Header.Revision, i,
					streamed.Kvs[i].Key, streamed.Kvs[i].ModRevision, at.Kvs[i].Key, at.Kvs[i].ModRevision)
			}
		}
	}
	for _, kv := range streamed.Kvs {
		if kv.ModRevision > streamed.Header.Revision {
			t.Errorf("range stream at revision %d holds %s modified at %d", streamed.Header.Revision, kv.Key, kv.ModRevision)
			break
		}
	}
	small, err := clientv3.New(clientv3.Config{Endpoints: []string{m.ClientURL}, MaxCallRecvMsgSize: 4 << 20, DialTimeout: 2 * time.Second,
		Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	_, err = small.Get(ctxT(t, time.Minute), "huge/", clientv3.WithPrefix())
	t.Logf("a client with a 4 MiB receive limit: %v", err)
	if err == nil {
		t.Errorf("a 50 MiB answer reached a client limited to 4 MiB")
	}
	r, err = small.Get(ctxT(t, time.Minute), "huge/", clientv3.WithPrefix(), clientv3.WithLimit(1000))
	cnt, cerr := small.Get(ctxT(t, time.Minute), "huge/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || cerr != nil || len(r.Kvs) != 1000 || !r.More || r.Count != cnt.Count {
		t.Errorf("range with limit 1000: err %v / %v", err, cerr)
		if err == nil && cerr == nil {
			t.Errorf("range with limit 1000: %d keys, more %v, count %d; count-only range: %d", len(r.Kvs), r.More, r.Count, cnt.Count)
		}
	}
	alive(t, m, "after the huge ranges")
}

// rss is a process's resident memory, from /proc.
func rss(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:"))
		}
	}
	return "?"
}
