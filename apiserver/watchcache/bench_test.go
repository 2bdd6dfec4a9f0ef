package watchcache

import (
	"fmt"
	"sync"
	"testing"

	"github.com/kelson-dev/kelson/apiserver/storage"
	"go.etcd.io/etcd/api/v3/mvccpb"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// benchCache is a ready cache holding n objects in 100 namespaces, filled
// directly (no store: the benchmarks measure the cache alone; Decode
// returns one shared object).
func benchCache(b *testing.B, n int) *Cache {
	b.Helper()
	obj := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}
	c, err := New(Config{Store: &storage.Member{}, Prefix: prefix, Logger: testLogger(),
		Decode: func(*mvccpb.KeyValue) (runtime.Object, error) { return obj, nil }})
	if err != nil {
		b.Fatal(err)
	}
	st := newState()
	for i := 0; i < n; i++ {
		st.put(&Object{Key: cmKey(fmt.Sprintf("ns%02d", i%100), fmt.Sprintf("cm%05d", i)), Obj: obj, Rev: int64(i + 1)})
	}
	c.replace(st, int64(n), 0)
	return c
}

func BenchmarkList10k(b *testing.B) {
	c := benchCache(b, 10000)
	b.Run("all", func(b *testing.B) {
		for b.Loop() {
			if objs, _ := c.List(prefix); len(objs) != 10000 {
				b.Fatal(len(objs))
			}
		}
	})
	b.Run("one-namespace-of-100", func(b *testing.B) {
		for b.Loop() {
			if objs, _ := c.List(prefix + "ns42/"); len(objs) != 100 {
				b.Fatal(len(objs))
			}
		}
	})
}

// BenchmarkFanout1000: one event applied and delivered to the readers of
// 1,000 watchers (the time until every reader has it).
//   - all: every watcher watches the whole resource.
//   - namespaced: 10 per namespace of 100; the event concerns 10.
func BenchmarkFanout1000(b *testing.B) {
	for _, mode := range []string{"all", "namespaced"} {
		b.Run(mode, func(b *testing.B) {
			c := benchCache(b, 1000)
			var wg sync.WaitGroup
			var recvd sync.WaitGroup
			per := 1000
			for i := 0; i < 1000; i++ {
				p := prefix
				if mode == "namespaced" {
					p = prefix + fmt.Sprintf("ns%02d/", i%100)
				}
				w, err := c.Watch(p, 0, nil, false, false)
				if err != nil {
					b.Fatal(err)
				}
				defer w.Stop()
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range w.Chan() {
						recvd.Done()
					}
				}()
			}
			if mode == "namespaced" {
				per = 10
			}
			rev := int64(1000)
			key := []byte(cmKey("ns42", "cm00042"))
			b.ReportAllocs()
			for b.Loop() {
				rev++
				recvd.Add(per)
				c.apply(storage.WatchResponse{Revision: rev, Events: []*mvccpb.Event{{Type: mvccpb.PUT,
					Kv: &mvccpb.KeyValue{Key: key, ModRevision: rev}}}})
				recvd.Wait()
			}
			b.StopTimer()
			if s := c.Stats(); s.Terminated != 0 {
				b.Fatalf("stats %+v", s)
			}
		})
	}
}
