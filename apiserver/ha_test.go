package apiserver

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver/storage"
	"github.com/kelson-dev/kelson/internal/testbin"
	"github.com/kelson-dev/kelson/raftnode"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// startCluster starts n store members in this process, one raft cluster.
func startCluster(t *testing.T, n int) []storage.Store {
	t.Helper()
	ports, err := testbin.FreePorts(2 * n)
	if err != nil {
		t.Fatal(err)
	}
	var initial []string
	for i := 0; i < n; i++ {
		initial = append(initial, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, ports[2*i+1]))
	}
	dir := t.TempDir()
	stores := make([]storage.Store, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := raftnode.Start(context.Background(), raftnode.Config{
				Name:              fmt.Sprintf("m%d", i),
				DataDir:           filepath.Join(dir, fmt.Sprintf("m%d", i)),
				ListenClientURLs:  []string{fmt.Sprintf("http://127.0.0.1:%d", ports[2*i])},
				ListenPeerURLs:    []string{fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])},
				InitialCluster:    strings.Join(initial, ","),
				HeartbeatInterval: 20 * time.Millisecond,
				ElectionTimeout:   200 * time.Millisecond,
				Logger:            testLogger(),
			})
			if err != nil {
				errs[i] = err
				return
			}
			t.Cleanup(m.Stop)
			stores[i] = &storage.Member{Node: m.Node}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("start member: %v", err)
		}
	}
	return stores
}

// Three API servers over three members of one store: a write through one
// is seen by a watch on another, and ClusterIPs allocated concurrently
// through all three never collide.
func TestThreeServers(t *testing.T) {
	stores := startCluster(t, 3)
	servers := make([]*testServer, 3)
	for i, st := range stores {
		servers[i] = newTestServer(t, st)
	}
	ctx := context.Background()

	w, err := servers[2].client.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	created, err := servers[0].client.CoreV1().ConfigMaps("default").Create(ctx,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "through-a"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	timeout := time.After(20 * time.Second)
	for seen := false; !seen; {
		select {
		case ev := <-w.ResultChan():
			if cm, ok := ev.Object.(*corev1.ConfigMap); ok && ev.Type == watch.Added && cm.Name == "through-a" {
				if cm.ResourceVersion != created.ResourceVersion {
					t.Fatalf("watch on c saw rv %s, the create returned %s", cm.ResourceVersion, created.ResourceVersion)
				}
				seen = true
			}
		case <-timeout:
			t.Fatal("the watch on server c never saw the create through server a")
		}
	}
	// A consistent read on b right after the write on a sees it.
	if _, err := servers[1].client.CoreV1().ConfigMaps("default").Get(ctx, "through-a", metav1.GetOptions{}); err != nil {
		t.Fatalf("read on b: %v", err)
	}
	list, err := servers[1].client.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) == 0 {
		t.Fatalf("consistent list on b: %v %v", list, err)
	}

	const perServer = 15
	var mu sync.Mutex
	ips := map[string]string{}
	var wg sync.WaitGroup
	errc := make(chan error, 3*perServer)
	for i, ts := range servers {
		for j := 0; j < perServer; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("svc-%d-%d", i, j)
				svc, err := ts.client.CoreV1().Services("default").Create(ctx, &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}}},
				}, metav1.CreateOptions{})
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, key := range []string{svc.Spec.ClusterIP, fmt.Sprint(svc.Spec.Ports[0].NodePort)} {
					if other, dup := ips[key]; dup {
						errc <- fmt.Errorf("%s and %s both got %s", other, name, key)
					}
					ips[key] = name
				}
			}()
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}
