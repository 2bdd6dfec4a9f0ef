// Package chaos is Kelson's robustness suite: three real `kelson store`
// processes on loopback, a client workload over all of them, faults
// injected on a seeded schedule, every client operation recorded, and the
// history checked afterwards.
//
// # The harness
//
//	          clients (clientv3: KV, txn, watch, lease, compaction)
//	            │ client ports (direct)
//	  ┌─────────┼──────────────┬──────────────────┐
//	  ▼         ▼              ▼                  │
//	member a  member b      member c        (SIGKILL, SIGSTOP/SIGCONT,
//	  ▲  ╲      ▲  ╲           ▲  ╲          slow or failing disk)
//	  │   dials │   dials      │   dials
//	proxy a ◀───┴── proxy b ◀──┴── proxy c ◀── every member reaches a peer
//	  (advertised peer URL; forwards to the real --listen-peer-urls)
//
// Each member advertises its proxy as its peer URL, so every raft message
// from A to B crosses B's proxy on a connection A dialled. The proxy learns
// which member dialled from the kernel (the process owning the other end of
// the socket, /proc on Linux), so a Network can block or delay any directed
// link: partition a member (both directions), drop one direction, add
// latency (proxy.go). The binary is built with -tags chaos, which adds a
// fault-injecting filesystem under the store and the raft log
// (cmd/kelson/faultfs_chaos.go, switched on by KELSON_CHAOS_DISK); a
// control file lets the harness slow a running member's disk.
//
// # Faults (faults.go)
//
// One at a time, drawn from a shuffled deck by weight, each followed by
// healing (network healed, members continued, disks fast, dead members
// restarted) and a wait for an agreed leader: SIGKILL of a member (the
// leader more often) and restart; SIGKILL of all; isolation of a member;
// one-way loss (one link, or everything out of or into a member); latency;
// SIGSTOP/SIGCONT; a slow disk; a restart on a disk whose writes and syncs
// fail now and then (the member is expected to stop; it is then restarted
// on a healthy disk); a lease with a short TTL whose leader is killed;
// removal of a follower and its return as a new member with an empty data
// directory, under load; a leadership transfer (often to a member with a
// slow disk); and, in long runs, a follower kept down until it can only
// catch up from a streamed snapshot (and sometimes killed during it).
//
// # What is recorded (workload.go, history.go)
//
// KV clients run get, put (with and without the previous value), a
// compare-and-swap txn, a delete txn that also writes a unique marker, and
// prefix reads (linearizable, serializable, at a past revision), each with
// call and return times. Written values are unique, so a write of unknown
// outcome can be traced in the history. A recorder watches the whole key
// space from revision 1 with previous values; compactions (now and then)
// never pass it. Watchers watch the KV prefix, are canceled now and then,
// lag, resume from the revision after their last event (or, after a
// compaction error, from the compaction revision), and ask for progress
// notifications. Lease users grant, attach a key, revoke, keep alive once
// or let expire, and read the key until it is gone.
//
// # Checks (check_*.go)
//
//   - The recorder's log is validated into the Reference: revisions
//     contiguous from 2, no duplicate, each revision in one response, every
//     event consistent with the state before it (version, create revision,
//     previous value).
//   - Linearizability: porcupine over the single-key operations against a
//     register per key; errors are unknown outcomes, resolved from the
//     reference (on a failure the check is repeated without that help).
//     On a violation the history (JSON) and porcupine's visualization (HTML)
//     are written to the work directory and their paths printed.
//   - Revisions respect real time; every acknowledged write is in the
//     history at its revision; every prefix read equals the reference at
//     its revision; a member's serializable reads do not go back in time.
//   - Every watcher's events are exactly the reference's under its prefix,
//     in order, with no gap or duplicate, each revision whole, progress
//     notifications ordered with events, compaction errors only for
//     compacted revisions and resumption from the compaction revision.
//   - HashKV of every member at a common revision agrees; every member's
//     whole key space equals the reference, and holds each key's last
//     acknowledged write or a later one.
//   - Leases: a key is never gone before its lease's TTL (from the grant or
//     the last keep-alive) unless revoked, and is eventually deleted.
//   - No member exits on its own (except on a failing disk), and no handler
//     panic is recovered.
//
// The checks are themselves tested on small histories with known defects
// (check_test.go).
//
// # Regression and bad-input tests
//
// regress_test.go: revision after a crash during compaction; watch from a
// future revision; a delete at the compacted revision; a txn read at a
// compacted revision; progress notifications ordered with events; no
// acknowledged write lost by a SIGKILLed single member; a watcher that
// cannot keep up while history is compacted past it; one revision of 20000
// events to plain, prevKV and fragmenting watchers; a member removed while
// cut off stops; a watch on a new member across its snapshot install; the
// first bootstrap member replaced, and a member added to an idle cluster
// whose log was compacted (known bugs, skipped in short runs); and, under
// make chaos only (they take 20s or more), a
// keep-alive acknowledged by a leader that then dies, reads right after a
// restart, and leases granted across a leadership transfer. fuzz_test.go: random bytes
// and hostile values on every etcd v3 method, deep txns, a 50 MiB range
// (whole, concurrent, limited, and streamed during writes).
//
// # Running
//
// `go test ./chaos/` (part of `make test`) is the short, seeded version,
// under three minutes on two cores (TestChaos: 40s of faults, each kind
// once). `make chaos SEED=7 DURATION=10m` runs
// longer (KELSON_CHAOS_SEED, KELSON_CHAOS_DURATION, KELSON_CHAOS_FAULTS
// such as "kill=3,partition=1", KELSON_CHAOS_KEEP=1 to keep the work
// directory). A failure prints the seed and keeps the work directory: the
// members' logs and the artifacts. A seed fixes the fault schedule and the
// clients' choices, not the interleaving of goroutines and processes.
//
// Example, rerunning a failed schedule:
//
//	make chaos SEED=1234 DURATION=2m RUN=TestChaos
package chaos
