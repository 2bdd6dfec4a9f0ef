package kvstore

import "errors"

// Sentinel errors. Callers test them with errors.Is; the store wraps them with
// context using %w. raftnode maps each one to etcd's gRPC error of the same
// meaning.
var (
	// ErrCompacted: the requested revision has been compacted away.
	ErrCompacted = errors.New("kvstore: required revision has been compacted")
	// ErrFutureRev: the requested revision is newer than the current one.
	ErrFutureRev = errors.New("kvstore: required revision is a future revision")
	// ErrCompactFuture: a compaction was asked beyond the current revision.
	ErrCompactFuture = errors.New("kvstore: compaction revision is a future revision")
	// ErrNoSpace: the store is past its quota; only reads, deletes,
	// revokes and compactions are accepted until space is reclaimed.
	ErrNoSpace = errors.New("kvstore: database space exceeded")
	// ErrKeyNotFound: a put with ignore_value or ignore_lease named a key
	// that does not exist.
	ErrKeyNotFound = errors.New("kvstore: key not found")
	// ErrEmptyKey: a request carries an empty key.
	ErrEmptyKey = errors.New("kvstore: key is not provided")
	// ErrValueProvided: ignore_value was set together with a value.
	ErrValueProvided = errors.New("kvstore: value is provided")
	// ErrLeaseProvided: ignore_lease was set together with a lease.
	ErrLeaseProvided = errors.New("kvstore: lease is provided")
	// ErrDuplicateKey: one transaction writes the same key twice.
	ErrDuplicateKey = errors.New("kvstore: duplicate key given in txn request")
	// ErrTooManyOps: a transaction exceeds Options.MaxTxnOps.
	ErrTooManyOps = errors.New("kvstore: too many operations in txn request")
	// ErrLeaseNotFound: the named lease does not exist.
	ErrLeaseNotFound = errors.New("kvstore: requested lease not found")
	// ErrLeaseExists: a grant reused the ID of a live lease.
	ErrLeaseExists = errors.New("kvstore: lease already exists")
	// ErrLeaseInvalid: a lease grant with ID 0 or a TTL below 1.
	ErrLeaseInvalid = errors.New("kvstore: lease ID must be non-zero and TTL positive")
	// ErrInvalidSortOption: a range asks for an unknown sort order or
	// sort target.
	ErrInvalidSortOption = errors.New("kvstore: invalid sort option")
	// ErrInvalidRequest: a request is malformed (no operation, unknown
	// enum value, nil branch entry...). The wrapped message says what.
	ErrInvalidRequest = errors.New("kvstore: invalid request")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("kvstore: store is closed")
	// ErrCorrupt: data on disk could not be decoded; the message names the
	// record. The store refuses to guess.
	ErrCorrupt = errors.New("kvstore: corrupt data")
	// ErrWatcherNotFound: cancel of an unknown watch ID.
	ErrWatcherNotFound = errors.New("kvstore: watcher not found")
	// ErrWatchIDExists: a watch asked for an ID already in use on its stream.
	ErrWatchIDExists = errors.New("kvstore: watch ID already in use")
)
