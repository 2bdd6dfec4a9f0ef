// Package storage is the API server's view of its key-value store: the few
// etcd v3 operations it needs (range, txn, watch with progress, compact),
// declared here by their consumer, with two implementations:
//
//   - Member: a Kelson store member in the same process (raftnode.Node),
//     called directly, with no gRPC in between.
//   - Remote: any etcd v3 endpoints (real etcd, or remote Kelson members)
//     through go.etcd.io/etcd/client/v3.
//
// Requests and responses are etcd's wire types (etcdserverpb, mvccpb), so a
// caller builds the same RangeRequest or TxnRequest whichever store it runs
// on. Ranges are linearizable unless the request says Serializable.
//
// A Watch delivers every event of a key range from a revision on, in
// revision order, each revision whole; it reports progress (the revision
// through which it is complete) when asked with RequestProgress, and ends
// with a final response carrying Err — ErrCompacted, with CompactRevision,
// when the start revision's history is gone.
package storage
