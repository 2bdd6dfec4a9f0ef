// Package rootcacert publishes the cluster CA's certificate in every
// namespace as ConfigMap kube-root-ca.crt (key ca.crt) —
// kube-controller-manager's "root-ca-cert-publisher". Pods read it
// through their projected service account volume to verify the API
// server (kubernetes.default.svc).
//
// # Model
//
// A namespace's key is synced when the namespace appears or changes, and
// when its kube-root-ca.crt changes or is deleted. The decision (Decide)
// is a pure function of the namespace, the ConfigMap the cache holds (or
// none) and the CA PEM:
//
//	namespace terminating (deletionTimestamp, or phase Terminating)  -> nothing
//	no ConfigMap                                                    -> create it
//	data other than exactly {ca.crt: PEM}, binaryData, or the
//	kubernetes.io/description annotation missing or different      -> update it
//	otherwise                                                       -> nothing
//
// The sync does what Decide says. The controller watches only ConfigMaps
// named kube-root-ca.crt (a field selector), not every ConfigMap.
//
// # Invariants
//
//   - The published data is exactly ca.crt = the PEM given (Config of the
//     manager: manager.Config.RootCA); other keys are removed, other
//     annotations and labels kept, the description annotation is
//     Kubernetes' text.
//   - A terminating namespace gets nothing (the API refuses new content
//     there); AlreadyExists on create (a stale cache) is success: the
//     watch brings the object and the next sync checks it.
//
// # Example
//
//	c := rootcacert.New(cctx, caPEM) // nil when caPEM is empty: nothing to publish
//	cctx.Start(ctx)
//	go c.Run(ctx)
//	// kubectl -n team-a get configmap kube-root-ca.crt -o jsonpath='{.data.ca\.crt}'  -> the PEM
package rootcacert
