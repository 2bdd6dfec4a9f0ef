package admission

// What plugins read, declared by the plugins (their consumer) and
// implemented by the API server over its watch caches (apiserver's
// admission.go), and the helpers every plugin shares.

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// NamespaceGetter reads namespaces.
type NamespaceGetter interface {
	// GetNamespace returns the namespace name, or an error for which
	// apierrors.IsNotFound holds when there is none. The result is
	// shared: read-only.
	GetNamespace(ctx context.Context, name string) (*corev1.Namespace, error)
}

// ServiceAccountGetter reads service accounts.
type ServiceAccountGetter interface {
	// GetServiceAccount returns ns/name, or an error for which
	// apierrors.IsNotFound holds. Read-only.
	GetServiceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error)
}

// LimitRangeLister lists a namespace's LimitRanges (read-only).
type LimitRangeLister interface {
	ListLimitRanges(ctx context.Context, ns string) ([]*corev1.LimitRange, error)
}

// PodGetter reads pods.
type PodGetter interface {
	// GetPod returns ns/name or a NotFound error. Read-only.
	GetPod(ctx context.Context, ns, name string) (*corev1.Pod, error)
}

// QuotaStore reads a namespace's ResourceQuotas and charges them.
type QuotaStore interface {
	// ListResourceQuotas lists ns's quotas (read-only): from a cache,
	// or, when fresh, as the store holds them now.
	ListResourceQuotas(ctx context.Context, ns string, fresh bool) ([]*corev1.ResourceQuota, error)
	// UpdateResourceQuotaStatus writes updated's status over old, only
	// if old's resourceVersion is still the stored one: else an error
	// for which apierrors.IsConflict holds.
	UpdateResourceQuotaStatus(ctx context.Context, old, updated *corev1.ResourceQuota) error
}

// Plugin names, as kube-apiserver's --enable/--disable-admission-plugins.
const (
	PluginNamespaceLifecycle = "NamespaceLifecycle"
	PluginLimitRanger        = "LimitRanger"
	PluginServiceAccount     = "ServiceAccount"
	PluginNodeRestriction    = "NodeRestriction"
	PluginPodSecurity        = "PodSecurity"
	PluginResourceQuota      = "ResourceQuota"
)

// Plugins are the plugins Kelson has, in chain order.
func Plugins() []string {
	return []string{PluginNamespaceLifecycle, PluginLimitRanger, PluginServiceAccount,
		PluginNodeRestriction, PluginPodSecurity, PluginResourceQuota}
}

// Warnings collects the warnings of one request (Warning response
// headers). Implementations are called from the request's goroutine.
type Warnings interface {
	AddWarning(msg string)
}

type warningsKey struct{}

// WithWarnings returns ctx carrying w: Warn sends there.
func WithWarnings(ctx context.Context, w Warnings) context.Context {
	return context.WithValue(ctx, warningsKey{}, w)
}

// Warn adds a warning to ctx's request; without a recorder in ctx it is
// dropped.
func Warn(ctx context.Context, msg string) {
	if w, ok := ctx.Value(warningsKey{}).(Warnings); ok && w != nil {
		w.AddWarning(msg)
	}
}

// groupResource is the resource a refusal names.
func (a *Attributes) groupResource() schema.GroupResource {
	return schema.GroupResource{Group: a.Resource.Group, Resource: a.Resource.Resource}
}

// is reports whether a is about group/resource (any version).
func (a *Attributes) is(group, resource string) bool {
	return a.Resource.Group == group && a.Resource.Resource == resource
}

// forbidden is a 403 for a's object, as kube-apiserver's admission
// words it: `<resource> "<name>" is forbidden: <err>`.
func forbidden(a *Attributes, err error) *apierrors.StatusError {
	return apierrors.NewForbidden(a.groupResource(), a.Name, err)
}

func forbiddenf(a *Attributes, format string, args ...any) *apierrors.StatusError {
	return forbidden(a, fmt.Errorf(format, args...))
}

// aggregate joins messages as Kubernetes' error aggregates print: one
// alone, several as "[a, b]".
func aggregate(msgs []string) string {
	if len(msgs) == 1 {
		return msgs[0]
	}
	return "[" + strings.Join(msgs, ", ") + "]"
}

// quoteJoin is `"a", "b"`.
func quoteJoin(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

func sortedKeys[V any](m map[corev1.ResourceName]V) []corev1.ResourceName {
	out := make([]corev1.ResourceName, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
