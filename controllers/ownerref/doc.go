// Package ownerref decides which objects a controller owns: the
// controller-reference bookkeeping that ReplicaSets do for pods and
// Deployments do for ReplicaSets.
//
// Model. An object is controlled by at most one owner: the entry of its
// metadata.ownerReferences with controller=true. A controller with a label
// selector claims objects:
//
//   - controlled by it (same UID) and matching its selector: owned;
//   - controlled by it but no longer matching: released (its controller
//     reference is removed, so another controller may adopt it);
//   - controlled by nobody, matching, not being deleted, while the owner is
//     not being deleted: adopted (a controller reference is added);
//   - controlled by another owner: ignored, whatever the labels say.
//
// Classify is the pure decision; AdoptPatch and ReleasePatch are the
// strategic merge patches that carry it out. A controller patches the
// adoptions, and counts an adopted object as owned only once its patch
// has succeeded.
//
// Example:
//
//	c := ownerref.Classify(rs, selector, pods)
//	for _, p := range c.Adopt { client.Patch(..., ownerref.AdoptPatch(ref, p.GetUID())) }
//	for _, p := range c.Release { client.Patch(..., ownerref.ReleasePatch(rs.UID, p.GetUID())) }
//	active := c.Owned // plus the adopted ones whose patch succeeded
package ownerref
