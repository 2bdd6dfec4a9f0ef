package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/kelson-dev/kelson/apiserver/encryption"
	"github.com/kelson-dev/kelson/apiserver/kinds"
	"github.com/kelson-dev/kelson/apiserver/watchcache"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
)

// resource is one served resource at run time: its Kind, where its objects
// live in the store, its watch cache and its field managers. Built by
// newResource (at New for built-in kinds, by the CRD registrar for custom
// ones), read-only afterwards (the cache and field managers are safe for
// concurrent use).
//
// Its codec follows its kind: built-in kinds are typed objects stored in
// Kubernetes' protobuf envelope; custom kinds (kind.Custom set) are
// *unstructured.Unstructured stored as JSON at the CRD's storage version,
// as kube-apiserver stores custom resources, and are never served as
// protobuf.
type resource struct {
	kind   *kinds.Kind
	prefix string // "/registry/<StoragePrefix>/"
	cache  *watchcache.Cache
	// fields tracks managedFields on writes to the main resource;
	// statusFields on writes to /status.
	fields, statusFields *managedfields.FieldManager
	// stop ends the cache of a custom resource (set by start; nil for
	// built-in resources, whose caches live as long as Run).
	stop context.CancelFunc
	// enc encrypts stored values and decrypts them (Config.Encryption's
	// entry for the resource; nil: values are stored as they are).
	enc *encryption.Transformer
}

// custom reports whether r serves custom resources (unstructured, JSON).
func (r *resource) custom() bool { return r.kind.Custom != nil }

// jsonOnly reports whether r's objects have no protobuf encoding: custom
// resources and Kelson's own kinds (kind.JSON), stored as JSON and never
// served or read as protobuf.
func (r *resource) jsonOnly() bool { return r.custom() || r.kind.JSON }

func (r *resource) gvk() schema.GroupVersionKind { return r.kind.GVK }

// listGVK is the kind of the resource's lists (a CRD's listKind for custom
// resources).
func (r *resource) listGVK() schema.GroupVersionKind {
	if r.custom() {
		return r.kind.NewList().GetObjectKind().GroupVersionKind()
	}
	return r.kind.GVK.GroupVersion().WithKind(r.kind.GVK.Kind + "List")
}

func (r *resource) groupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.kind.GVK.Group, Resource: r.kind.Resource}
}

// key is the store key of one object.
func (r *resource) key(namespace, name string) string {
	if r.kind.Namespaced {
		return r.prefix + namespace + "/" + name
	}
	return r.prefix + name
}

// listPrefix is the key prefix of a list: one namespace, or all.
func (r *resource) listPrefix(namespace string) string {
	if r.kind.Namespaced && namespace != "" {
		return r.prefix + namespace + "/"
	}
	return r.prefix
}

// storageResource is the resource whose encryption entry applies to k's
// values: its own, except for kinds that share another's storage (Events
// of events.k8s.io are stored as core events, as in kube-apiserver).
func storageResource(k *kinds.Kind) schema.GroupResource {
	if k.GVK.Group == "events.k8s.io" && k.Resource == "events" {
		return schema.GroupResource{Resource: "events"}
	}
	return schema.GroupResource{Group: k.GVK.Group, Resource: k.Resource}
}

// decode reads a stored value into a new object of the resource's kind,
// with resourceVersion set to the key's mod revision. Stored objects are
// never shared with another decode. An encrypted value is decrypted first;
// one that cannot be is an error wrapping the encryption package's.
func (s *Server) decode(r *resource, kv *mvccpb.KeyValue) (runtime.Object, error) {
	value, _, err := r.enc.Decrypt(kv.Key, kv.Value)
	if err != nil {
		return nil, fmt.Errorf("apiserver: decode %s: %w", kv.Key, err)
	}
	if r.custom() {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(value); err != nil {
			return nil, fmt.Errorf("apiserver: decode %s: %w", kv.Key, err)
		}
		u.SetGroupVersionKind(r.gvk()) // conversion "None": only the version changes
		u.SetResourceVersion(fmt.Sprint(kv.ModRevision))
		return u, nil
	}
	into, want := r.kind.New(), r.gvk()
	if st := r.kind.Stored; st != nil {
		into, want = st.New(), st.GVK
	}
	obj, gvk, err := s.codecs.decoder.Decode(value, nil, into)
	if err != nil {
		return nil, fmt.Errorf("apiserver: decode %s: %w", kv.Key, err)
	}
	if gvk != nil && *gvk != want {
		return nil, fmt.Errorf("apiserver: decode %s: stored kind %s, want %s", kv.Key, gvk, want)
	}
	if st := r.kind.Stored; st != nil {
		obj = st.FromStored(obj)
	}
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	acc.SetResourceVersion(fmt.Sprint(kv.ModRevision))
	obj.GetObjectKind().SetGroupVersionKind(r.gvk())
	return obj, nil
}

// encodeForStore encodes obj (the caller's own copy) in Kubernetes'
// protobuf envelope (JSON for custom resources and Kelson's own kinds),
// without a resourceVersion (the key's mod revision is the truth, as in
// kube-apiserver), and encrypts it for store key key (r.enc).
func (s *Server) encodeForStore(r *resource, key string, obj runtime.Object) ([]byte, error) {
	b, err := s.encodePlain(r, obj)
	if err != nil {
		return nil, err
	}
	out, err := r.enc.Encrypt([]byte(key), b)
	if err != nil {
		return nil, fmt.Errorf("apiserver: encrypt %s: %w", key, err)
	}
	return out, nil
}

// encodePlain is encodeForStore before encryption.
func (s *Server) encodePlain(r *resource, obj runtime.Object) ([]byte, error) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := acc.GetResourceVersion()
	acc.SetResourceVersion("")
	defer acc.SetResourceVersion(rv)
	if r.custom() {
		obj.GetObjectKind().SetGroupVersionKind(r.gvk().GroupKind().WithVersion(r.kind.Custom.StorageVersion))
		defer obj.GetObjectKind().SetGroupVersionKind(r.gvk())
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("apiserver: encode %s: %w", r.gvk().Kind, err)
		}
		return b, nil
	}
	obj.GetObjectKind().SetGroupVersionKind(r.gvk())
	if r.kind.JSON {
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("apiserver: encode %s: %w", r.gvk().Kind, err)
		}
		return b, nil
	}
	if st := r.kind.Stored; st != nil {
		obj = st.ToStored(obj)
		obj.GetObjectKind().SetGroupVersionKind(st.GVK)
	}
	var b bytes.Buffer
	if err := s.codecs.storage.Encode(obj, &b); err != nil {
		return nil, fmt.Errorf("apiserver: encode %s: %w", r.gvk().Kind, err)
	}
	return b.Bytes(), nil
}
