package watchcache

import (
	"context"
	"fmt"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// progressRetry is how often a waiter asks again for the store watch's
// progress (a request can be lost when the store watch is replaced).
const progressRetry = 100 * time.Millisecond

// Rev returns the revision the cache reflects (0 before the first list).
func (c *Cache) Rev() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rev
}

// WaitReady waits for the first list. It returns ErrClosed if Run
// returned first, or ctx's error.
func (c *Cache) WaitReady(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	case <-c.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitFresh makes the next read consistent: it gets the store's current
// revision with a linearizable count-only Range of the prefix, then waits
// until the cache has reached it, asking the store watch for progress
// (nothing may have changed under the prefix since). It returns that
// revision; List or Get after it reflect at least that revision.
func (c *Cache) WaitFresh(ctx context.Context) (int64, error) {
	if err := c.WaitReady(ctx); err != nil {
		return 0, err
	}
	resp, err := c.cfg.Store.Range(ctx, &pb.RangeRequest{Key: c.key, RangeEnd: c.end, CountOnly: true})
	if err != nil {
		return 0, fmt.Errorf("watchcache: read the store's revision: %w", err)
	}
	if resp.Header == nil {
		return 0, fmt.Errorf("watchcache: read the store's revision: the response has no header")
	}
	rev := resp.Header.Revision
	return rev, c.waitRev(ctx, rev, nil)
}

// WaitRev waits until the cache's revision is at least rev. If it is not
// after Config.TooLargeWait, it returns an error wrapping ErrTooLargeRV.
func (c *Cache) WaitRev(ctx context.Context, rev int64) error {
	if err := c.WaitReady(ctx); err != nil {
		return err
	}
	t := time.NewTimer(c.cfg.TooLargeWait)
	defer t.Stop()
	return c.waitRev(ctx, rev, t.C)
}

// waitRev waits for the cache to reach rev, or ctx, or the timeout.
func (c *Cache) waitRev(ctx context.Context, rev int64, timeout <-chan time.Time) error {
	var retry *time.Ticker
	for {
		c.mu.RLock()
		cur, ch, closed := c.rev, c.revCh, c.closed
		c.mu.RUnlock()
		switch {
		case closed:
			return ErrClosed
		case cur >= rev:
			return nil
		}
		c.requestProgress()
		if retry == nil {
			retry = time.NewTicker(progressRetry)
			defer retry.Stop()
		}
		select {
		case <-ch:
		case <-retry.C:
		case <-timeout:
			return fmt.Errorf("%w: %d, current: %d", ErrTooLargeRV, rev, c.Rev())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// List returns the objects whose key starts with keyPrefix (the whole
// Prefix, or e.g. "/registry/pods/default/" for one namespace), sorted by
// key, and the revision they reflect. O(log n + matches). The objects are
// shared: read-only. Before the first list it returns nothing at revision 0.
func (c *Cache) List(keyPrefix string) ([]Object, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []Object
	if strings.HasPrefix(c.cfg.Prefix, keyPrefix) {
		out = make([]Object, 0, len(c.st.byKey)) // the whole cache
	}
	c.st.scan(keyPrefix, func(o *Object) bool {
		out = append(out, *o)
		return true
	})
	return out, c.rev
}

// Get returns the object at key, whether it exists, and the revision the
// answer reflects.
func (c *Cache) Get(key string) (Object, bool, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	o, ok := c.st.byKey[key]
	if !ok {
		return Object{}, false, c.rev
	}
	return *o, true, c.rev
}
