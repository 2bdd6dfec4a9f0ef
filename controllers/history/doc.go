// Package history keeps the ControllerRevisions of a workload that rolls
// out pod templates (DaemonSet, StatefulSet): one revision per template the
// owner has run, so `kubectl rollout history` lists them and `kubectl
// rollout undo` can put one back.
//
// Model. A revision is named <owner>-<hash> and is controlled by its
// owner. Its data is a strategic merge patch that replaces
// spec.template with the template it records (what `kubectl rollout undo`
// applies); its revision number orders them; it carries the owner's
// template labels plus the hash under a label the owner chooses (DaemonSet:
// controller-revision-hash, StatefulSet: controller.kubernetes.io/hash).
// The hash is Kelson's own: FNV-32a of the template's JSON and the
// collision count, in the API's safe alphabet.
//
// Invariants:
//   - Sync leaves exactly one revision holding the owner's template, and it
//     has the highest number: going back to an older template renumbers
//     that revision rather than making a copy.
//   - A name taken by another template or owner is a hash collision: Sync
//     raises the owner's status.collisionCount (which changes the hash) and
//     fails with ErrCollision, so the next sync tries the new name.
//   - Prunable never offers a revision the caller keeps (current, update,
//     or run by a pod); of the others it offers the oldest beyond the limit.
//
// Everything but Sync is pure. Example:
//
//	revs, cur, err := history.Sync(ctx, lister, api, history.Owner{
//		Object: ds, Kind: kind, Template: &ds.Spec.Template,
//		CollisionCount: ds.Status.CollisionCount, HashLabel: label,
//	}, raiseCollisionCount)
//	...
//	for _, cr := range history.Prunable(revs, keep, limit) { delete cr }
package history
