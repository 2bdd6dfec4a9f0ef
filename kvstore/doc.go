// Package kvstore is Kelson's multi-version key-value store: etcd v3's data
// model (revisions, generations, leases, watches) on Pebble, as a library.
// raftnode replicates it and serves it over etcd's gRPC API; it knows nothing
// of the network.
//
// # Model
//
// Every write transaction that changes something gets the next main
// revision; each change inside it gets a sub revision. Every key carries its
// create revision, mod revision, version (puts since creation) and lease.
// Deletes write tombstones, so history stays readable at any revision until
// it is compacted. A fresh store is at revision 1, as etcd.
//
// Requests and responses are etcd's own wire types (etcdserverpb, mvccpb):
// the store answers a RangeRequest with the RangeResponse etcd would send,
// minus the header fields only a server knows.
//
// # Storage
//
// One Pebble DB holds the history, ordered by revision (key 'r' + main + sub
// -> the key's record), the leases, and meta records: current revision,
// compacted revision and the last applied raft index. In memory, a btree
// maps each user key to its generations of revisions (index.go has a worked
// example); Open rebuilds it by scanning the history.
//
// # Writes
//
// Apply(index, requests, sync) applies requests in order — each its own
// revision — and commits all of them with the raft index in one Pebble
// batch, synced or not as the caller asks. Applying an index at or below
// the applied index is a no-op, so replaying the raft log after a crash is
// safe. Put, DeleteRange and Txn are Apply with index 0 for direct use.
// Validate checks a request's shape without touching data.
//
// # Reads and compaction
//
// Range serves a read at any revision between the compacted and current
// ones (ErrCompacted and ErrFutureRev otherwise) with etcd's limit, sort,
// count and filter rules. Compact(rev) takes effect at once for reads; a
// background compactor reclaims space in steps of CompactionBatch keys, each
// holding the write lock only for its in-memory index work (never for its
// Pebble commit), and resumes after a crash. A compaction that deleted many
// revisions then has Pebble compact their key range, so their space is
// freed at once, with no defragmentation step (compact.go).
//
// # Watches
//
// NewWatchStream opens a stream carrying many watchers. Events of a revision
// are produced once and shared by every matching watcher; a watcher that
// starts in the past or falls behind catches up from history without
// holding up writers or other watchers (watch.go describes the design).
//
// # Leases
//
// Leases are data: grant, attach (on put), checkpoint and revoke are
// applied like writes, so replicas agree. When a lease expires is the
// caller's decision, by its own clock; the store only records it.
//
// # Concurrency
//
// Readers run in parallel with one writer. Lock order: applyMu (writers),
// then mu (index, leases, revisions), then the watch hub's locks. No lock is
// held across a Pebble commit.
//
// # Disk failures
//
// A failed commit makes the store refuse writes until reopened. An error
// Pebble itself cannot continue from (a failed WAL or MANIFEST write or
// sync) goes to Options.Fatal, which never returns: by default one error
// line and exit status 1 (internal/pebblelog).
//
// # Example
//
//	s, err := kvstore.Open(dir, kvstore.Options{})
//	if err != nil { ... }
//	defer s.Close()
//	s.Put(&pb.PutRequest{Key: []byte("a"), Value: []byte("1")})   // revision 2
//	r, _ := s.Range(&pb.RangeRequest{Key: []byte("a")})
//	fmt.Println(string(r.Kvs[0].Value), r.Header.Revision)         // 1 2
package kvstore
