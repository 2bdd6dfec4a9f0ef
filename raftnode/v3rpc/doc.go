// Package v3rpc serves etcd's v3 gRPC API (etcdserverpb: KV, Watch, Lease,
// Cluster, Maintenance, plus the standard gRPC health service) on top of a
// Backend, so that etcdctl and go.etcd.io/etcd/client/v3 work against a
// Kelson member unmodified.
//
// # Model
//
// The services are a thin, stateless translation layer:
//
//	client --gRPC--> service: check request --> Backend --> response + header
//	                 (etcd's own checks)         (raftnode)
//
// In detail:
//
//   - Requests are checked here where etcd's own gRPC layer checks them
//     (empty keys, sort options, too many txn operations, request size,
//     lease TTL, member URLs), so the same mistakes get the same errors.
//   - Every response header carries cluster_id, member_id and raft_term from
//     Backend.Header() and the revision the backend reported (or its
//     current revision when the backend gives none).
//   - Backend errors become etcd's gRPC errors (rpctypes), which clients
//     match by their exact message: kvstore sentinels are mapped with
//     errors.Is, errors carrying a gRPC status (raftnode's) pass through
//     unchanged even when wrapped, context errors become etcd's canceled
//     and deadline errors, anything else is codes.Unknown.
//
// # Auth
//
// With a Backend that also implements AuthBackend (raftnode's Node), the
// Auth service is served and every call is checked as etcd checks it
// (raftnode/auth holds the rules and errors). Who calls is resolved once
// per call (caller, authz.go): the token in the "token" metadata (or
// "authorization", which the JSON gateway fills from the HTTP header);
// without one, with Options.ClientCertAuth, the CN of the client's verified
// certificate (ClientCertCommonName, the hook for --client-cert-auth);
// otherwise nobody. Then, per service:
//
//	KV        Range, read-only Txn: read permission, checked here; Put,
//	          DeleteRange, Txn that write: checked here to fail fast and
//	          again where every member applies them (the identity and auth
//	          revision travel in the proposal); Compact: a caller
//	Watch     read permission on the range when a watcher is created
//	Lease     Grant, Revoke, TimeToLive, Leases, KeepAlive: a caller;
//	          Revoke and KeepAlive also write permission on the lease's
//	          keys, TimeToLive with keys and Leases read permission (root
//	          passes)
//	Cluster   MemberList: a caller; Add, Remove, Update, Promote: root
//	Maint.    Status, Alarm GET: a caller; Defragment, Hash, HashKV,
//	          Snapshot, MoveLeader, Downgrade, Alarm changes: root
//	Auth      replicated; admin rights decided where applied; passwords
//	          are hashed (bcrypt) and checked here, never proposed
//
// The peer port serves the same services without ClientCertAuth (a peer's
// certificate names a member, not a user); members forward a caller's
// token with the requests they pass to the leader.
//
// # Watch
//
// One Watch RPC is one kvstore.WatchStream carrying any number of
// watchers. A receive goroutine turns create, cancel and progress requests
// into Watch, Cancel and RequestProgress calls; the handler's goroutine is
// the only sender, translating the store's responses. Specifics, as etcd:
//
//   - a create the store refuses is answered with one response that is both
//     created and canceled, watch_id -1, and the reason;
//   - a progress request is answered with watch_id -1 (clientv3 hands it to
//     every watcher of the stream);
//   - a watcher whose history was compacted gets a canceled response with
//     compact_revision set (clientv3: ErrCompacted);
//   - with fragment set, a response over MaxRequestBytes is split between
//     events into messages with fragment=true on all but the last;
//   - when the client goes away or a send fails, the store stream is closed.
//
// # Snapshot
//
// The Maintenance.Snapshot stream is the store's own snapshot format,
// zero-padded to a multiple of 512 bytes, then the sha256 of all that
// (32 bytes) in the last message: that is the shape etcdctl snapshot save
// checks for. kvstore.Restore reads such a file directly (it ignores what
// follows its own end marker). Defragment is a successful no-op: Pebble
// reclaims space on its own.
//
// # Example
//
//	opts := v3rpc.Options{MaxRequestBytes: cfg.MaxRequestBytes, Logger: log}
//	srv := grpc.NewServer(v3rpc.ServerOptions(opts)...)
//	v3rpc.Register(srv, node, opts) // node implements Backend
//	go srv.Serve(lis)
//	defer srv.GracefulStop()
//
// The services are also a value (NewServices, Services) for in-process
// callers: raftnode/v3http's JSON gateway calls them directly, and both
// servers of a member register the same Services (RegisterServices).
// Options.Metrics counts calls per method and code (RPCMetrics), exported
// at the edge as grpc_server_started_total and grpc_server_handled_total.
//
// Nothing a client sends may panic the server; the recovery interceptors
// installed by ServerOptions turn a panic that slipped through into
// codes.Internal and log it.
package v3rpc
