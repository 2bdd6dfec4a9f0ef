// Package manager runs Kelson's controllers and scheduler the way
// kube-controller-manager and kube-scheduler run: each under its own
// coordination.k8s.io Lease in kube-system ("kube-controller-manager",
// "kube-scheduler"), so with three servers each runs on exactly one of
// them at a time. A term builds a fresh controllers.Context (informers,
// event recorder), constructs every enabled controller, starts the
// informers and runs the controllers until the lease is lost or the
// context ends.
//
// The list of controllers is the registry in registry.go; --disable
// names entries there ("scheduler", "controller-manager" for all
// controllers, or one controller's name).
package manager
