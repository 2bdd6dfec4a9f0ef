package watchcache

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kelson-dev/kelson/apiserver/storage"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"k8s.io/apimachinery/pkg/runtime"
)

// Config configures a Cache. The zero value of every optional field means
// its default.
type Config struct {
	// Store is read (list, count) and watched. Required.
	Store storage.Store
	// Prefix is the key prefix of the resource, e.g. "/registry/pods/":
	// the cache holds every key under it. Required.
	Prefix string
	// Decode turns a stored key-value into an object whose resourceVersion
	// is kv.ModRevision. It is called by one goroutine at a time, without
	// the cache's lock. An error is logged and the key skipped: the cache
	// never stops or panics on a value it cannot decode. Required.
	Decode func(kv *mvccpb.KeyValue) (runtime.Object, error)
	// History is how many recent events are kept for watches that resume
	// from a resourceVersion. Default 10000.
	History int
	// BookmarkInterval is how often watchers that asked for bookmarks get
	// one. Default 1 minute (as kube-apiserver, roughly).
	BookmarkInterval time.Duration
	// TooLargeWait is how long WaitRev waits for a revision the cache has
	// not reached before it returns ErrTooLargeRV. Default 3 s (as
	// kube-apiserver).
	TooLargeWait time.Duration
	// WatcherBuffer is how many events may wait for a watcher's reader;
	// a watcher with a full buffer is terminated. Default 100.
	WatcherBuffer int
	// PageSize is how many keys one Range of a list reads. Default 1000.
	PageSize int64
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultHistory          = 10000
	DefaultBookmarkInterval = time.Minute
	DefaultTooLargeWait     = 3 * time.Second
	DefaultWatcherBuffer    = 100
	DefaultPageSize         = 1000
)

// EnsureDefaults fills zero fields with their defaults.
func (c *Config) EnsureDefaults() {
	if c.History == 0 {
		c.History = DefaultHistory
	}
	if c.BookmarkInterval == 0 {
		c.BookmarkInterval = DefaultBookmarkInterval
	}
	if c.TooLargeWait == 0 {
		c.TooLargeWait = DefaultTooLargeWait
	}
	if c.WatcherBuffer == 0 {
		c.WatcherBuffer = DefaultWatcherBuffer
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports a missing or impossible setting (after EnsureDefaults).
func (c *Config) Validate() error {
	switch {
	case c.Store == nil:
		return fmt.Errorf("%w: Store is required", ErrBadConfig)
	case c.Prefix == "":
		return fmt.Errorf("%w: Prefix is required (e.g. \"/registry/pods/\")", ErrBadConfig)
	case c.Decode == nil:
		return fmt.Errorf("%w: Decode is required", ErrBadConfig)
	case c.History < 0, c.BookmarkInterval < 0, c.TooLargeWait < 0, c.WatcherBuffer < 0, c.PageSize < 0:
		return fmt.Errorf("%w: History, BookmarkInterval, TooLargeWait, WatcherBuffer and PageSize must not be negative", ErrBadConfig)
	}
	return nil
}

// Errors. Returned errors wrap these; check with errors.Is.
var (
	// ErrTooOld: the requested resourceVersion is older than the history
	// the cache keeps (or than its last re-list). The API answers 410 Gone
	// "too old resource version"; the client re-lists.
	ErrTooOld = errors.New("watchcache: too old resource version")
	// ErrTooLargeRV: the cache did not reach the requested resourceVersion
	// within Config.TooLargeWait. The API answers 504 "Too large resource
	// version"; the client retries.
	ErrTooLargeRV = errors.New("watchcache: too large resource version")
	// ErrNotReady: the cache has not finished its first list; WaitReady
	// first.
	ErrNotReady = errors.New("watchcache: not ready (first list not done)")
	// ErrClosed: Run has returned; the cache serves no more watches or
	// waits.
	ErrClosed = errors.New("watchcache: closed")
	// ErrBadConfig: New was given an unusable Config.
	ErrBadConfig = errors.New("watchcache: bad config")
)
