package raftlog

import "errors"

// Sentinel errors. Callers test them with errors.Is; the log wraps them with
// context using %w.
//
// The raft.Storage methods additionally return raft's own sentinels
// (raft.ErrCompacted, raft.ErrUnavailable, raft.ErrSnapOutOfDate) unwrapped,
// because package raft compares them with ==.
var (
	// ErrClosed: the log has been closed.
	ErrClosed = errors.New("raftlog: log is closed")
	// ErrFailed: an earlier write failed and the in-memory view may no longer
	// match the disk. The log refuses further work; close and reopen it.
	ErrFailed = errors.New("raftlog: an earlier write failed; reopen the log")
	// ErrCorrupt: data on disk could not be decoded or breaks an invariant
	// (a gap in the log, an entry stored under the wrong index). The message
	// names the record. The log refuses to guess.
	ErrCorrupt = errors.New("raftlog: corrupt data")
	// ErrIncompatible: the directory holds a raft log of a format version this
	// binary does not know.
	ErrIncompatible = errors.New("raftlog: incompatible on-disk format")
	// ErrInvalidEntries: Save was given entries that are nil, not contiguous,
	// or that would leave a gap after the current last index.
	ErrInvalidEntries = errors.New("raftlog: invalid entries")
	// ErrNotFound: Meta was asked for a key that was never set (or was
	// deleted).
	ErrNotFound = errors.New("raftlog: meta key not found")
	// ErrInvalidOptions: Options.Validate rejected a field.
	ErrInvalidOptions = errors.New("raftlog: invalid options")
)
