// Package raftnode replicates kvstore with go.etcd.io/raft/v3 and serves it
// over etcd's v3 gRPC API: a Kelson member, as `kelson store` runs it.
//
// # Pieces
//
//	raftnode/raftlog      the raft log, hard state and snapshot metadata in Pebble
//	raftnode/transport    gRPC streams between members: raft messages, snapshots
//	raftnode/v3rpc        etcd's KV, Watch, Lease, Cluster, Maintenance services
//	raftnode/v3http       etcd's HTTP endpoints: health, version, JSON gateway
//	raftnode/portmux      gRPC and HTTP/1 on one client port (sniffs the preface)
//	raftnode/autocompact  --auto-compaction-* decisions (pure)
//	raftnode/tlsinfo      --cert-file, --peer-*, --auto-tls: tls.Configs, self-signed certificates
//	raftnode (this)       the node: raft loop, apply, reads, leases, membership
//
// # The client port (run.go)
//
// Each client URL serves, on one port, gRPC (the v3rpc services) and HTTP/1
// (v3http: /health, /livez, /readyz, /version, /metrics, and the JSON
// gateway under /v3/, which calls the same v3rpc.Services in process).
// portmux hands a connection opening with the HTTP/2 preface to gRPC and
// any other to net/http. ListenMetricsURLs serve /metrics and health only.
//
// # TLS (tls.go)
//
// An https:// URL is served over TLS, as etcd: client URLs (and https://
// metrics URLs) with ClientTLS, peer URLs with PeerTLS. On a client port
// portmux completes the handshake and then sniffs the decrypted bytes, so
// gRPC and HTTP still share the port; ALPN prefers http/1.1 so HTTP
// clients never reach the gRPC server (raftnode/tlsinfo). The gRPC servers
// use tlsinfo.ServerCredentials: RPC contexts carry the client's
// certificate (credentials.TLSInfo) as with grpc's own TLS credentials.
// A member dials a peer with TLS when the peer's URL is https:// (the
// transport, the forwarding of leader-only requests, and the membership
// request of a joining member), presenting PeerTLS's certificate and
// verifying the peer's against --peer-trusted-ca-file. validateTLS checks
// the flags against the URLs with etcd's messages; setupTLS reads the
// files (and makes the --auto-tls certificates) at Start.
//
// # Metrics (metrics.go, prometheus.go)
//
// The node records into plain instruments of its own (atomic counters and
// internal/histogram); Metrics() returns them with the store's, the raft
// log's, the transport's and the client gRPC server's as one value.
// prometheus.go is the edge: a registry per member whose collector reads
// Metrics() at scrape time and names it as etcd does
// (etcd_server_has_leader, etcd_mvcc_put_total, grpc_server_handled_total,
// ...). Nothing is registered globally, so members in one process (tests)
// do not mix.
//
// # Auto-compaction (autocompact.go)
//
// With --auto-compaction-retention set, a loop asks an autocompact.Compactor
// every interval; on the leader it compacts through raft and logs it.
//
// # The raft loop (node.go)
//
// One goroutine owns the RawNode. Everything else reaches it through
// closures queued on loopc. For each Ready, in order: the leader sends its
// messages (replication overlaps its own disk write); the entries, hard
// state and snapshot are saved in ONE synced batch (group commit: one fsync
// per Ready, however many requests it carries); a follower sends its
// messages only now, since they acknowledge the write; committed entries are
// applied to the store in unsynced batches that record the applied index
// (apply.go); read states are handed to waiting reads; Advance.
//
// # Writes and reads
//
// A write is proposed with a request ID and answered when this member
// applies the entry with that ID (propose.go, wait.go). The quota is checked
// at proposal, so every replica applies every entry alike. Linearizable
// reads share ReadIndex rounds: all reads that arrive while a round is in
// flight ride the next one (readindex.go); serializable reads are served
// from the local store at once.
//
// # Restart and snapshots
//
// Every SnapshotCount entries the node records a raft snapshot holding the
// membership only, after syncing the store, and compacts the log behind it
// (keeping catch-up entries). On restart raft replays the entries after the
// snapshot; the store skips those it already has (kvstore.Apply is
// idempotent by index) while conf changes are re-applied. A follower behind
// the compacted log receives the leader's whole store as a stream
// (kvstore.Snapshot -> transport -> kvstore.Restore into a staging
// directory), swapped in when raft accepts the snapshot. The leader does not
// send the recorded snapshot but one made at that moment (applied index,
// ConfState and membership), so a member added since the last recorded
// snapshot finds itself in it and can install it (sendSnapshot).
//
// A backup (etcdctl snapshot save) becomes a member of a new cluster with
// RestoreSnapshot (restore.go): the store is restored from the file and the
// raft log starts behind a raft snapshot holding the new membership, so the
// first boot is a restart.
//
// # Leases
//
// The leader's lessor (lessor.go) keeps deadlines by its clock and proposes
// revokes when they pass; remaining TTLs are checkpointed through raft so a
// new leader resumes leases instead of restarting them. Followers forward
// keep-alives to the leader.
//
// # Auth (authbackend.go)
//
// etcd's users, roles and tokens (raftnode/auth). Every Auth service call
// is a proposal; each member applies it between runs of key-value entries
// (apply.go), so all hold the same auth state at the same log position,
// and persists it in the store's auxiliary records with the applied index:
// it survives restarts and travels with snapshots (to followers, and
// through `etcdctl snapshot save` / `kelson snapshot restore`). Writes
// carry their caller's identity and auth revision in the entry header and
// are checked where applied, so a permission revoked between proposal and
// apply is honoured on every member. Requests the member makes itself (a
// lease expiring) carry auth.Internal.
//
// # Membership
//
// Members are added, promoted, updated and removed with raft conf changes
// whose context carries the member; names and client URLs are published
// by each member once it runs. IDs derive from peer URLs and the cluster
// token. A member started with --initial-cluster-state existing asks a
// running member (peer port, kelson.raft.Membership/Get) for its IDs and
// peers. Every replica applies each conf change against the membership the
// log before it built — never a newer list it was told of — so all reach the
// same raft configuration (membership.go).
//
// # Errors
//
// Sentinels (ErrNoLeader, ErrTimeout, ...) carry the etcd gRPC status of the
// same meaning, so etcd clients react to them as they do to etcd.
package raftnode
