// Package nodeipam gives every Node a pod CIDR out of the cluster CIDR
// (kube-controller-manager's "nodeipam" controller with its range
// allocator): a Node without spec.podCIDR gets the next free node-sized
// subnet (a /24 of 10.42.0.0/16 by default) in spec.podCIDR and
// spec.podCIDRs, and the node agent builds its pod network from it.
//
// Model. The allocations live in the Node objects, nowhere else. A
// CIDRSet (cidrset.go, pure) is a bitmap over the cluster CIDR's
// subnets; Run rebuilds it from every Node — the informer's cache plus a
// consistent list from the API — before assigning anything, so a
// restarted controller or a new leader continues where the old one
// stopped. The sync loop (controller.go) allocates for a Node without a
// CIDR and writes it with an update conditioned on the cached
// resourceVersion; the API server refuses to change a pod CIDR once set,
// so a node never ends up with two.
//
// Invariants:
//   - a CIDR is handed to at most one node: it is taken in the set
//     before the write and released only when its node is deleted (or
//     when the node turns out to hold another one);
//   - an ambiguous write failure keeps the CIDR reserved for that node
//     and the retry offers the same one, so a failure neither leaks nor
//     double-assigns;
//   - when every subnet is taken, the node gets an Event
//     CIDRNotAvailable ("Node n1 status is now: CIDRNotAvailable") and
//     waits; deleting a node re-queues the waiting ones.
//
// Example: cluster 10.42.0.0/22 with /24 nodes has four CIDRs. Nodes
// a, b, c, d get 10.42.0.0/24 .. 10.42.3.0/24; node e gets
// CIDRNotAvailable; deleting b frees 10.42.1.0/24 and e gets it.
//
// Limits: one cluster CIDR (one address family); the Service CIDR is not
// excluded (`kelson server` refuses overlapping ranges at its flags).
package nodeipam
