package transport

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
)

// This file holds an in-process test cluster: members on loopback, each a
// grpc.Server plus a Transport with a recording Handler.

// guard is how long a test waits for something that must happen before it
// declares a hang. It is a deadlock guard, not a performance assertion.
const guard = 30 * time.Second

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// recorder is a Handler that records everything.
type recorder struct {
	msgs        chan *raftpb.Message
	unreachable chan uint64
	snapReports chan snapReport
	snaps       chan receivedSnap

	// process, if set, replaces the default Process (which records).
	process func(ctx context.Context, m *raftpb.Message) error
	// receive, if set, replaces the default ReceiveSnapshot.
	receive func(ctx context.Context, m *raftpb.Message, body io.Reader) error
}

type receivedSnap struct {
	m    *raftpb.Message
	n    int64
	hash [32]byte
	err  error
}

func newRecorder() *recorder {
	return &recorder{
		msgs:        make(chan *raftpb.Message, 100000),
		unreachable: make(chan uint64, 100000),
		snapReports: make(chan snapReport, 100),
		snaps:       make(chan receivedSnap, 100),
	}
}

func (r *recorder) Process(ctx context.Context, m *raftpb.Message) error {
	if r.process != nil {
		return r.process(ctx, m)
	}
	r.msgs <- m
	return nil
}

func (r *recorder) ReceiveSnapshot(ctx context.Context, m *raftpb.Message, body io.Reader) error {
	if r.receive != nil {
		return r.receive(ctx, m, body)
	}
	h := sha256.New()
	n, err := io.Copy(h, body)
	rs := receivedSnap{m: m, n: n, err: err}
	copy(rs.hash[:], h.Sum(nil))
	r.snaps <- rs
	return err
}

func (r *recorder) ReportUnreachable(id uint64) {
	select {
	case r.unreachable <- id:
	default:
	}
}

func (r *recorder) ReportSnapshot(id uint64, s raft.SnapshotStatus) {
	r.snapReports <- snapReport{id, s}
}

// member is one in-process member.
type member struct {
	t    testing.TB
	id   uint64
	addr string
	h    *recorder
	tr   *Transport
	srv  *grpc.Server
	// frames counts gRPC messages received by the server (all calls).
	frames atomic.Int64
}

// startMember starts member id of cluster on addr ("127.0.0.1:0" for any
// port). mod may adjust the config.
func startMember(t testing.TB, id, cluster uint64, addr string, h *recorder, mod func(*Config)) *member {
	t.Helper()
	cfg := Config{ID: id, ClusterID: cluster, Logger: quietLogger(), MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	tr, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	var lis net.Listener
	for i := 0; ; i++ { // a restarted member may race the old socket's close
		if lis, err = net.Listen("tcp", addr); err == nil || i == 100 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	m := &member{t: t, id: id, addr: lis.Addr().String(), h: h, tr: tr}
	m.srv = grpc.NewServer(grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, countingStream{ServerStream: ss, n: &m.frames})
	}))
	tr.Register(m.srv)
	go func() { _ = m.srv.Serve(lis) }()
	t.Cleanup(m.stop)
	return m
}

func (m *member) url() string { return "http://" + m.addr }

// stop stops the server, then the transport.
func (m *member) stop() {
	m.srv.Stop()
	m.tr.Stop()
}

type countingStream struct {
	grpc.ServerStream
	n *atomic.Int64
}

func (s countingStream) RecvMsg(v any) error {
	err := s.ServerStream.RecvMsg(v)
	if err == nil {
		s.n.Add(1)
	}
	return err
}

// connect makes every member a peer of every other.
func connect(t testing.TB, ms ...*member) {
	t.Helper()
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				if err := a.tr.AddPeer(b.id, []string{b.url()}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func msgApp(from, to, index uint64, data string) *raftpb.Message {
	m := &raftpb.Message{
		Type: raftpb.MsgApp.Enum(), From: new(from), To: new(to), Term: new(uint64(1)), Index: new(index),
	}
	if data != "" {
		m.Entries = []*raftpb.Entry{{Index: new(index + 1), Term: new(uint64(1)), Data: []byte(data)}}
	}
	return m
}

// recv waits for the next message a member's handler got.
func recv(t testing.TB, m *member) *raftpb.Message {
	t.Helper()
	select {
	case msg := <-m.h.msgs:
		return msg
	case <-time.After(guard):
		t.Fatalf("member %x: no message within %v", m.id, guard)
		return nil
	}
}

// eventually polls cond until it holds (deadlock guard: guard).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %v", what, guard)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// patternReader yields n deterministic pseudo-random bytes (ChaCha8 with a
// fixed seed) without holding them; gate, if set, is called before each read
// with the offset so far.
type patternReader struct {
	n, off int64
	src    *rand.ChaCha8
	gate   func(off int64)
	mu     sync.Mutex
	closed bool
}

func newPattern(n int64) *patternReader {
	return &patternReader{n: n, src: rand.NewChaCha8([32]byte{'k', 'e', 'l', 's', 'o', 'n'})}
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.gate != nil {
		r.gate(r.off)
	}
	if r.off >= r.n {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n-r.off {
		p = p[:r.n-r.off]
	}
	_, _ = r.src.Read(p)
	r.off += int64(len(p))
	return len(p), nil
}

func (r *patternReader) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	return nil
}

func (r *patternReader) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// patternHash is the SHA-256 of the first n bytes of a patternReader.
func patternHash(n int64) [32]byte {
	h := sha256.New()
	_, _ = io.Copy(h, newPattern(n))
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// hashCounter hashes and counts what is written to it.
type hashCounter struct {
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func newHashCounter() *hashCounter { return &hashCounter{h: sha256.New()} }

func (c *hashCounter) write(b []byte) {
	c.h.Write(b)
	c.n += int64(len(b))
}

func (c *hashCounter) sum() (out [32]byte) {
	copy(out[:], c.h.Sum(nil))
	return out
}

// blackhole listens on loopback, accepts connections and never answers.
func blackhole(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = lis.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	return lis.Addr().String()
}
