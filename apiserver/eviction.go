package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kelson-dev/kelson/apiserver/admission"
)

// The eviction subresource honours PodDisruptionBudgets as
// kube-apiserver's does. The decision is evictionAllowed, a pure function
// of the pod and its namespace's budgets; serveEviction around it writes
// the budget (disruptionsAllowed decremented, the pod recorded in
// status.disruptedPods, conditioned on the budget's revision) and then
// deletes the pod, conditioned on the pod's revision the decision saw. A
// conflict on either starts over from fresh reads. The two writes are not
// one transaction (neither are they in Kubernetes): a pod whose delete
// fails after its budget was charged stays in disruptedPods until the
// disruption controller drops the entry (after two minutes).

const (
	// evictionRefused is kube-apiserver's message for a 429.
	evictionRefused = "Cannot evict pod as it would violate the pod's disruption budget."
	// maxDisruptedPods bounds status.disruptedPods: evictions the
	// disruption controller has not yet seen through.
	maxDisruptedPods = 2000
	evictionAttempts = 16
)

var pdbGVR = policyv1.SchemeGroupVersion.WithResource("poddisruptionbudgets")

// evictionVerdict is what an allowed eviction does.
type evictionVerdict struct {
	// budget, if set, is the caller's copy of the PodDisruptionBudget to
	// write before deleting the pod: one disruption fewer allowed, the pod
	// in disruptedPods.
	budget *policyv1.PodDisruptionBudget
	// checked: a budget was consulted, so the pod is deleted only if it is
	// still as the decision saw it (a resourceVersion precondition).
	checked bool
}

// evictionAllowed decides an eviction of pod given the budgets of its
// namespace (read, never modified). Pods that are not running (Pending,
// Succeeded, Failed) or already being deleted go without a check. A pod
// selected by no budget goes; by more than one, the answer is a 500 as in
// Kubernetes. A pod that is not Ready goes without spending the budget
// when the budget's policy is AlwaysAllow, or (IfHealthyBudget, the
// default) when the application is healthy enough already
// (currentHealthy >= desiredHealthy > 0). Otherwise the budget must allow
// a disruption: 429 TooManyRequests with a DisruptionBudget cause if not.
func evictionAllowed(pod *corev1.Pod, pdbs []*policyv1.PodDisruptionBudget, now time.Time) (evictionVerdict, error) {
	switch pod.Status.Phase {
	case corev1.PodPending, corev1.PodSucceeded, corev1.PodFailed:
		return evictionVerdict{}, nil
	}
	if pod.DeletionTimestamp != nil {
		return evictionVerdict{}, nil
	}
	var matching []*policyv1.PodDisruptionBudget
	for _, pdb := range pdbs {
		if pdb.Namespace != pod.Namespace {
			continue
		}
		// A null selector selects no pods; an empty one selects all.
		if pdb.Spec.Selector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			continue
		}
		if sel.Matches(labels.Set(pod.Labels)) {
			matching = append(matching, pdb)
		}
	}
	switch len(matching) {
	case 0:
		return evictionVerdict{}, nil
	case 1:
	default:
		return evictionVerdict{}, apierrors.NewInternalError(errors.New("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."))
	}
	pdb := matching[0]
	if !podReady(pod) {
		policy := policyv1.IfHealthyBudget
		if p := pdb.Spec.UnhealthyPodEvictionPolicy; p != nil {
			policy = *p
		}
		st := &pdb.Status
		if policy == policyv1.AlwaysAllow || st.CurrentHealthy >= st.DesiredHealthy && st.DesiredHealthy > 0 {
			return evictionVerdict{checked: true}, nil
		}
	}
	st := &pdb.Status
	switch {
	case st.ObservedGeneration < pdb.Generation:
		return evictionVerdict{}, tooManyEvictions(fmt.Sprintf("The disruption budget %s is still being processed by the server.", pdb.Name))
	case st.DisruptionsAllowed < 0:
		return evictionVerdict{}, apierrors.NewForbidden(pdbGVR.GroupResource(), pdb.Name, errors.New("pdb disruptions allowed is negative"))
	case len(st.DisruptedPods) > maxDisruptedPods:
		return evictionVerdict{}, apierrors.NewForbidden(pdbGVR.GroupResource(), pdb.Name, errors.New("DisruptedPods map too big - too many evictions not confirmed by PDB controller"))
	case st.DisruptionsAllowed == 0:
		return evictionVerdict{}, tooManyEvictions(fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, st.DesiredHealthy, st.CurrentHealthy))
	}
	next := pdb.DeepCopy()
	next.Status.DisruptionsAllowed--
	if next.Status.DisruptedPods == nil {
		next.Status.DisruptedPods = map[string]metav1.Time{}
	}
	next.Status.DisruptedPods[pod.Name] = metav1.NewTime(now)
	if next.Status.DisruptionsAllowed == 0 {
		setPDBCondition(&next.Status, metav1.Condition{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse,
			Reason: policyv1.InsufficientPodsReason, ObservedGeneration: next.Status.ObservedGeneration, LastTransitionTime: metav1.NewTime(now)})
	}
	return evictionVerdict{budget: next, checked: true}, nil
}

// tooManyEvictions is the 429 of a budget that allows no disruption now.
func tooManyEvictions(cause string) error {
	err := apierrors.NewTooManyRequests(evictionRefused, 0)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes,
		metav1.StatusCause{Type: policyv1.DisruptionBudgetCause, Message: cause})
	return err
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// setPDBCondition sets c, keeping the transition time when the status
// does not change.
func setPDBCondition(st *policyv1.PodDisruptionBudgetStatus, c metav1.Condition) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == c.Type {
			if st.Conditions[i].Status == c.Status {
				c.LastTransitionTime = st.Conditions[i].LastTransitionTime
			}
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}

// serveEviction: POST pods/<name>/eviction deletes the pod with the
// eviction's DeleteOptions if its PodDisruptionBudget allows.
func (s *Server) serveEviction(w http.ResponseWriter, r *http.Request, res *resource, ri requestInfo) error {
	out, opts, o, err := s.decodePost(w, r, res, ri, policyv1.SchemeGroupVersion.WithKind("Eviction"), &policyv1.Eviction{})
	if err != nil {
		return err
	}
	ev := o.(*policyv1.Eviction)
	if ev.Name != "" && ev.Name != ri.Name {
		return badRequest("name in URL does not match name in Eviction object")
	}
	del := metav1.DeleteOptions{}
	if ev.DeleteOptions != nil {
		del = *ev.DeleteOptions
	}
	if opts.dryRun && len(del.DryRun) == 0 {
		del.DryRun = []string{metav1.DryRunAll}
	}
	if err := s.admitOther(r.Context(), admission.Create, res, "eviction", ri.Namespace, ri.Name, ev, nil, len(del.DryRun) > 0); err != nil {
		return err
	}
	if err := s.evict(r.Context(), res, ri.Namespace, ri.Name, del, opts); err != nil {
		return err
	}
	s.writeObject(w, r, out, http.StatusCreated, successStatus(http.StatusCreated))
	return nil
}

// evict charges the pod's budget and deletes the pod, starting over when
// the budget or the pod changed under it.
func (s *Server) evict(ctx context.Context, res *resource, ns, name string, del metav1.DeleteOptions, opts writeOptions) error {
	pdbRes := s.lookup(pdbGVR)
	dryRun := len(del.DryRun) > 0
	for attempt := 0; ; attempt++ {
		obj, err := s.get(ctx, res, ns, name)
		if err != nil {
			return err
		}
		pod := obj.(*corev1.Pod)
		var pdbs []*policyv1.PodDisruptionBudget
		if pdbRes != nil {
			items, _, _, _, err := s.listFromStore(ctx, pdbRes, ns, &metav1.ListOptions{}, nil)
			if err != nil {
				return err
			}
			for _, it := range items {
				pdbs = append(pdbs, it.(*policyv1.PodDisruptionBudget))
			}
		}
		v, err := evictionAllowed(pod, pdbs, time.Now())
		if err != nil {
			return err
		}
		retry := attempt < evictionAttempts
		if v.budget != nil && !dryRun {
			cur := budgetNamed(pdbs, v.budget.Name)
			wopts := opts
			wopts.dryRun = false
			_, err := s.writeUpdate(ctx, pdbRes, "status", v.budget, cur, revOf(cur), wopts)
			if apierrors.IsConflict(err) && retry {
				continue
			}
			if err != nil {
				return err
			}
		}
		d := del
		if v.checked && d.Preconditions == nil {
			rv := pod.ResourceVersion
			d.Preconditions = &metav1.Preconditions{ResourceVersion: &rv}
		}
		_, err = s.deleteObject(ctx, res, ns, name, &d)
		if apierrors.IsConflict(err) && del.Preconditions == nil && retry {
			continue
		}
		return err
	}
}

func budgetNamed(pdbs []*policyv1.PodDisruptionBudget, name string) runtime.Object {
	for _, p := range pdbs {
		if p.Name == name {
			return p
		}
	}
	return nil
}
