package watchcache

import (
	"fmt"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver/storage"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// The cache works the same over an etcd v3 client (storage.Remote): list,
// watch, and consistent reads through progress requests.
func TestOverRemote(t *testing.T) {
	m, url := startMemberURL(t)
	put(t, m, "a", "x", nil, "1")
	r, err := storage.NewRemote(clientv3.Config{Endpoints: []string{url}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	c := startCache(t, r, func(c *Config) { c.PageSize = 2 })
	w, err := c.Watch(prefix, 0, nil, true, true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if got := recvN(t, w, 2); got[0].Key != cmKey("a", "x") || got[1].Type != "BOOKMARK" {
		t.Fatalf("initial: %+v", got)
	}
	for i := 0; i < 5; i++ {
		rev := put(t, m, "b", fmt.Sprintf("cm%d", i), nil, "1")
		if got := recvN(t, w, 1); got[0].Rev != rev {
			t.Fatalf("event %+v, want rev %d", got[0], rev)
		}
		other := txn(t, m, putOp(fmt.Sprintf("/registry/secrets/s%d", i), []byte("{}")))
		if got := fresh(t, c); got < other || c.Rev() < other {
			t.Fatalf("WaitFresh %d, cache %d; want >= %d", got, c.Rev(), other)
		}
	}
	if objs, _ := c.List(prefix); len(objs) != 6 {
		t.Fatalf("list: %d objects", len(objs))
	}
}
