// Package disruption keeps the status of PodDisruptionBudgets, as
// kube-controller-manager's "disruption" controller does, so that the
// API server's eviction subresource (apiserver/eviction.go) can decide
// evictions from the budget alone.
//
// Model. A budget selects pods of its namespace (a null selector none, an
// empty one all). Expect says how many it expects and how many must stay
// healthy; Status turns the selected pods and that expectation into
// status; both are pure and table-tested. The loop around them (Controller)
// reads informers, records Events (NoPods, UnmanagedPods,
// CalculateExpectedPodCountFailed) and writes status when it changed.
//
//	minAvailable: 2      expected = #selected pods, desiredHealthy = 2
//	minAvailable: 50%    expected = Σ replicas of the pods' controllers,
//	                     desiredHealthy = ceil(50% × expected)
//	maxUnavailable: 1    expected = Σ replicas, desiredHealthy = expected − 1
//	maxUnavailable: 25%  expected = Σ replicas, desiredHealthy = expected − ceil(25% × expected)
//
// A controller's replicas come from the informers for ReplicaSets (their
// Deployment's when they have one), Deployments and StatefulSets, and
// from the scale subresource (found through discovery) for other kinds. A pod whose controller cannot be found
// makes the budget fail safe: no disruptions allowed and a SyncFailed
// condition.
//
// Invariants.
//   - currentHealthy counts selected pods that are Ready, not being
//     deleted, and not in disruptedPods.
//   - disruptionsAllowed = max(0, currentHealthy − desiredHealthy), and 0
//     when no pods are expected.
//   - disruptedPods holds the evictions the API server recorded, until the
//     pod is being deleted or is gone, or DeletionTimeout (2 min) passed:
//     then the eviction is taken to have failed and the pod counts again.
//     The controller looks again when the earliest entry expires.
//   - The DisruptionAllowed condition is True/SufficientPods when
//     disruptionsAllowed > 0, False/InsufficientPods otherwise,
//     False/SyncFailed when the expectation could not be computed.
//   - observedGeneration is the budget's generation; until it is, the
//     eviction subresource answers 429 ("still being processed").
//
// Example: a Deployment of 3 replicas, all Ready, and a budget
// maxUnavailable: 1 → expectedPods 3, desiredHealthy 2, currentHealthy 3,
// disruptionsAllowed 1. kubectl drain evicts one pod: the API server
// records it in disruptedPods and sets disruptionsAllowed 0; a second
// eviction gets 429 until the replacement pod is Ready and the controller
// recounts (currentHealthy 3 again → 1 allowed).
package disruption
