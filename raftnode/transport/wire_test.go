package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func TestDialAddr(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"http://127.0.0.1:2380", "127.0.0.1:2380", true},
		{"http://node-1.example:2380/", "node-1.example:2380", true},
		{"http://[::1]:2380", "[::1]:2380", true},
		{"127.0.0.1:2380", "127.0.0.1:2380", true},
		{"https://127.0.0.1:2380", "https://127.0.0.1:2380", true},
		{"ftp://127.0.0.1:2380", "", false},
		{"unix:///tmp/x", "", false},
		{"http://127.0.0.1", "", false},
		{"http://127.0.0.1:notaport", "", false},
		{"http://127.0.0.1:2380/raft", "", false},
		{"", "", false},
	} {
		got, err := dialAddr(tt.in)
		if tt.ok && (err != nil || got != tt.want) {
			t.Errorf("dialAddr(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if !tt.ok && !errors.Is(err, ErrInvalidURL) {
			t.Errorf("dialAddr(%q) = %q, %v; want ErrInvalidURL", tt.in, got, err)
		}
	}
}

// frameFeed returns the frames one by one, then io.EOF.
func frameFeed(frames [][]byte) func() ([]byte, error) {
	return func() ([]byte, error) {
		if len(frames) == 0 {
			return nil, io.EOF
		}
		f := frames[0]
		frames = frames[1:]
		return f, nil
	}
}

// split cuts b into frames of at most n bytes.
func split(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		k := min(n, len(b))
		out = append(out, b[:k])
		b = b[k:]
	}
	return out
}

func TestRecordReader(t *testing.T) {
	var stream []byte
	var want []*raftpb.Message
	for i := range uint64(40) {
		m := msgApp(1, 2, i, string(bytes.Repeat([]byte{'z'}, int(i*i))))
		want = append(want, m)
		var err error
		if stream, err = appendRecord(stream, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, frame := range []int{1, 2, 3, 7, 100, 1 << 20} {
		rr := recordReader{next: frameFeed(split(stream, frame)), max: 1 << 20}
		for i, w := range want {
			rec, err := rr.read()
			if err != nil {
				t.Fatalf("frame %d: record %d: %v", frame, i, err)
			}
			m := &raftpb.Message{}
			if err := proto.Unmarshal(rec, m); err != nil || !proto.Equal(m, w) {
				t.Fatalf("frame %d: record %d = %v (%v), want %v", frame, i, m, err, w)
			}
		}
		if _, err := rr.read(); err != io.EOF {
			t.Fatalf("frame %d: after the last record: %v, want io.EOF", frame, err)
		}
	}
	for name, garbage := range map[string][]byte{
		"huge length":        binary.AppendUvarint(nil, 1<<40),
		"overflowing varint": bytes.Repeat([]byte{0xff}, 11),
		"truncated length":   {0x80},
		"truncated record":   {10, 1, 2},
	} {
		rr := recordReader{next: frameFeed(split(garbage, 1)), max: 1 << 20}
		if _, err := rr.read(); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v, want ErrProtocol", name, err)
		}
	}
}

// FuzzRecordReader feeds arbitrary bytes in arbitrary frames: no panic, no
// record above the limit.
func FuzzRecordReader(f *testing.F) {
	good, _ := appendRecord(nil, msgApp(1, 2, 3, "data"))
	f.Add(good, uint8(3))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, uint8(1))
	f.Add([]byte{5, 0xff, 0xff, 0xff, 0xff, 0xff}, uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, frame uint8) {
		rr := recordReader{next: frameFeed(split(b, int(frame)+1)), max: 64}
		for range len(b) + 1 {
			rec, err := rr.read()
			if err != nil {
				return
			}
			if len(rec) > 64 {
				t.Fatalf("record of %d bytes above the limit", len(rec))
			}
			_ = proto.Unmarshal(rec, &raftpb.Message{})
		}
	})
}

// FuzzSnapBody feeds arbitrary frames to a snapshot body: no panic, and
// io.EOF only with a matching trailer.
func FuzzSnapBody(f *testing.F) {
	data := []byte("snapshot body")
	f.Add(append([]byte{frameData}, data...), trailer(uint64(len(data)), crcOf(data)))
	f.Add([]byte{frameData}, []byte{frameTrailer, 1})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		body := &snapBody{next: frameFeed([][]byte{a, b})}
		got, err := io.ReadAll(body)
		if err == nil {
			n, crc, terr := parseTrailer(b)
			if terr != nil || len(a) == 0 || a[0] != frameData || n != uint64(len(got)) || crc != crcOf(got) || !body.done {
				t.Fatalf("body accepted without a matching trailer: %q %q", a, b)
			}
		}
	})
}

func crcOf(b []byte) uint32 { return crc32.Update(0, crcTable, b) }

// fakeStream is a grpc.ClientStream that records what is sent.
type fakeStream struct {
	grpc.ClientStream
	mu     sync.Mutex
	frames [][]byte
	sent   chan struct{}
}

func (s *fakeStream) SendMsg(m any) error {
	s.mu.Lock()
	s.frames = append(s.frames, append([]byte(nil), m.([]byte)...))
	s.mu.Unlock()
	s.sent <- struct{}{}
	return nil
}

// TestWriterBatches checks that the writer sends everything queued as one
// batch, cut into chunks of at most ChunkBytes.
func TestWriterBatches(t *testing.T) {
	for _, chunk := range []int{1 << 20, 100} {
		tr, err := New(Config{ID: 1, ClusterID: 7, Logger: quietLogger(), ChunkBytes: chunk}, newRecorder())
		if err != nil {
			t.Fatal(err)
		}
		p := newPeer(tr, 2, []string{"http://127.0.0.1:1"}, []string{"127.0.0.1:1"})
		var stream []byte
		for i := range uint64(500) {
			m := msgApp(1, 2, i, "payload")
			p.queue <- m
			stream, _ = appendRecord(stream, m)
		}
		fs := &fakeStream{sent: make(chan struct{}, 100000)}
		s := &outStream{cs: fs, cancel: func() {}, done: make(chan struct{})}
		errc := make(chan error, 1)
		go func() { errc <- p.write(s) }()
		for received := 0; received < len(stream); {
			select {
			case <-fs.sent:
			case <-time.After(guard):
				t.Fatalf("chunk %d: the writer sent %d of %d bytes", chunk, received, len(stream))
			}
			fs.mu.Lock()
			received = len(bytes.Join(fs.frames, nil))
			fs.mu.Unlock()
		}
		close(s.done) // the server "ends" the call
		if err := <-errc; err == nil {
			t.Fatal("write returned nil after the stream ended")
		}
		// All 500 were queued before the writer started: with room for
		// them, one gRPC message; otherwise batches of about a chunk.
		if chunk == 1<<20 && len(fs.frames) != 1 {
			t.Fatalf("chunk %d: %d gRPC messages, want 1", chunk, len(fs.frames))
		}
		for _, f := range fs.frames {
			if len(f) > chunk {
				t.Fatalf("chunk %d: a gRPC message of %d bytes", chunk, len(f))
			}
		}
		if got := bytes.Join(fs.frames, nil); !bytes.Equal(got, stream) {
			t.Fatalf("chunk %d: the stream differs from the encoded messages", chunk)
		}
		p.cancel()
		tr.Stop()
	}
}

// rawCall opens a call to m with hand-made metadata, bypassing Transport.
func rawCall(t *testing.T, m *member, method string, md metadata.MD) grpc.ClientStream {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+m.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	desc := &serviceDesc.Streams[0]
	if method == methodSnapshot {
		desc = &serviceDesc.Streams[1]
	}
	ctx, cancel := context.WithCancel(metadata.NewOutgoingContext(context.Background(), md))
	t.Cleanup(cancel)
	cs, err := cc.NewStream(ctx, desc, method, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// finish closes the sending side and returns the server's status code.
func finish(cs grpc.ClientStream, frames ...[]byte) (codes.Code, string) {
	for _, f := range frames {
		if err := cs.SendMsg(f); err != nil {
			break
		}
	}
	_ = cs.CloseSend()
	var b []byte
	err := cs.RecvMsg(&b)
	return status.Code(err), status.Convert(err).Message()
}

func goodMD(from, to, cluster uint64) metadata.MD {
	tr := &Transport{cfg: Config{ID: from, ClusterID: cluster}}
	return tr.requestMD(to)
}

// TestGarbageFromPeer sends malformed streams to a member: each call fails
// with a clear status, nothing reaches the handler, and the member still
// works afterwards.
func TestGarbageFromPeer(t *testing.T) {
	rb := newRecorder()
	b := startMember(t, 2, 7, "127.0.0.1:0", rb, nil)
	good, _ := appendRecord(nil, msgApp(1, 2, 1, "ok"))
	wrongTo, _ := appendRecord(nil, msgApp(1, 3, 1, "x"))
	snapHdr, _ := proto.Marshal(&raftpb.Message{Type: raftpb.MsgSnap.Enum(), From: new(uint64(1)), To: new(uint64(2))})
	appHdr, _ := proto.Marshal(msgApp(1, 2, 1, ""))
	for _, tt := range []struct {
		name   string
		method string
		md     metadata.MD
		frames [][]byte
		code   codes.Code
	}{
		{"huge length", methodMessages, goodMD(1, 2, 7), [][]byte{binary.AppendUvarint(nil, 1<<40)}, codes.InvalidArgument},
		{"overflowing varint", methodMessages, goodMD(1, 2, 7), [][]byte{bytes.Repeat([]byte{0xff}, 11)}, codes.InvalidArgument},
		{"junk message", methodMessages, goodMD(1, 2, 7), [][]byte{{5, 0xff, 0xff, 0xff, 0xff, 0xff}}, codes.InvalidArgument},
		{"truncated", methodMessages, goodMD(1, 2, 7), [][]byte{{10, 1, 2}}, codes.InvalidArgument},
		{"wrong recipient in message", methodMessages, goodMD(1, 2, 7), [][]byte{wrongTo}, codes.FailedPrecondition},
		{"other cluster", methodMessages, goodMD(1, 2, 8), [][]byte{good}, codes.FailedPrecondition},
		{"other member", methodMessages, goodMD(1, 5, 7), [][]byte{good}, codes.FailedPrecondition},
		{"no metadata", methodMessages, metadata.MD{}, [][]byte{good}, codes.FailedPrecondition},
		{"bad cluster metadata", methodMessages, metadata.Pairs(mdVersion, protocolVersion, mdCluster, "zz"), [][]byte{good}, codes.InvalidArgument},
		{"snapshot without header", methodSnapshot, goodMD(1, 2, 7), [][]byte{{frameData, 1, 2}}, codes.InvalidArgument},
		{"snapshot empty", methodSnapshot, goodMD(1, 2, 7), nil, codes.InvalidArgument},
		{"snapshot junk header", methodSnapshot, goodMD(1, 2, 7), [][]byte{{frameHeader, 0xff, 0xff}}, codes.InvalidArgument},
		{"snapshot of a MsgApp", methodSnapshot, goodMD(1, 2, 7), [][]byte{append([]byte{frameHeader}, appHdr...)}, codes.InvalidArgument},
		{"snapshot bad trailer", methodSnapshot, goodMD(1, 2, 7), [][]byte{append([]byte{frameHeader}, snapHdr...), {frameData, 1, 2, 3}, trailer(3, 0)}, codes.InvalidArgument},
		{"snapshot no trailer", methodSnapshot, goodMD(1, 2, 7), [][]byte{append([]byte{frameHeader}, snapHdr...), {frameData, 1, 2, 3}}, codes.InvalidArgument},
		{"snapshot unknown frame", methodSnapshot, goodMD(1, 2, 7), [][]byte{append([]byte{frameHeader}, snapHdr...), {'?'}}, codes.InvalidArgument},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := finish(rawCall(t, b, tt.method, tt.md), tt.frames...)
			if code != tt.code {
				t.Fatalf("status %v (%s), want %v", code, msg, tt.code)
			}
			t.Logf("%v: %s", code, msg)
		})
	}
	select {
	case m := <-rb.msgs:
		t.Fatalf("garbage reached the handler: %v", m)
	default:
	}
	// The member is unharmed: a well-formed call works.
	code, msg := finish(rawCall(t, b, methodMessages, goodMD(1, 2, 7)), good)
	if code != codes.OK {
		t.Fatalf("good call: %v %s", code, msg)
	}
	if m := recv(t, b); m.GetIndex() != 1 {
		t.Fatalf("got %v", m)
	}
}
