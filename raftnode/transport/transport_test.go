package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func TestMessagesOrderedPerPeer(t *testing.T) {
	a := startMember(t, 1, 7, "127.0.0.1:0", newRecorder(), nil)
	b := startMember(t, 2, 7, "127.0.0.1:0", newRecorder(), nil)
	c := startMember(t, 3, 7, "127.0.0.1:0", newRecorder(), nil)
	connect(t, a, b, c)

	const n = 2000
	for i := range uint64(n) {
		// Mixed sizes, some of them spanning chunks (see ChunkBytes below).
		data := strings.Repeat("x", int(i%7)*100)
		a.tr.Send([]*raftpb.Message{msgApp(1, 2, i, data), msgApp(1, 3, i, data)})
		c.tr.Send([]*raftpb.Message{msgApp(3, 2, i, "")})
	}
	fromA, fromC := uint64(0), uint64(0)
	for range 2 * n {
		m := recv(t, b)
		switch m.GetFrom() {
		case 1:
			if m.GetIndex() != fromA {
				t.Fatalf("from 1: got index %d, want %d (order broken)", m.GetIndex(), fromA)
			}
			if want := int(fromA%7) * 100; want > 0 && len(m.GetEntries()[0].GetData()) != want {
				t.Fatalf("from 1: message %d has %d bytes of data, want %d", fromA, len(m.GetEntries()[0].GetData()), want)
			}
			fromA++
		case 3:
			if m.GetIndex() != fromC {
				t.Fatalf("from 3: got index %d, want %d (order broken)", m.GetIndex(), fromC)
			}
			fromC++
		}
	}
	for i := range uint64(n) {
		if m := recv(t, c); m.GetIndex() != i || m.GetFrom() != 1 {
			t.Fatalf("member 3: got %d from %x, want %d from 1", m.GetIndex(), m.GetFrom(), i)
		}
	}
	// Batching: many messages share a gRPC message.
	frames, sent := b.frames.Load()+c.frames.Load(), a.tr.Metrics().Sent+c.tr.Metrics().Sent
	t.Logf("%d messages in %d gRPC messages", sent, frames)
	if sent != 3*n || frames > int64(sent) {
		t.Fatalf("sent %d messages in %d gRPC messages; want %d in at most as many", sent, frames, 3*n)
	}
}

func TestSmallChunksSpanRecords(t *testing.T) {
	small := func(c *Config) { c.ChunkBytes = 7 }
	a := startMember(t, 1, 7, "127.0.0.1:0", newRecorder(), small)
	b := startMember(t, 2, 7, "127.0.0.1:0", newRecorder(), small)
	connect(t, a, b)
	for i := range uint64(50) {
		a.tr.Send([]*raftpb.Message{msgApp(1, 2, i, strings.Repeat("y", int(i)))})
	}
	for i := range uint64(50) {
		m := recv(t, b)
		if m.GetIndex() != i || (i > 0 && len(m.GetEntries()[0].GetData()) != int(i)) {
			t.Fatalf("got %v, want index %d with %d bytes", m, i, i)
		}
	}
	if b.frames.Load() < 50 {
		t.Fatalf("only %d gRPC messages for 50 messages in 7-byte chunks", b.frames.Load())
	}
}

func TestReconnectAfterPeerRestart(t *testing.T) {
	a := startMember(t, 1, 7, "127.0.0.1:0", newRecorder(), nil)
	b := startMember(t, 2, 7, "127.0.0.1:0", newRecorder(), nil)
	connect(t, a, b)
	a.tr.Send([]*raftpb.Message{msgApp(1, 2, 0, "before")})
	if m := recv(t, b); m.GetIndex() != 0 {
		t.Fatalf("got %v", m)
	}

	b.stop()
	// Messages to a member that is down are dropped and reported.
	eventually(t, "peer reported unreachable", func() bool {
		a.tr.Send([]*raftpb.Message{msgApp(1, 2, 1, "while down")})
		select {
		case id := <-a.h.unreachable:
			return id == 2
		default:
			return false
		}
	})

	b2 := startMember(t, 2, 7, b.addr, newRecorder(), nil)
	i := uint64(100)
	eventually(t, "messages flow after the restart", func() bool {
		a.tr.Send([]*raftpb.Message{msgApp(1, 2, i, "after")})
		i++
		select {
		case m := <-b2.h.msgs:
			return m.GetIndex() >= 100
		default:
			return false
		}
	})
	if pm := a.tr.Metrics().Peers[2]; !pm.Connected {
		t.Fatalf("peer metrics after reconnect: %+v", pm)
	}
}

func TestUpdateAndRemovePeer(t *testing.T) {
	a := startMember(t, 1, 7, "127.0.0.1:0", newRecorder(), nil)
	b := startMember(t, 2, 7, "127.0.0.1:0", newRecorder(), nil)
	connect(t, a, b)
	a.tr.Send([]*raftpb.Message{msgApp(1, 2, 0, "")})
	recv(t, b)

	// Member 2 moves to a new address.
	b.stop()
	b2 := startMember(t, 2, 7, "127.0.0.1:0", newRecorder(), nil)
	if err := a.tr.UpdatePeer(2, []string{b2.url()}); err != nil {
		t.Fatal(err)
	}
	i := uint64(1)
	eventually(t, "messages reach the new address", func() bool {
		a.tr.Send([]*raftpb.Message{msgApp(1, 2, i, "")})
		i++
		select {
		case <-b2.h.msgs:
			return true
		default:
			return false
		}
	})

	if err := a.tr.RemovePeer(2); err != nil {
		t.Fatal(err)
	}
	if err := a.tr.RemovePeer(2); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("second RemovePeer: %v, want ErrUnknownPeer", err)
	}
	if err := a.tr.UpdatePeer(2, []string{b2.url()}); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("UpdatePeer of a removed peer: %v, want ErrUnknownPeer", err)
	}
	before := a.tr.Metrics().Dropped
	a.tr.Send([]*raftpb.Message{msgApp(1, 2, 999, "")})
	if a.tr.Metrics().Dropped != before+1 {
		t.Fatal("a message to a removed peer was not dropped")
	}
	if err := a.tr.AddPeer(2, []string{b2.url()}); err != nil {
		t.Fatal(err)
	}
	if err := a.tr.AddPeer(2, []string{b2.url()}); !errors.Is(err, ErrPeerExists) {
		t.Fatalf("second AddPeer: %v, want ErrPeerExists", err)
	}
}

// TestSnapshotStreamed sends a 20 MB snapshot. The sender's body refuses to
// produce its second half until the receiver's handler has read the first
// MiB, so the test hangs (and fails) if either side buffers the whole body.
func TestSnapshotStreamed(t *testing.T) {
	const size = 20 << 20
	firstMiB := make(chan struct{})
	var read atomic.Int64
	rb := newRecorder()
	rb.receive = func(ctx context.Context, m *raftpb.Message, body io.Reader) error {
		h := newHashCounter()
		buf := make([]byte, 64<<10)
		signalled := false
		for {
			n, err := body.Read(buf)
			h.write(buf[:n])
			if read.Add(int64(n)) >= 1<<20 && !signalled {
				close(firstMiB)
				signalled = true
			}
			if err == io.EOF {
				rb.snaps <- receivedSnap{m: m, n: h.n, hash: h.sum()}
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	a := startMember(t, 1, 7, "127.0.0.1:0", newRecorder(), nil)
	b := startMember(t, 2, 7, "127.0.0.1:0", rb, nil)
	connect(t, a, b)

	body := newPattern(size)
	body.gate = func(off int64) {
		if off >= size/2 {
			select {
			case <-firstMiB:
			case <-time.After(guard):
				t.Errorf("the receiver got no data before the sender produced half of the body: the body is buffered")
			}
		}
	}
	snap := &raftpb.Message{
		Type: raftpb.MsgSnap.Enum(), From: new(uint64(1)), To: new(uint64(2)), Term: new(uint64(3)),
		Snapshot: &raftpb.Snapshot{Data: []byte("descriptor"), Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(1000)), Term: new(uint64(3))}},
	}
	a.tr.SendSnapshot(snap, body)

	var got receivedSnap
	select {
	case got = <-rb.snaps:
	case <-time.After(guard):
		t.Fatal("no snapshot received")
	}
	if got.n != size || got.hash != patternHash(size) {
		t.Fatalf("received %d bytes with hash %x, want %d bytes with hash %x", got.n, got.hash, size, patternHash(size))
	}
	if !proto.Equal(got.m, snap) {
		t.Fatalf("received message %v, want %v", got.m, snap)
	}
	select {
	case r := <-a.h.snapReports:
		if r.id != 2 || r.status != raft.SnapshotFinish {
			t.Fatalf("report %+v, want finish for 2", r)
		}
	case <-time.After(guard):
		t.Fatal("no snapshot report")
	}
	if !body.isClosed() {
		t.Fatal("snapshot body not closed")
	}
	if m := b.tr.Metrics(); m.SnapshotsReceived != 1 {
		t.Fatalf("receiver metrics %+v", m)
	}
}

func TestSnapshotFailures(t *testing.T) {
	rb := newRecorder()
	var handlerErr atomic.Value
	rb.receive = func(ctx context.Context, m *raftpb.Message, body io.Reader) error {
		switch m.GetSnapshot().GetMetadata().GetIndex() {
		case 1: // refuses
			return errors.New("disk full")
		case 2: // returns early
			_, _ = body.Read(make([]byte, 10))
			return nil
		}
		_, err := io.Copy(io.Discard, body)
		handlerErr.Store(fmt.Sprint(err))
		return err
	}
	a := startMember(t, 1, 7, "127.0.0.1:0", newRecorder(), nil)
	b := startMember(t, 2, 7, "127.0.0.1:0", rb, nil)
	connect(t, a, b)
	snapMsg := func(index uint64) *raftpb.Message {
		return &raftpb.Message{Type: raftpb.MsgSnap.Enum(), From: new(uint64(1)), To: new(uint64(2)),
			Snapshot: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: new(index)}}}
	}
	wantReport := func(id uint64, s raft.SnapshotStatus) {
		t.Helper()
		select {
		case r := <-a.h.snapReports:
			if r.id != id || r.status != s {
				t.Fatalf("report %+v, want %d for %d", r, s, id)
			}
		case <-time.After(guard):
			t.Fatal("no snapshot report")
		}
	}
	a.tr.SendSnapshot(snapMsg(1), newPattern(3<<20))
	wantReport(2, raft.SnapshotFailure)
	a.tr.SendSnapshot(snapMsg(2), newPattern(3<<20))
	wantReport(2, raft.SnapshotFailure)
	// A body that fails mid-way: the receiver sees an error, never io.EOF.
	a.tr.SendSnapshot(snapMsg(3), io.NopCloser(io.MultiReader(newPattern(2<<20), errReader{errors.New("store broke")})))
	wantReport(2, raft.SnapshotFailure)
	// Unknown peer.
	a.tr.SendSnapshot(&raftpb.Message{Type: raftpb.MsgSnap.Enum(), To: new(uint64(9))}, nil)
	wantReport(9, raft.SnapshotFailure)
	// And a good one still works, with an empty body.
	a.tr.SendSnapshot(snapMsg(4), nil)
	wantReport(2, raft.SnapshotFinish)
	if s, _ := handlerErr.Load().(string); s != "<nil>" {
		t.Fatalf("last handler error %q", s)
	}
}

func TestClusterMismatchRejected(t *testing.T) {
	a := startMember(t, 1, 7, "127.0.0.1:0", newRecorder(), nil)
	b := startMember(t, 2, 8, "127.0.0.1:0", newRecorder(), nil)
	if err := a.tr.AddPeer(2, []string{b.url()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the sender sees the cluster mismatch", func() bool {
		a.tr.Send([]*raftpb.Message{msgApp(1, 2, 0, "")})
		return strings.Contains(a.tr.Metrics().Peers[2].LastError, ErrClusterMismatch.Error())
	})
	if n := b.tr.Metrics().StreamsRejected; n == 0 {
		t.Fatal("the receiver counted no rejected stream")
	}
	select {
	case m := <-b.h.msgs:
		t.Fatalf("a message crossed clusters: %v", m)
	default:
	}
	// Snapshots are refused as well.
	a.tr.SendSnapshot(&raftpb.Message{Type: raftpb.MsgSnap.Enum(), From: new(uint64(1)), To: new(uint64(2))}, nil)
	select {
	case r := <-a.h.snapReports:
		if r.status != raft.SnapshotFailure {
			t.Fatalf("snapshot across clusters reported %v", r.status)
		}
	case <-time.After(guard):
		t.Fatal("no snapshot report")
	}
}

func TestWrongMemberRejected(t *testing.T) {
	a := startMember(t, 1, 7, "127.0.0.1:0", newRecorder(), nil)
	b := startMember(t, 2, 7, "127.0.0.1:0", newRecorder(), nil)
	// Member 1 believes member 3 lives at b's address.
	if err := a.tr.AddPeer(3, []string{b.url()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the sender sees the member mismatch", func() bool {
		a.tr.Send([]*raftpb.Message{msgApp(1, 3, 0, "")})
		return strings.Contains(a.tr.Metrics().Peers[3].LastError, ErrMemberMismatch.Error())
	})
	select {
	case m := <-b.h.msgs:
		t.Fatalf("a message reached the wrong member: %v", m)
	default:
	}
}

// TestSendNeverBlocks fills the queue of a peer that accepts TCP but never
// answers: Send drops and reports instead of blocking, and Stop does not
// wait for the dial timeout.
func TestSendNeverBlocks(t *testing.T) {
	lis := blackhole(t)
	a := startMember(t, 1, 7, "127.0.0.1:0", newRecorder(), func(c *Config) {
		c.QueueLen = 4
		c.DialTimeout = time.Hour
	})
	if err := a.tr.AddPeer(2, []string{"http://" + lis}); err != nil {
		t.Fatal(err)
	}
	for i := range uint64(100) {
		a.tr.Send([]*raftpb.Message{msgApp(1, 2, i, "")})
	}
	if d := a.tr.Metrics().Dropped; d < 96 {
		t.Fatalf("dropped %d of 100 messages with a queue of 4", d)
	}
	select {
	case id := <-a.h.unreachable:
		if id != 2 {
			t.Fatalf("unreachable %d", id)
		}
	case <-time.After(guard):
		t.Fatal("no unreachable report")
	}
	a.stop() // returns although the dial is still pending
}

func TestStopCancelsHandlers(t *testing.T) {
	entered := make(chan struct{})
	rb := newRecorder()
	rb.process = func(ctx context.Context, m *raftpb.Message) error {
		close(entered)
		<-ctx.Done()
		return ctx.Err()
	}
	a := startMember(t, 1, 7, "127.0.0.1:0", newRecorder(), nil)
	b := startMember(t, 2, 7, "127.0.0.1:0", rb, nil)
	connect(t, a, b)
	a.tr.Send([]*raftpb.Message{msgApp(1, 2, 0, "")})
	<-entered
	b.tr.Stop() // must return: the handler's ctx is cancelled
	if _, err := New(Config{}, rb); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New with a zero config: %v", err)
	}
	if err := b.tr.AddPeer(1, []string{a.url()}); !errors.Is(err, ErrStopped) {
		t.Fatalf("AddPeer after Stop: %v", err)
	}
}

// TestFilter drops, delays (reordering) and partitions with Config.Filter.
func TestFilter(t *testing.T) {
	var partitioned atomic.Bool
	filter := func(m *raftpb.Message) (bool, time.Duration) {
		if partitioned.Load() && (m.GetTo() == 3 || m.GetFrom() == 3) {
			return true, 0
		}
		switch string(m.GetContext()) {
		case "drop":
			return true, 0
		case "hold":
			return false, time.Hour // held back until Stop
		case "delay":
			return false, time.Millisecond
		}
		return false, 0
	}
	withFilter := func(c *Config) { c.Filter = filter }
	a := startMember(t, 1, 7, "127.0.0.1:0", newRecorder(), withFilter)
	b := startMember(t, 2, 7, "127.0.0.1:0", newRecorder(), withFilter)
	c := startMember(t, 3, 7, "127.0.0.1:0", newRecorder(), withFilter)
	connect(t, a, b, c)
	tagged := func(index uint64, ctx string) *raftpb.Message {
		m := msgApp(1, 2, index, "")
		m.Context = []byte(ctx)
		return m
	}
	// 0 is held back, 1 dropped, 2 delayed a little: 3 overtakes 0.
	a.tr.Send([]*raftpb.Message{tagged(0, "hold"), tagged(1, "drop"), tagged(2, "delay"), tagged(3, "")})
	got := map[uint64]bool{}
	for len(got) < 2 {
		got[recv(t, b).GetIndex()] = true
	}
	if !got[2] || !got[3] {
		t.Fatalf("received %v, want 2 and 3", got)
	}
	if m := a.tr.Metrics(); m.Filtered != 1 {
		t.Fatalf("filtered %d, want 1", m.Filtered)
	}

	// Partition member 3 away, then heal.
	partitioned.Store(true)
	a.tr.Send([]*raftpb.Message{msgApp(1, 3, 10, "")})
	c.tr.Send([]*raftpb.Message{msgApp(3, 2, 11, "")})
	a.tr.Send([]*raftpb.Message{msgApp(1, 2, 12, "")})
	if m := recv(t, b); m.GetIndex() != 12 {
		t.Fatalf("across the partition: got %v", m)
	}
	partitioned.Store(false)
	a.tr.Send([]*raftpb.Message{msgApp(1, 3, 13, "")})
	if m := recv(t, c); m.GetIndex() != 13 {
		t.Fatalf("after healing: got %v, want 13 (10 must have been dropped)", m)
	}
	a.stop() // the held message must not keep Stop waiting for an hour
	select {
	case m := <-b.h.msgs:
		t.Fatalf("held message delivered: %v", m)
	default:
	}
}

// TestNoGoroutineLeak checks that stopped members leave no goroutine behind:
// writers, watchers, inbound readers, snapshot senders and timers all end.
func TestNoGoroutineLeak(t *testing.T) {
	hole := blackhole(t) // its accept loop ends at cleanup
	before := runtime.NumGoroutine()
	func() {
		a := startMember(t, 1, 7, "127.0.0.1:0", newRecorder(), func(c *Config) {
			c.Filter = func(m *raftpb.Message) (bool, time.Duration) {
				if m.GetIndex() == 99 {
					return false, time.Hour
				}
				return false, 0
			}
		})
		b := startMember(t, 2, 7, "127.0.0.1:0", newRecorder(), nil)
		connect(t, a, b)
		a.tr.Send([]*raftpb.Message{msgApp(1, 2, 1, "x"), msgApp(1, 2, 99, "held")})
		recv(t, b)
		snap := &raftpb.Message{Type: raftpb.MsgSnap.Enum(), From: new(uint64(1)), To: new(uint64(2))}
		a.tr.SendSnapshot(snap, newPattern(1<<20))
		<-a.h.snapReports
		if err := a.tr.AddPeer(3, []string{"http://" + hole}); err != nil {
			t.Fatal(err)
		}
		a.tr.Send([]*raftpb.Message{msgApp(1, 3, 1, "")})
		a.stop()
		b.stop()
	}()
	deadline := time.Now().Add(guard)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// errReader fails every Read with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
