package raftlog

import (
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/kelson-dev/kelson/internal/pebblelog"
)

// Options configures a Log. The zero value of every field means its
// documented default; Open calls EnsureDefaults and Validate.
type Options struct {
	// FS is the filesystem Pebble runs on. Default: vfs.Default (the OS).
	// Tests inject vfs.NewMem, vfs.NewStrictMem (to simulate power loss) or
	// an error-injecting FS.
	FS vfs.FS
	// Logger receives the log's messages, and Pebble's at debug level.
	// Default: slog.Default().
	Logger *slog.Logger
	// CacheBytes bounds the in-memory cache of the most recent entries,
	// counted as their encoded size. Entries and Term calls within the cache
	// never touch Pebble. Default: 8 MiB. Negative: no cache.
	CacheBytes int64
	// NoSync makes Save, Compact, CreateSnapshot and SetMeta skip the fsync.
	// UNSAFE: a machine crash may lose writes that were acknowledged, which
	// breaks raft's safety. For benchmarks and tests only. Default: false.
	NoSync bool
	// Fatal is called when Pebble meets an error it cannot continue from:
	// a failed write or sync of its WAL or MANIFEST (a failing disk), or
	// corruption found in the background. Pebble's state is undefined
	// afterwards, so Fatal must not return (if it does, the log panics).
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
	if o.CacheBytes == 0 {
		o.CacheBytes = 8 << 20
	}
	if o.Fatal == nil {
		o.Fatal = pebblelog.ExitOnFatal(o.Logger)
	}
	return o
}

// Validate reports a field that cannot work. Call it after EnsureDefaults.
func (o *Options) Validate() error {
	if o.FS == nil {
		return fmt.Errorf("%w: FS is nil (call EnsureDefaults)", ErrInvalidOptions)
	}
	if o.Logger == nil {
		return fmt.Errorf("%w: Logger is nil (call EnsureDefaults)", ErrInvalidOptions)
	}
	return nil
}
