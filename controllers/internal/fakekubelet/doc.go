// Package fakekubelet is a stand-in for node agents in controller tests:
// it marks every new pod Running and Ready shortly after it appears, and
// finishes the deletion of pods that get a deletionTimestamp. Tests of
// ReplicaSets and Deployments need pods to become ready, and there is no
// kubelet in a testcluster.
//
// It is test scaffolding, not a model of a kubelet: no containers, no
// probes, no node. Readiness never flaps back to false.
package fakekubelet
