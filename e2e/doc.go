// Package e2e tests the kelson binary end to end: real `kelson store`
// processes on loopback ports, driven by real clients — go.etcd.io/etcd/client/v3
// and the etcdctl binary (etcd v3.4 or newer, which `make test` installs).
//
// The package holds only tests. TestMain builds the binary once into a
// temporary directory; each test starts its own members (free loopback ports,
// data directories under t.TempDir()), logs each member's stderr to a file and
// prints the tail of every log when the test fails. Members are killed when
// the test ends, failed or not.
//
// What is covered:
//
//   - failover_test.go: SIGKILL the leader of three members during concurrent
//     writes; a new leader is elected, writes continue, the killed member is
//     restarted with the same command line, catches up through a streamed
//     snapshot (it missed more entries than the leader keeps in its log), and
//     then every member holds every acknowledged write (its revision, key and
//     value in the history; its value or a later attempted one as the current
//     value) and all members agree on HashKV at a common revision. The same
//     for a single member killed during synced writes and restarted.
//   - etcdctl_test.go: the etcdctl command line against three members: put,
//     get (--prefix, --rev, -w json), del, txn, watch, leases, compaction,
//     member list, endpoint status/health, defrag, snapshot save, lock,
//     elect, move-leader, and endpoint health with a member down.
//   - lease_test.go: a lease granted through a follower is known to the
//     leader at once (keep-alive, time-to-live), as etcdctl lock/elect need.
//   - auth_test.go: etcd's auth with etcdctl on three members — users,
//     roles, prefix/from-key/single-key permissions, auth enable through one
//     member holding on all, permission denied outside a granted prefix,
//     wrong passwords, passwd, revocations, and all of it across a restart
//     of every member; a simple token refused after --auth-token-ttl over
//     the JSON gateway.
//   - membership_test.go: a member that catches up through a snapshot ends
//     with the same member list (names, client URLs) as the others.
//
// Liveness waits have generous deadlines; no assertion depends on how fast
// anything happens. Randomness (the writers' key choice) is seeded with
// -e2e.seed, printed when a test fails.
//
// Run one test with its member logs streamed live:
//
//	go test ./e2e -run TestKillLeaderDuringWrites -v -e2e.verbose
package e2e
