// Package ownerref decides which objects a controller owns: the
// controller-reference bookkeeping that ReplicaSets, DaemonSets and
// StatefulSets do for pods and Deployments do for ReplicaSets.
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
// Owners differ in two cases, which Rules name: whether an object being
// deleted that no longer matches stays owned (DaemonSets and StatefulSets
// keep it: the pod still holds its node or ordinal) and whether an owner
// being deleted still releases (they do; ReplicaSets and Deployments
// leave such objects in no list, so they go with the owner).
//
// Classify (zero Rules) and ClassifyWith are the pure decision; AdoptPatch
// and ReleasePatch are the strategic merge patches that carry it out, and
// Apply sends them. A controller patches the adoptions only after a fresh
// read shows the owner still exists and is not being deleted, and counts
// an adopted object as owned only once its patch has succeeded.
//
// Example:
//
//	c := ownerref.Classify(rs, selector, pods)
//	for _, p := range c.Adopt { client.Patch(..., ownerref.AdoptPatch(ref, p.GetUID())) }
//	for _, p := range c.Release { client.Patch(..., ownerref.ReleasePatch(rs.UID, p.GetUID())) }
//	active := c.Owned // plus the adopted ones whose patch succeeded
package ownerref
