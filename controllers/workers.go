package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// ErrCacheSync: the informers did not sync before the context ended.
var ErrCacheSync = errors.New("controllers: informer caches did not sync")

// Queue is a rate-limited queue of object keys ("namespace/name").
type Queue = workqueue.TypedRateLimitingInterface[string]

// NewQueue makes a Queue named for metrics and logs, with client-go's
// default per-item exponential back-off (5 ms doubling to 1000 s) and
// overall rate limit.
func NewQueue(name string) Queue {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
}

// Enqueue adds obj's key to q (also for cache.DeletedFinalStateUnknown
// tombstones); a key that cannot be computed is dropped.
func Enqueue(q Queue, obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		q.Add(key)
	}
}

// RunWorkers waits for synced, then runs workers goroutines that take keys
// from q and call sync until ctx ends; it shuts q down and returns when
// they have stopped. A sync error re-queues the key with back-off; a nil
// error forgets its back-off. A panic in sync is not recovered: it is a
// bug, not an input.
func RunWorkers(ctx context.Context, name string, log *slog.Logger, q Queue, workers int, syncKey func(ctx context.Context, key string) error, synced ...cache.InformerSynced) error {
	defer q.ShutDown()
	if !cache.WaitForNamedCacheSync(name, ctx.Done(), synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%w: %s", ErrCacheSync, name)
	}
	if workers < 1 {
		workers = 1
	}
	go func() { <-ctx.Done(); q.ShutDown() }()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for processNext(ctx, name, log, q, syncKey) {
			}
		}()
	}
	wg.Wait()
	return nil
}

func processNext(ctx context.Context, name string, log *slog.Logger, q Queue, syncKey func(context.Context, string) error) bool {
	key, quit := q.Get()
	if quit {
		return false
	}
	defer q.Done(key)
	if err := syncKey(ctx, key); err != nil {
		if ctx.Err() == nil {
			log.Debug("sync failed; retrying with back-off", "controller", name, "key", key, "err", err)
		}
		q.AddRateLimited(key)
		return true
	}
	q.Forget(key)
	return true
}
