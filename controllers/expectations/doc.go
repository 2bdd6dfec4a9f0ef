// Package expectations remembers the writes a controller has sent and its
// informer has not shown yet, so a sync never decides from a cache that
// misses the controller's own creations and deletions.
//
// Model. A sync decides from the informer's snapshot. Right after it
// creates n pods (or deletes some), the snapshot still shows the old
// world; a second sync deciding from it would create the same replicas
// twice, or delete a pod twice. So before each write the sync records it
// (ExpectCreations, ExpectDeletions), the informer's handlers tick it off
// when the pod shows up or goes (CreationsObserved, DeletionObserved), and
// a sync creates or deletes only while its key is Satisfied. A write that
// fails, or is skipped, is ticked off by the sync itself: the informer
// will never show it.
//
// Invariants:
//   - A key's record counts creations not yet seen (never below zero: an
//     extra observation, say of a pod someone else created, is not banked
//     against a later expectation) and the UIDs of deletions not yet seen.
//   - Satisfied is true when nothing is pending or the record is older than
//     the TTL (default DefaultTTL, kube-controller-manager's five minutes):
//     a lost watch event must not wedge an owner forever. A satisfied record
//     is dropped, so the next expectation starts from zero.
//   - Raising an expectation adds to the record and restarts its TTL.
//   - Time is an argument (now), never read from a clock here, so the
//     decisions are pure functions of the calls.
//
// InFlight is the per-object variant for one-shot writes that must not be
// re-sent while they are under way (the Job controller's removal of a
// pod's tracking finalizer): Start says whether to send, Done settles it.
//
// Example:
//
//	exp := expectations.New(0) // DefaultTTL
//	if exp.Satisfied(key, now) {
//		exp.ExpectCreations(key, n, now)
//		// create n pods; for each failure: exp.CreationsObserved(key, 1)
//	}
//	// pod informer, AddFunc: exp.CreationsObserved(ownerKey, 1)
//	// pod informer, DeleteFunc: exp.DeletionObserved(ownerKey, pod.UID)
//	// owner gone: exp.Forget(key)
//
// Both types are safe for concurrent use; their lock is never held across
// IO.
package expectations
