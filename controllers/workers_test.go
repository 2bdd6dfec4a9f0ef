package controllers_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/internal/testcluster"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var metav1Get = metav1.GetOptions{}

// TestRunWorkersRetriesFailures: a key whose sync fails is retried until
// it succeeds; keys added while it backs off are still served; RunWorkers
// returns when the context ends.
func TestRunWorkersRetriesFailures(t *testing.T) {
	q := controllers.NewQueue("test")
	var mu sync.Mutex
	calls := map[string]int{}
	syncKey := func(_ context.Context, key string) error {
		mu.Lock()
		defer mu.Unlock()
		calls[key]++
		if key == "flaky" && calls[key] < 3 {
			return errors.New("not yet")
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- controllers.RunWorkers(ctx, "test", testcluster.Logger(), q, 2, syncKey) }()
	q.Add("flaky")
	q.Add("steady")
	testcluster.Eventually(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if calls["flaky"] < 3 || calls["steady"] != 1 {
			return errors.New("keys not synced yet")
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunWorkers: %v", err)
	}
}

// TestRunWorkersCacheNeverSyncs: a cache that never syncs makes RunWorkers
// return nil once the context ends, without calling sync.
func TestRunWorkersCacheNeverSyncs(t *testing.T) {
	q := controllers.NewQueue("test")
	q.Add("k")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := controllers.RunWorkers(ctx, "test", testcluster.Logger(), q, 1,
		func(context.Context, string) error { t.Error("sync called before caches synced"); return nil },
		func() bool { return false })
	if err != nil {
		t.Fatalf("RunWorkers: %v", err)
	}
}
