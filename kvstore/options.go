package kvstore

import (
	"log/slog"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/kelson-dev/kelson/internal/pebblelog"
)

// Options configures a Store. The zero value of every field means its
// documented default; call EnsureDefaults (Open does) before reading them.
type Options struct {
	// FS is the filesystem Pebble runs on. Default: vfs.Default (the OS).
	// Tests inject vfs.NewMem or an error-injecting FS.
	FS vfs.FS
	// Logger receives the store's logs. Default: slog.Default().
	Logger *slog.Logger
	// QuotaBytes is the size limit of the store on disk. Past it, writes
	// that add data fail with ErrNoSpace. Default: 8 GiB. Negative: no limit.
	QuotaBytes int64
	// MaxTxnOps is the most operations allowed in one branch of a Txn (and
	// the most compares). Default: 128, as etcd.
	MaxTxnOps int
	// CompactionBatch is how many keys one compaction step examines while
	// holding the write lock. Smaller means shorter write stalls and a
	// longer compaction. Default: 1000.
	CompactionBatch int
	// CacheBytes is Pebble's block cache size. Default: 64 MiB.
	CacheBytes int64
	// WatchQueueLen is how many revisions a watch stream may have queued
	// before its slowest watchers are moved off the live path and catch up
	// from history instead. Default: 1024.
	WatchQueueLen int
	// WatchBatchEvents is the most events a catching-up watcher reads from
	// history at a time. Default: 1000.
	WatchBatchEvents int
	// Fatal is called when Pebble meets an error it cannot continue from:
	// a failed write or sync of its WAL or MANIFEST (a failing disk), or
	// corruption found in the background. Pebble's state is undefined
	// afterwards, so Fatal must not return (if it does, the store panics).
	// Default: pebblelog.ExitOnFatal(Logger) — one error line, then exit status 1.
	Fatal func(msg string)
}

// EnsureDefaults fills zero fields with their defaults and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.QuotaBytes == 0 {
		o.QuotaBytes = 8 << 30
	}
	if o.MaxTxnOps == 0 {
		o.MaxTxnOps = 128
	}
	if o.CompactionBatch == 0 {
		o.CompactionBatch = 1000
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = 64 << 20
	}
	if o.WatchQueueLen == 0 {
		o.WatchQueueLen = 1024
	}
	if o.WatchBatchEvents == 0 {
		o.WatchBatchEvents = 1000
	}
	if o.Fatal == nil {
		o.Fatal = pebblelog.ExitOnFatal(o.Logger)
	}
	return o
}
