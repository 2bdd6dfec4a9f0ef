// Package controllers holds what every Kelson control loop shares: the
// Context a controller is built from (an API client, one shared informer
// factory, an event recorder, a logger), leader election through a
// coordination.k8s.io Lease, and RunWorkers, the loop that drains a
// workqueue into a sync function.
//
// Controllers talk to the API only — client-go informers to read, the
// clientset to write — never to the store. Each one lives in its own
// package (controllers/replicaset, controllers/deployment, ...) and has the
// same shape:
//
//	c := replicaset.New(cctx)      // registers informer handlers; no IO
//	cctx.Informers.Start(ctx.Done())
//	c.Run(ctx, workers)           // waits for caches, then syncs keys until ctx ends
//
// A sync decides from the informers' snapshot with a pure function (how
// many pods to create, which to delete) and does the IO around it: API
// writes and Events with Kubernetes' reasons. The manager package
// (controllers/manager) wires every controller and runs them while its
// server holds the kube-controller-manager Lease.
package controllers
