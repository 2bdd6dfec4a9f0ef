package storage

import (
	"context"
	"errors"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Store is what the API server needs of a key-value store. Implementations
// are safe for concurrent use.
type Store interface {
	// Range reads keys; linearizable unless req.Serializable. A read at a
	// compacted revision fails with an error wrapping ErrCompacted.
	Range(ctx context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error)
	// Txn runs a transaction (compare, then success or failure ops).
	Txn(ctx context.Context, req *pb.TxnRequest) (*pb.TxnResponse, error)
	// Compact discards history before rev.
	Compact(ctx context.Context, rev int64) error
	// Watch starts a watch of [key, end) (etcd's range_end meaning) from
	// rev (0: only changes after now). The watch ends when ctx is done,
	// Close is called, or the store ends it (last response has Err set).
	Watch(ctx context.Context, key, end []byte, rev int64) Watch
	// Close releases the store's resources (not a Member's member).
	Close() error
}

// Watch is one running watch.
type Watch interface {
	// Chan delivers responses; it is closed after the last one.
	Chan() <-chan WatchResponse
	// RequestProgress asks for a progress response: one with no events
	// whose Revision says the watch is complete through that revision.
	RequestProgress()
	// Close ends the watch; Chan is closed soon after.
	Close()
}

// WatchResponse is one message of a Watch.
type WatchResponse struct {
	// Events of one or more whole revisions, in order. Read-only.
	Events []*mvccpb.Event
	// Revision: no event of a revision <= Revision comes after this.
	Revision int64
	// CompactRevision is set with Err = ErrCompacted.
	CompactRevision int64
	// Err ends the watch: this is the last response.
	Err error
}

// Errors.
var (
	// ErrCompacted: the requested revision's history was compacted.
	ErrCompacted = errors.New("storage: required revision has been compacted")
	// ErrWatchEnded: the store ended the watch for another reason.
	ErrWatchEnded = errors.New("storage: watch ended by the store")
)

// PrefixEnd returns the range end that makes [key, end) every key starting
// with key.
func PrefixEnd(key []byte) []byte {
	end := append([]byte(nil), key...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}

// progressChecker is implemented by stores that can say whether their
// progress reports can be trusted.
type progressChecker interface {
	ProgressConsistent(ctx context.Context) bool
}

// ProgressConsistent reports whether st's watch progress reports are
// exact: a progress response with revision R comes only after every event
// of revisions <= R. A cache may then serve consistent reads by waiting
// for progress. Stores that cannot tell are assumed not to.
func ProgressConsistent(ctx context.Context, st Store) bool {
	if pc, ok := st.(progressChecker); ok {
		return pc.ProgressConsistent(ctx)
	}
	return false
}
