// Package garbagecollector is Kubernetes' garbage collector for Kelson:
// it deletes objects whose owners (metadata.ownerReferences) are gone, and
// carries out the foreground and orphan deletions the API server starts.
//
// # Contract with the API server
//
// A DELETE names a propagation policy (apiserver/delete.go):
//
//   - Background (or none): the owner is deleted at once; the collector
//     then deletes the dependents whose every owner is gone.
//   - Foreground: the API server sets deletionTimestamp and adds the
//     foregroundDeletion finalizer; the collector deletes the dependents
//     and removes the finalizer once no dependent with blockOwnerDeletion
//     remains, and the API server deletes the owner.
//   - Orphan (or the legacy orphanDependents=true): the API server adds the
//     orphan finalizer; the collector removes the owner's reference from
//     every dependent, then the finalizer.
//
// # Model
//
//	discovery ──► monitors (metadata-only informers, one per resource that
//	   ▲           supports list, watch and delete; Events excepted)
//	   │                │ add / update / delete
//	 CRD events         ▼
//	 every 30 s      Graph (pure: uid → node{object, dependents}; Upsert and
//	                    │    Remove return Effects)
//	                    ▼
//	   attempt-to-delete queue          attempt-to-orphan queue
//	                    │                        │
//	                    ▼                        ▼
//	   collector: decide (decide.go, pure) ──► API (narrow: Get, Delete,
//	              from the graph, the           Patch — the metadata client)
//	              absent-owner cache and,
//	              where needed, a live GET
//
// The graph holds a node per observed object and a virtual node per UID
// that references name but that is not observed. A change queues work:
// the dependents of an owner deleted (delete) or entering foreground
// deletion (delete, and the owner itself), an owner whose blocking
// dependent went (delete), a dependent naming an owner the graph has not
// observed or that does not match the reference (verify: delete after
// VerifyDelay, time for the owner's own event to arrive), an owner
// entering orphan deletion (orphan).
//
// For a dependent, each ownerReference resolves to solid, dangling,
// waiting (owner in foreground deletion) or invalid, and decideDependent
// picks the action, as Kubernetes does: keep it while a solid owner
// remains (dropping references to owners gone or waiting for it); delete
// it (Background, or Foreground when a waiting owner needs it gone and it
// has dependents of its own; an orphan or foregroundDeletion finalizer it
// already carries is honoured) when none does.
//
// # Invariants
//
//   - Absence is never taken from the cache: an owner the graph has not
//     observed is looked up in the API (not found, or its name held by
//     another UID, is absent), and the answer cached by UID (UIDs are
//     never reused). What the graph says exists is trusted: it can only
//     delay a deletion, and the owner's delete event queues its dependents
//     again. So the dependents of live owners cost no API call, and the
//     hundreds of dependents of a deleted owner cost one GET between them
//     (concurrent lookups are shared).
//   - Every write is conditional. Deletes carry the dependent's UID and the
//     resourceVersion the decision was made from; patches are JSON patches
//     that test the UID and the exact entries they remove. A write refused
//     because the object changed is decided again from a fresh read.
//   - References across namespaces: a namespaced owner is looked up only in
//     its dependent's namespace (elsewhere it is absent, and
//     OwnerRefInvalidNamespace is reported when the graph knows it lives in
//     another namespace); a cluster-scoped dependent naming a namespaced
//     kind is reported and left alone, and does not block its owner.
//   - Decisions wait for the graph: workers start once every monitor has
//     listed, and pause while monitors of newly served resources list.
//
// # Example
//
// A Deployment d owns ReplicaSet rs (blockOwnerDeletion) which owns pods
// p1, p2. `kubectl delete deployment d --cascade=foreground`:
//
//	API server: d gets deletionTimestamp + foregroundDeletion
//	graph:      d deletingDependents → queue rs, d
//	rs:         owner d waiting, rs has dependents → DELETE rs Foreground
//	d:          rs blocks → wait
//	graph:      rs deletingDependents → queue p1, p2, rs
//	p1, p2:     owner rs waiting, no dependents → DELETE Background
//	graph:      p1, p2 gone → queue rs; rs unblocked → remove its finalizer
//	graph:      rs gone → queue d; d unblocked → remove its finalizer: d goes
//
// No owner was looked up in the API: the graph had observed every one.
// testdata/sim holds such scripts, run against an in-memory API server.
package garbagecollector
