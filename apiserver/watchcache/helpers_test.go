package watchcache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver/storage"
	"github.com/kelson-dev/kelson/internal/testbin"
	"github.com/kelson-dev/kelson/raftnode"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

const prefix = "/registry/configmaps/"

func testLogger() *slog.Logger {
	if os.Getenv("KELSON_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startMember starts a one-member store on free loopback ports and
// returns it as a storage.Store, once it has a leader.
func startMember(t testing.TB) *storage.Member {
	t.Helper()
	m, _ := startMemberURL(t)
	return m
}

// startMemberURL is startMember, also returning the member's client URL.
func startMemberURL(t testing.TB) (*storage.Member, string) {
	t.Helper()
	ports, err := testbin.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	s, err := raftnode.Start(context.Background(), raftnode.Config{
		Name:              "m0",
		DataDir:           t.TempDir(),
		ListenClientURLs:  []string{fmt.Sprintf("http://127.0.0.1:%d", ports[0])},
		ListenPeerURLs:    []string{fmt.Sprintf("http://127.0.0.1:%d", ports[1])},
		HeartbeatInterval: 20 * time.Millisecond,
		ElectionTimeout:   200 * time.Millisecond,
		Logger:            testLogger(),
	})
	if err != nil {
		t.Fatalf("start member: %v", err)
	}
	t.Cleanup(s.Stop)
	m := &storage.Member{Node: s.Node}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := m.Range(ctx, &pb.RangeRequest{Key: []byte("/"), CountOnly: true})
		cancel()
		if err == nil {
			return m, fmt.Sprintf("http://127.0.0.1:%d", ports[0])
		}
		if time.Now().After(deadline) {
			t.Fatalf("member not serving: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// decodeCM is the Decode of the tests: JSON of a ConfigMap.
func decodeCM(kv *mvccpb.KeyValue) (runtime.Object, error) {
	var cm corev1.ConfigMap
	if err := json.Unmarshal(kv.Value, &cm); err != nil {
		return nil, err
	}
	cm.ResourceVersion = strconv.FormatInt(kv.ModRevision, 10)
	return &cm, nil
}

func cmKey(ns, name string) string { return prefix + ns + "/" + name }

func cmValue(ns, name string, labels map[string]string, data string) []byte {
	b, err := json.Marshal(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Data:       map[string]string{"v": data},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// txn runs ops in one transaction and returns its revision.
func txn(t testing.TB, st storage.Store, ops ...*pb.RequestOp) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := st.Txn(ctx, &pb.TxnRequest{Success: ops})
	if err != nil {
		t.Fatalf("txn: %v", err)
	}
	return r.Header.Revision
}

func putOp(key string, val []byte) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: val}}}
}

func delOp(key string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(key)}}}
}

func put(t testing.TB, st storage.Store, ns, name string, labels map[string]string, data string) int64 {
	t.Helper()
	return txn(t, st, putOp(cmKey(ns, name), cmValue(ns, name, labels, data)))
}

func del(t testing.TB, st storage.Store, ns, name string) int64 {
	t.Helper()
	return txn(t, st, delOp(cmKey(ns, name)))
}

// startCache runs a cache over st until the test ends and waits for it.
func startCache(t testing.TB, st storage.Store, tweak func(*Config)) *Cache {
	t.Helper()
	cfg := Config{Store: st, Prefix: prefix, Decode: decodeCM, Logger: testLogger()}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := c.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// fresh waits until the cache reflects the store's current revision.
func fresh(t testing.TB, c *Cache) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rev, err := c.WaitFresh(ctx)
	if err != nil {
		t.Fatalf("WaitFresh: %v", err)
	}
	return rev
}

// recv returns the next event of w, failing after a while.
func recv(t testing.TB, w *Watcher) (Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-w.Chan():
		return ev, ok
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
		return Event{}, false
	}
}

// summary is an event without its object, plus the object's data.
type summary struct {
	Type watchTypeString
	Key  string
	Rev  int64
	Data string
}

type watchTypeString string

func summarize(ev Event) summary {
	s := summary{Type: watchTypeString(ev.Type), Key: ev.Key, Rev: ev.Rev}
	if cm, ok := ev.Obj.(*corev1.ConfigMap); ok {
		s.Data = cm.Data["v"]
	}
	return s
}

// recvN returns the next n events of w.
func recvN(t testing.TB, w *Watcher, n int) []summary {
	t.Helper()
	var out []summary
	for len(out) < n {
		ev, ok := recv(t, w)
		if !ok {
			t.Fatalf("watcher closed after %d events of %d: %+v", len(out), n, out)
		}
		out = append(out, summarize(ev))
	}
	return out
}

// expectQuiet checks w has nothing more to deliver now (after a short
// grace period: an extra event would be a bug, its absence is not timed).
func expectQuiet(t testing.TB, w *Watcher) {
	t.Helper()
	select {
	case ev, ok := <-w.Chan():
		t.Fatalf("unexpected event %+v (open %v)", summarize(ev), ok)
	case <-time.After(50 * time.Millisecond):
	}
}

// faultStore wraps a Store so a test can end its current watch with an
// error, as the store does when the watch's history is compacted.
type faultStore struct {
	storage.Store
	mu      sync.Mutex
	watches []*faultWatch
}

type faultWatch struct {
	storage.Watch
	out  chan storage.WatchResponse
	fail chan error
}

func (f *faultStore) Watch(ctx context.Context, key, end []byte, rev int64) storage.Watch {
	fw := &faultWatch{Watch: f.Store.Watch(ctx, key, end, rev), out: make(chan storage.WatchResponse), fail: make(chan error, 1)}
	go func() {
		defer close(fw.out)
		for {
			select {
			case err := <-fw.fail:
				fw.Watch.Close()
				select {
				case fw.out <- storage.WatchResponse{Err: err}:
				case <-ctx.Done():
				}
				return
			case r, ok := <-fw.Watch.Chan():
				if !ok {
					return
				}
				select {
				case fw.out <- r:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	f.mu.Lock()
	f.watches = append(f.watches, fw)
	f.mu.Unlock()
	return fw
}

func (fw *faultWatch) Chan() <-chan storage.WatchResponse { return fw.out }

// breakWatch ends the newest watch with err.
func (f *faultStore) breakWatch(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watches[len(f.watches)-1].fail <- err
}

func (f *faultStore) nWatches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.watches)
}

var errInjected = errors.New("injected")
