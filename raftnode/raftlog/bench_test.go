package raftlog

import (
	"fmt"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// BenchmarkSave measures Save of one Ready (a hard state plus N entries of
// 256 bytes) as one synced batch on the real disk under b.TempDir().
//
//	go test -run='^$' -bench=BenchmarkSave -benchtime=2s ./raftnode/raftlog/
func BenchmarkSave(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = l.Close() }()
			payload := make([]byte, 256)
			next := uint64(1)
			b.SetBytes(int64(n * len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				ents := make([]*raftpb.Entry, n)
				for k := range ents {
					ents[k] = &raftpb.Entry{Index: new(next), Term: new(uint64(1)), Data: payload}
					next++
				}
				if err := l.Save(hardState(1, 1, next-1), ents, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
		})
	}
}
