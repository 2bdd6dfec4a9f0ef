package admission

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// ResourceQuota refuses writes that would take a namespace past one of
// its ResourceQuotas, as kube-apiserver's plugin of that name, and
// charges the quotas that count an admitted write: status.used grows by
// the write's usage, written with a compare-and-swap on the quota's
// resourceVersion (a conflict reads the quotas again and decides again)
// before the object is stored. The controllers' resourcequota controller
// recomputes usage from what exists, which frees what deletes, failed
// writes and shrinking updates left charged.
//
// Counted: creates of any namespaced object (count/<resource>.<group>,
// and pods, services, configmaps, secrets, persistentvolumeclaims,
// resourcequotas, replicationcontrollers by their bare names); a pod's
// requests.* / limits.* (and cpu, memory, ... meaning requests); a
// service's node ports and load balancer; a claim's requests.storage,
// per StorageClass too. Updates of services and claims are charged what
// they grow. Scoped quotas (spec.scopes, spec.scopeSelector) count pods
// only. A dry run decides but charges nothing.
type ResourceQuota struct {
	Quotas QuotaStore
}

// quotaAttempts bounds the compare-and-swap retries of one write.
const quotaAttempts = 16

// Handles creates and updates.
func (p *ResourceQuota) Handles(op Operation) bool { return op == Create || op == Update }

// Validate decides and charges.
func (p *ResourceQuota) Validate(ctx context.Context, a *Attributes) error {
	if a.Namespace == "" || a.Subresource != "" || a.Object == nil {
		return nil
	}
	var old = a.OldObject
	if a.Operation == Update {
		if !a.is("", "services") && !a.is("", "persistentvolumeclaims") {
			return nil
		}
		if old == nil {
			return nil
		}
	} else {
		old = nil
	}
	gr := a.groupResource()
	charged := map[string]bool{}
	for attempt := 0; attempt < quotaAttempts; attempt++ {
		quotas, err := p.Quotas.ListResourceQuotas(ctx, a.Namespace, attempt > 0)
		if err != nil {
			return err
		}
		type charge struct {
			q    *corev1.ResourceQuota
			used corev1.ResourceList
		}
		var charges []charge
		for _, q := range quotas {
			if charged[q.Name] {
				continue
			}
			used, ok, refusal := QuotaCharge(q, gr, a.Object, old)
			if refusal != "" {
				return forbidden(a, errors.New(refusal))
			}
			if ok {
				charges = append(charges, charge{q, used})
			}
		}
		if a.DryRun {
			return nil
		}
		conflict := false
		for _, c := range charges {
			next := c.q.DeepCopy()
			next.Status.Used = c.used
			err := p.Quotas.UpdateResourceQuotaStatus(ctx, c.q, next)
			if apierrors.IsConflict(err) {
				conflict = true
				continue
			}
			if err != nil {
				return err
			}
			charged[c.q.Name] = true
		}
		if !conflict {
			return nil
		}
	}
	return apierrors.NewConflict(corev1.Resource("resourcequotas"), "",
		fmt.Errorf("the quotas of namespace %s changed %d times while charging this write: try again", a.Namespace, quotaAttempts))
}
