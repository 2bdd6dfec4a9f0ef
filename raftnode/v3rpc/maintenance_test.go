package v3rpc

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/kvstore"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func TestClusterAndMaintenance(t *testing.T) {
	ts := startServer(t, Options{})
	ctx, cli := testCtx(t), ts.cli
	if _, err := cli.Put(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}

	ml, err := cli.MemberList(ctx)
	if err != nil || len(ml.Members) != 1 || ml.Members[0].ID != testMemberID || ml.Members[0].Name != "local" {
		t.Fatalf("member list: %+v %v", ml, err)
	}
	checkHeader(t, "member list", ml.Header, 2)
	if _, err := cli.MemberList(ctx, clientv3.WithSerializable()); err != nil {
		t.Fatal(err)
	}
	// clientv3 checks URLs itself; the server must too.
	cc := pb.NewClusterClient(ts.conn)
	if _, err := cc.MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{"not a url"}}); !errors.Is(rpctypes.Error(err), rpctypes.ErrMemberBadURLs) {
		t.Fatalf("member add bad URL: %v", err)
	}
	if _, err := cli.MemberAdd(ctx, []string{"http://10.0.0.2:2380"}); !errors.Is(err, rpctypes.ErrNotCapable) {
		t.Fatalf("member add: %v (want the backend's status, unchanged)", err)
	}
	if _, err := cli.MemberRemove(ctx, 0x99); !errors.Is(err, rpctypes.ErrMemberNotFound) {
		t.Fatalf("member remove (wrapped status error): %v", err)
	}
	if _, err := cc.MemberUpdate(ctx, &pb.MemberUpdateRequest{ID: testMemberID}); !errors.Is(rpctypes.Error(err), rpctypes.ErrMemberBadURLs) {
		t.Fatalf("member update without URLs: %v", err)
	}

	ep := ts.addr
	st, err := cli.Status(ctx, ep)
	if err != nil || st.Version != testVersion || st.Leader != testMemberID {
		t.Fatalf("status: %+v %v", st, err)
	}
	checkHeader(t, "status", st.Header, 2)
	hkv, err := cli.HashKV(ctx, ep, 0)
	if err != nil || hkv.HashRevision != 2 {
		t.Fatalf("hashkv: %+v %v", hkv, err)
	}
	if _, err := cli.HashKV(ctx, ep, 50); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Fatalf("hashkv future: %v", err)
	}
	mc := pb.NewMaintenanceClient(ts.conn)
	h, err := mc.Hash(ctx, &pb.HashRequest{})
	if err != nil || h.Hash != hkv.Hash {
		t.Fatalf("hash %v %v, want hashkv's %d", h, err, hkv.Hash)
	}
	if d, err := cli.Defragment(ctx, ep); err != nil {
		t.Fatalf("defragment: %v", err)
	} else {
		checkHeader(t, "defragment", d.Header, 2)
	}
	if _, err := cli.AlarmList(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.MoveLeader(ctx, testMemberID); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.MoveLeader(ctx, 5); !errors.Is(err, rpctypes.ErrBadLeaderTransferee) {
		t.Fatalf("move leader: %v", err)
	}
	if _, err := mc.Downgrade(ctx, &pb.DowngradeRequest{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("downgrade: %v", err)
	}

	// A panic in a handler is an Internal error, and the server lives on.
	if _, err := mc.Alarm(ctx, &pb.AlarmRequest{MemberID: panicMemberID}); status.Code(err) != codes.Internal {
		t.Fatalf("panic: %v", err)
	}
	if _, err := cli.Get(ctx, "a"); err != nil {
		t.Fatalf("after panic: %v", err)
	}

	hc, err := healthpb.NewHealthClient(ts.conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hc.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", hc, err)
	}
}

func TestSnapshot(t *testing.T) {
	ts := startServer(t, Options{})
	ctx, cli := testCtx(t), ts.cli
	// Enough data for several chunks (values do not compress: random-ish).
	val := make([]byte, 50<<10)
	for i := range val {
		val[i] = byte(i*7 + i/251)
	}
	for i := range 8 {
		if _, err := cli.Put(ctx, "s/"+string(rune('a'+i)), string(val)); err != nil {
			t.Fatal(err)
		}
	}
	var want bytes.Buffer
	if err := ts.b.st.Snapshot(&want); err != nil {
		t.Fatal(err)
	}

	sr, err := cli.SnapshotWithVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(sr.Snapshot)
	sr.Snapshot.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sr.Version != testVersion {
		t.Fatalf("snapshot version %q", sr.Version)
	}
	checkHeader(t, "snapshot", sr.Header, 9)

	// What etcdctl snapshot save checks, and what the bytes are.
	if len(got)%512 != sha256.Size {
		t.Fatalf("snapshot of %d bytes: etcdctl wants 32 past a multiple of 512", len(got))
	}
	body, sum := got[:len(got)-sha256.Size], got[len(got)-sha256.Size:]
	if s := sha256.Sum256(body); !bytes.Equal(s[:], sum) {
		t.Fatal("sha256 mismatch")
	}
	if !bytes.HasPrefix(body, want.Bytes()) {
		t.Fatalf("snapshot data differs from the store's (%d vs %d bytes)", len(body), want.Len())
	}
	if pad := body[want.Len():]; len(pad) >= 512 || strings.Trim(string(pad), "\x00") != "" {
		t.Fatalf("padding of %d bytes is not zeros below 512", len(pad))
	}

	// The saved file restores into a working store.
	dir := filepath.Join(t.TempDir(), "restored")
	if err := kvstore.Restore(dir, bytes.NewReader(got), kvstore.Options{}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	rst, err := kvstore.Open(dir, kvstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rst.Close()
	r, err := rst.Range(&pb.RangeRequest{Key: []byte("s/"), RangeEnd: []byte("s0")})
	if err != nil || len(r.Kvs) != 8 || !bytes.Equal(r.Kvs[7].Value, val) {
		t.Fatalf("restored store: %d keys, %v", len(r.GetKvs()), err)
	}

	// On the wire: remaining_bytes reaches 0 on the last message only.
	ss, err := pb.NewMaintenanceClient(ts.conn).Snapshot(ctx, &pb.SnapshotRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*pb.SnapshotResponse
	for {
		m, err := ss.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) < 4 {
		t.Fatalf("%d messages for %d bytes", len(msgs), len(got))
	}
	for i, m := range msgs {
		last := i == len(msgs)-1
		if (m.RemainingBytes == 0) != last || len(m.Blob) > snapshotChunk+511 {
			t.Fatalf("message %d/%d: remaining %d, %d bytes", i, len(msgs), m.RemainingBytes, len(m.Blob))
		}
	}
	if last := msgs[len(msgs)-1]; len(last.Blob) != sha256.Size {
		t.Fatalf("last message carries %d bytes, want the sha256", len(last.Blob))
	}
}

// TestShutdown: closing Options.Shutdown ends watch and keep-alive streams,
// so a graceful stop does not wait for their clients.
func TestShutdown(t *testing.T) {
	shutdown := make(chan struct{})
	ts := startServer(t, Options{Shutdown: shutdown})
	ctx, cli := testCtx(t), ts.cli
	wch := cli.Watch(ctx, "x", clientv3.WithCreatedNotify())
	if r := <-wch; !r.Created {
		t.Fatalf("watch: %+v", r)
	}
	g, err := cli.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.KeepAlive(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.KeepAliveOnce(ctx, g.ID); err != nil { // the stream is up
		t.Fatal(err)
	}
	close(shutdown)
	stopped := make(chan struct{})
	go func() { ts.gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("GracefulStop still waiting for streams after Shutdown")
	}
}
