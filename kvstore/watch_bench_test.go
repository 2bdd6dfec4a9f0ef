package kvstore

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkWatchFanout measures one revision on one key delivered to every
// watcher of that key, the watchers spread evenly over streams, each
// stream read by its own goroutine. Per op: publish (under the store's
// apply lock) plus delivery until every watcher's reader has the event.
// Reported: publish-ns (time inside the write, i.e. what writers pay),
// ns/watcher, and B/watcher (heap and stacks retained per watcher, streams
// and their goroutines included).
func BenchmarkWatchFanout(b *testing.B) {
	for _, c := range []struct{ watchers, streams int }{
		{10_000, 100},
		{100_000, 100},
		{100_000, 1000},
	} {
		b.Run(fmt.Sprintf("watchers=%d/streams=%d", c.watchers, c.streams), func(b *testing.B) {
			benchFanout(b, c.watchers, c.streams)
		})
	}
}

func benchFanout(b *testing.B, nWatchers, nStreams int) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	f, h := newFakeHub(nil)
	defer h.close()
	var got, target atomic.Int64
	done := make(chan struct{}, 1)
	var readers sync.WaitGroup
	streams := make([]*WatchStream, nStreams)
	for i := range streams {
		ws := h.newStream()
		streams[i] = ws
		readers.Add(1)
		go func() {
			defer readers.Done()
			for r := range ws.Chan() {
				if len(r.Events) > 0 && got.Add(1) == target.Load() {
					done <- struct{}{}
				}
			}
		}()
	}
	key := []byte("/registry/pods/default/hot")
	for i := range nWatchers {
		mustWatch(b, streams[i%nStreams], 0, WatchRequest{Key: key})
	}
	deliver := func() {
		target.Add(int64(nWatchers))
		f.write(put(string(key), "v"))
		<-done
	}
	// Until every stream has its watchers live on the key.
	for {
		deliver()
		h.mu.Lock()
		live := 0
		if e := h.single[string(key)]; e != nil {
			live = len(e.groups)
		}
		h.mu.Unlock()
		if live == nStreams {
			break
		}
	}
	deliver() // and once more, live

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	retained := float64(after.HeapAlloc+after.StackInuse) - float64(before.HeapAlloc+before.StackInuse)

	var publish time.Duration
	b.ResetTimer()
	for range b.N {
		target.Add(int64(nWatchers))
		start := time.Now()
		f.write(put(string(key), "v"))
		publish += time.Since(start)
		<-done
	}
	b.StopTimer()
	b.ReportMetric(float64(publish.Nanoseconds())/float64(b.N), "publish-ns")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(nWatchers), "ns/watcher")
	b.ReportMetric(retained/float64(nWatchers), "B/watcher")
	for _, ws := range streams {
		ws.Close()
	}
	readers.Wait()
}
