package authn

import (
	"context"
	"errors"
)

// Kinds of the objects tokens refer to.
const (
	KindServiceAccount = "ServiceAccount"
	KindPod            = "Pod"
	KindSecret         = "Secret"
	KindNode           = "Node"
)

// Lookup finds the API objects that tokens name: bootstrap token
// Secrets, and the service accounts, pods, secrets and nodes service
// account tokens are bound to. The API server implements it over its
// watch caches; tests over a map.
//
// Get returns the object (a *corev1.ServiceAccount, *corev1.Pod,
// *corev1.Secret or *corev1.Node; namespace "" for nodes) and whether it
// exists. fresh false may answer from a cache a little behind the store;
// fresh true must read the store itself. Authenticators read the cache
// first and ask again with fresh true only when the answer would refuse
// the token (so a token for a just-created object works, and a refusal
// is never due to a stale cache). The object returned is shared: it must
// not be modified.
type Lookup interface {
	Get(ctx context.Context, kind, namespace, name string, fresh bool) (any, bool, error)
}

// LookupFunc adapts a function to Lookup.
type LookupFunc func(ctx context.Context, kind, namespace, name string, fresh bool) (any, bool, error)

// Get calls f.
func (f LookupFunc) Get(ctx context.Context, kind, namespace, name string, fresh bool) (any, bool, error) {
	return f(ctx, kind, namespace, name, fresh)
}

// ErrLookup wraps a failure to read an object a token refers to (the
// store unavailable): the request fails with 401, and the client retries.
var ErrLookup = errors.New("authn: lookup")

// getChecked reads an object through l: from the cache, then, if ok says
// the cached answer would refuse, from the store.
func getChecked[T any](ctx context.Context, l Lookup, kind, ns, name string, ok func(T) bool) (T, bool, error) {
	var zero T
	for _, fresh := range []bool{false, true} {
		o, found, err := l.Get(ctx, kind, ns, name, fresh)
		if err != nil {
			return zero, false, errors.Join(ErrLookup, err)
		}
		if !found || o == nil {
			continue
		}
		t, isT := o.(T)
		if !isT {
			return zero, false, errors.Join(ErrLookup, errors.New("lookup returned an object of the wrong kind"))
		}
		if ok(t) || fresh {
			return t, true, nil
		}
	}
	return zero, false, nil
}
