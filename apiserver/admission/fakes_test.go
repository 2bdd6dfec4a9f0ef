package admission

import (
	"context"
	"sync"

	"github.com/kelson-dev/kelson/apiserver/authn"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// fakes serves the plugins' reads from maps.
type fakes struct {
	mu         sync.Mutex
	namespaces map[string]*corev1.Namespace
	sas        map[string]*corev1.ServiceAccount // ns/name
	pods       map[string]*corev1.Pod            // ns/name
	limits     []*corev1.LimitRange
	quotas     []*corev1.ResourceQuota
	// conflicts: how many quota updates answer Conflict first.
	conflicts int
	updates   int
	// saLookups counts GetServiceAccount calls; saAfter makes the
	// account appear from that call on.
	saLookups int
	saAfter   map[string]int
}

func newFakes() *fakes {
	return &fakes{namespaces: map[string]*corev1.Namespace{}, sas: map[string]*corev1.ServiceAccount{},
		pods: map[string]*corev1.Pod{}, saAfter: map[string]int{}}
}

func (f *fakes) GetNamespace(_ context.Context, name string) (*corev1.Namespace, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ns, ok := f.namespaces[name]; ok {
		return ns, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("namespaces"), name)
}

func (f *fakes) GetServiceAccount(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.saLookups++
	k := ns + "/" + name
	if sa, ok := f.sas[k]; ok && f.saLookups > f.saAfter[k] {
		return sa, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("serviceaccounts"), name)
}

func (f *fakes) GetPod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.pods[ns+"/"+name]; ok {
		return p, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("pods"), name)
}

func (f *fakes) ListLimitRanges(_ context.Context, ns string) ([]*corev1.LimitRange, error) {
	var out []*corev1.LimitRange
	for _, l := range f.limits {
		if l.Namespace == ns {
			out = append(out, l)
		}
	}
	return out, nil
}

func (f *fakes) ListResourceQuotas(_ context.Context, ns string, _ bool) ([]*corev1.ResourceQuota, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*corev1.ResourceQuota
	for _, q := range f.quotas {
		if q.Namespace == ns {
			out = append(out, q)
		}
	}
	return out, nil
}

func (f *fakes) UpdateResourceQuotaStatus(_ context.Context, old, updated *corev1.ResourceQuota) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conflicts > 0 {
		f.conflicts--
		// someone else charged a pod meanwhile
		for i, q := range f.quotas {
			if q.Name == old.Name {
				n := q.DeepCopy()
				v := n.Status.Used["pods"]
				v.Add(resourceMust("1"))
				n.Status.Used["pods"] = v
				n.ResourceVersion += "x"
				f.quotas[i] = n
			}
		}
		return apierrors.NewConflict(corev1.Resource("resourcequotas"), old.Name, nil)
	}
	for i, q := range f.quotas {
		if q.Name == old.Name {
			if q.ResourceVersion != old.ResourceVersion {
				return apierrors.NewConflict(corev1.Resource("resourcequotas"), old.Name, nil)
			}
			f.quotas[i] = updated
			f.updates++
		}
	}
	return nil
}

// attrs is a write of obj by admin (nil user: the server itself unless set).
func attrs(op Operation, resource, sub, ns, name string, obj, old runtime.Object) *Attributes {
	gvr := schema.GroupVersionResource{Version: "v1", Resource: resource}
	switch resource {
	case "leases":
		gvr.Group = "coordination.k8s.io"
	case "deployments":
		gvr.Group = "apps"
	}
	return &Attributes{Operation: op, Resource: gvr, Subresource: sub, Namespace: ns, Name: name, Object: obj, OldObject: old,
		User: &authn.User{Name: "system:admin", Groups: []string{authn.SystemPrivileged}}}
}

// warnings records Warn calls.
type warnings []string

func (w *warnings) AddWarning(m string) { *w = append(*w, m) }
