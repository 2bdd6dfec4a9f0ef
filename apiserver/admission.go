package apiserver

// Admission: the chain of plugins (apiserver/admission) every write goes
// through, built from Config.DisableAdmissionPlugins, and the reads the
// plugins need, served from the watch caches (falling back to the store
// for an object the cache does not show yet: a namespace created a
// moment ago must admit its first objects).
//
// Where the write paths call it:
//
//	create   createObject: prepare (defaults) -> Admit -> validate -> Validate -> store
//	update   writeUpdate:  prepare -> Admit -> validate -> Validate -> store (every subresource)
//	delete   deleteObject: Admit + Validate on the stored object, before it is marked or removed
//	evict    serveEviction: Validate of pods/eviction (CREATE) before the budget is charged
//	connect  servePodStream: Validate of pods/exec and pods/attach (CONNECT)

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/kelson-dev/kelson/apiserver/admission"
	"github.com/kelson-dev/kelson/apiserver/authn"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// buildAdmission makes the chain in Kubernetes' order, without the
// plugins disabled (kube-apiserver's --disable-admission-plugins names).
func (s *Server) buildAdmission(disabled []string) (*admission.Chain, error) {
	known := admission.Plugins()
	for _, d := range disabled {
		if !slices.Contains(known, d) {
			return nil, fmt.Errorf("%w: unknown admission plugin %q (Kelson has %v)", ErrBadConfig, d, known)
		}
	}
	on := func(name string) bool { return !slices.Contains(disabled, name) }
	l := admissionLookups{s}
	c := &admission.Chain{}
	if on(admission.PluginNamespaceLifecycle) {
		c.Mutators = append(c.Mutators, &admission.NamespaceLifecycle{Namespaces: l})
	}
	lr := &admission.LimitRanger{LimitRanges: l}
	if on(admission.PluginLimitRanger) {
		c.Mutators = append(c.Mutators, lr)
	}
	if on(admission.PluginServiceAccount) {
		c.Mutators = append(c.Mutators, &admission.ServiceAccount{ServiceAccounts: l, Namespaces: l})
	}
	if on(admission.PluginLimitRanger) {
		c.Validators = append(c.Validators, lr)
	}
	if on(admission.PluginNodeRestriction) {
		c.Validators = append(c.Validators, &admission.NodeRestriction{Pods: l})
	}
	if on(admission.PluginPodSecurity) {
		c.Validators = append(c.Validators, &admission.PodSecurity{Namespaces: l})
	}
	if on(admission.PluginResourceQuota) {
		c.Validators = append(c.Validators, &admission.ResourceQuota{Quotas: l})
	}
	return c, nil
}

// admissionAttributes describes a write of res for the chain.
func admissionAttributes(ctx context.Context, op admission.Operation, res *resource, subresource, ns, name string, obj, old runtime.Object, dryRun bool) *admission.Attributes {
	u, _ := authn.UserFrom(ctx)
	return &admission.Attributes{Operation: op, Subresource: subresource, Kind: res.gvk(),
		Resource:  schema.GroupVersionResource{Group: res.kind.GVK.Group, Version: res.kind.GVK.Version, Resource: res.kind.Resource},
		Namespace: ns, Name: name, Object: obj, OldObject: old, User: u, DryRun: dryRun}
}

// admitObject runs the mutators on a create or update of obj (old: the
// stored object of an update) and returns the attributes for
// validateObject, which runs the validators after the kind's validation.
func (s *Server) admitObject(ctx context.Context, op admission.Operation, res *resource, subresource string, obj, old runtime.Object, dryRun bool) (*admission.Attributes, error) {
	m := metaOf(obj)
	a := admissionAttributes(ctx, op, res, subresource, m.GetNamespace(), m.GetName(), obj, old, dryRun)
	return a, s.admission.Admit(ctx, a)
}

// validateObject runs the validators (a from admitObject).
func (s *Server) validateObject(ctx context.Context, a *admission.Attributes) error {
	return s.admission.Validate(ctx, a)
}

// admitOther runs the whole chain on a write with no object of res's
// kind to store: a delete (old is the stored object), an eviction, a
// connect.
func (s *Server) admitOther(ctx context.Context, op admission.Operation, res *resource, subresource, ns, name string, obj, old runtime.Object, dryRun bool) error {
	a := admissionAttributes(ctx, op, res, subresource, ns, name, obj, old, dryRun)
	if err := s.admission.Admit(ctx, a); err != nil {
		return err
	}
	return s.admission.Validate(ctx, a)
}

// headerWarnings sends admission warnings as Warning headers, as
// kube-apiserver writes them (code 299, agent "-").
type headerWarnings struct{ h http.Header }

func (w headerWarnings) AddWarning(msg string) { w.h.Add("Warning", fmt.Sprintf("299 - %q", msg)) }

// admissionLookups serves the plugins' reads.
type admissionLookups struct{ s *Server }

var (
	serviceAccountGVR = corev1.SchemeGroupVersion.WithResource("serviceaccounts")
	limitRangeGVR     = corev1.SchemeGroupVersion.WithResource("limitranges")
	resourceQuotaGVR  = corev1.SchemeGroupVersion.WithResource("resourcequotas")
	podGVR            = corev1.SchemeGroupVersion.WithResource("pods")
)

// getCached reads ns/name from res's cache, else from the store.
func (l admissionLookups) getCached(ctx context.Context, gvr schema.GroupVersionResource, ns, name string) (runtime.Object, error) {
	res := l.s.lookup(gvr)
	if res == nil {
		return nil, apierrors.NewNotFound(gvr.GroupResource(), name)
	}
	if o, ok, _ := res.cache.Get(res.key(ns, name)); ok {
		return o.Obj, nil
	}
	return l.s.get(ctx, res, ns, name)
}

// listCached lists ns's objects of res from its cache (empty before the
// cache has loaded).
func (l admissionLookups) listCached(gvr schema.GroupVersionResource, ns string) []runtime.Object {
	res := l.s.lookup(gvr)
	if res == nil {
		return nil
	}
	objs, _ := res.cache.List(res.listPrefix(ns))
	out := make([]runtime.Object, len(objs))
	for i, o := range objs {
		out[i] = o.Obj
	}
	return out
}

func (l admissionLookups) GetNamespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	o, err := l.getCached(ctx, namespaceGVR, "", name)
	if err != nil {
		return nil, err
	}
	return o.(*corev1.Namespace), nil
}

func (l admissionLookups) GetServiceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	o, err := l.getCached(ctx, serviceAccountGVR, ns, name)
	if err != nil {
		return nil, err
	}
	return o.(*corev1.ServiceAccount), nil
}

func (l admissionLookups) GetPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	o, err := l.getCached(ctx, podGVR, ns, name)
	if err != nil {
		return nil, err
	}
	return o.(*corev1.Pod), nil
}

func (l admissionLookups) ListLimitRanges(_ context.Context, ns string) ([]*corev1.LimitRange, error) {
	var out []*corev1.LimitRange
	for _, o := range l.listCached(limitRangeGVR, ns) {
		out = append(out, o.(*corev1.LimitRange))
	}
	return out, nil
}

func (l admissionLookups) ListResourceQuotas(ctx context.Context, ns string, fresh bool) ([]*corev1.ResourceQuota, error) {
	var objs []runtime.Object
	if fresh {
		res := l.s.lookup(resourceQuotaGVR)
		items, _, _, _, err := l.s.listFromStore(ctx, res, ns, &metav1.ListOptions{}, nil)
		if err != nil {
			return nil, err
		}
		objs = items
	} else {
		objs = l.listCached(resourceQuotaGVR, ns)
	}
	out := make([]*corev1.ResourceQuota, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*corev1.ResourceQuota))
	}
	return out, nil
}

func (l admissionLookups) UpdateResourceQuotaStatus(ctx context.Context, old, updated *corev1.ResourceQuota) error {
	res := l.s.lookup(resourceQuotaGVR)
	_, err := l.s.writeUpdate(ctx, res, "status", updated, old, revOf(old),
		writeOptions{fieldManager: "kube-apiserver", fieldValidation: "Ignore"})
	return err
}
