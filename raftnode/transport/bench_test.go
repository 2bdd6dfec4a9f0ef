package transport

import (
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// BenchmarkSend measures messages through the whole path on loopback: Send,
// queue, batching writer, gRPC stream, decoding, Handler.Process. Messages
// carry one 256-byte entry and go in windows of 1024 (below the queue
// length, so none is dropped).
//
//	go test -run='^$' -bench=BenchmarkSend ./raftnode/transport/
func BenchmarkSend(b *testing.B) {
	a := startMember(b, 1, 7, "127.0.0.1:0", newRecorder(), nil)
	c := startMember(b, 2, 7, "127.0.0.1:0", newRecorder(), nil)
	connect(b, a, c)
	payload := strings.Repeat("p", 256)
	a.tr.Send([]*raftpb.Message{msgApp(1, 2, 0, payload)})
	recv(b, c)
	const window = 1024
	msgs := make([]*raftpb.Message, window)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(window, b.N-done)
		for i := range n {
			msgs[i] = msgApp(1, 2, uint64(done+i), payload)
		}
		a.tr.Send(msgs[:n])
		for range n {
			recv(b, c)
		}
		done += n
	}
	b.StopTimer()
	if d := a.tr.Metrics().Dropped; d != 0 {
		b.Fatalf("%d messages dropped", d)
	}
}
