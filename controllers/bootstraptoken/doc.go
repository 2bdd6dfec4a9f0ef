// Package bootstraptoken is kube-controller-manager's "tokencleaner": the
// controller that deletes bootstrap token Secrets whose expiration has
// passed. The token rules (format, Secret layout, authentication) are
// internal/bootstraptoken's; this package only decides when a Secret is
// due (Due, pure) and deletes it.
//
// Model: the cleaner watches Secrets of type bootstrap.kubernetes.io/token
// in kube-system. A Secret whose expiration has passed is deleted; one
// that expires later is looked at again then; one without an expiration,
// or that is no valid token Secret, is left alone.
//
// Invariants: the cleaner deletes with a UID precondition, so a Secret
// recreated under the same name is never deleted for its predecessor's
// expiration. Deleting is housekeeping, not security: an expired token
// is refused by bootstraptoken.Authenticate whether or not it is deleted.
//
// Example:
//
//	remove, wait := bootstraptoken.Due(secret, time.Now())
//	// remove: delete it; else wait > 0: look again after wait
//	c := bootstraptoken.NewCleaner(cctx) // cctx: *controllers.Context
//	go c.Run(ctx)
package bootstraptoken
