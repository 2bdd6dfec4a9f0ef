// Package auth is etcd's authentication and role-based access control for
// a Kelson member: users with bcrypt-hashed passwords, roles holding key
// permissions, the root user and role, simple and JWT tokens, and the
// checks every etcd v3 call goes through, with etcd's semantics and errors.
//
// # Model
//
// State (state.go) is the replicated part: enabled or not, the auth
// revision, users and roles. It is immutable; Apply (apply.go) is a pure
// function from a State, the caller's identity and one auth request to the
// next State, the response, and the records to persist. raftnode proposes
// every auth request through raft and each member applies it at the same
// log position, so all members hold the same State. The records live in
// the store's auxiliary table (encoding.go; kvstore.ApplyAux) and are
// committed with the applied index: they survive restarts and travel with
// snapshots, streamed to followers or saved with etcdctl and restored by
// `kelson snapshot restore`.
//
// Tokens are per member (store.go): simple tokens (simple.go) are recorded
// by every member when it applies the Authenticate entry and live in memory
// for --auth-token-ttl since last use; JWT tokens (jwt.go) are signed and
// self-contained.
//
// # Permissions (perm.go)
//
// A user's permissions are the union over its roles; each permission is a
// key interval (one key, [key, end), or [key, ∞) for end "\x00"). A request
// on a range is allowed when its whole range lies inside the union of the
// intervals of the right type (READWRITE counts as both). The union is kept
// merged, so that is one binary search:
//
//	role a: READ [foo, fop)   role b: READ [fop, fz)   => read [foo, fz)
//	get foo --prefix  = [foo, fop)  inside           -> allowed
//	get fo  --prefix  = [fo, fp)    starts before foo -> permission denied
//
// # Checks (check.go)
//
// Who a call comes from is an Info: a user and the auth revision its
// credentials were checked at. Reads are checked where they are served;
// writes (put, delete, txn, lease revoke) where they are applied, with the
// identity the proposal's header carries, so every member decides alike
// even when permissions change in between. A request checked at an auth
// revision older than the member's fails with ErrAuthOldRevision; clients
// then authenticate again. Auth management needs the root role, except
// AuthStatus, Authenticate, and getting one's own user or roles.
//
// # Invariants
//
//   - Passwords never enter the raft log: the proposing member hashes them
//     (bcrypt, --bcrypt-cost) and checks them before proposing Authenticate.
//   - Auth can be enabled only while the root user exists and holds the
//     root role; root cannot be deleted nor lose the root role while on.
//   - Nothing a client sends makes a check panic; a malformed token is
//     ErrInvalidAuthToken.
//
// # Example
//
//	s, _ := auth.New(auth.Options{Token: "simple"})
//	_ = s.Load(store) // a *kvstore.Store
//	res, err := s.Apply(index, &pb.InternalRaftRequest{Header: hdr, AuthUserAdd: req}, persist)
//	ai, err := s.InfoFromToken(ctx, token)
//	err = s.State().CheckRange(ai, []byte("foo"), []byte("fop"))
package auth
