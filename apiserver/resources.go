package apiserver

import (
	"context"
	"fmt"
	"sync"

	"github.com/kelson-dev/kelson/apiserver/kinds"
	"github.com/kelson-dev/kelson/apiserver/watchcache"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
)

// resourceTable is the set of served resources at one moment: the
// built-in ones, fixed at New, then the custom resources of the
// established CRDs. A table is immutable once published; the Server holds
// the current one in an atomic pointer, and the CRD registrar
// (customresources.go), its only writer, publishes a new table whenever
// the CRDs change. A request looks the table up once and keeps using the
// resource it found, so a resource dropped meanwhile finishes its requests
// (its cache stopped: lists and watches end or fail, which clients retry).
type resourceTable struct {
	// byGVR: resources by group/version/resource; order is discovery
	// order (built-in first, then custom resources by CRD name).
	byGVR map[schema.GroupVersionResource]*resource
	order []*resource

	// discovery is built from the table the first time it is asked for.
	discoveryOnce sync.Once
	discovery     *discoveryDocs
}

func newResourceTable(rs []*resource) *resourceTable {
	t := &resourceTable{byGVR: make(map[schema.GroupVersionResource]*resource, len(rs)), order: rs}
	for _, r := range rs {
		t.byGVR[r.kind.GVR()] = r
	}
	return t
}

// resources returns the current table.
func (s *Server) resources() *resourceTable { return s.table.Load() }

// lookup returns the resource served at gvr now, nil if none.
func (s *Server) lookup(gvr schema.GroupVersionResource) *resource { return s.resources().byGVR[gvr] }

// discoveryDocs returns the table's discovery documents, built once.
func (t *resourceTable) docs(s *Server) *discoveryDocs {
	t.discoveryOnce.Do(func() { t.discovery = buildDiscovery(t) })
	return t.discovery
}

// newResource builds the run-time state of a kind: its watch cache (not
// yet running) and field managers. Built-in kinds use the typed field
// manager over their Go types; custom kinds kube-apiserver's CRD field
// manager over unstructured objects, with a deduced type converter.
func (s *Server) newResource(k *kinds.Kind) (*resource, error) {
	r := &resource{kind: k, prefix: "/registry/" + k.StoragePrefix + "/"}
	var err error
	if k.Custom != nil {
		conv := customConverter{}
		tc := managedfields.NewDeducedTypeConverter()
		r.fields, err = managedfields.NewDefaultCRDFieldManager(tc, conv, conv, conv, k.GVK, k.GVK.GroupVersion(), "", nil)
		if err == nil && k.HasStatus {
			r.statusFields, err = managedfields.NewDefaultCRDFieldManager(tc, conv, conv, conv, k.GVK, k.GVK.GroupVersion(), "status", nil)
		}
	} else {
		tc := s.typeConverter
		if k.GVK.Group == "apiextensions.k8s.io" {
			tc = s.apiextTypeConverter
		}
		sch := s.codecs.scheme
		r.fields, err = managedfields.NewDefaultFieldManager(tc, sch, sch, sch, k.GVK, k.GVK.GroupVersion(), "", nil)
		if err == nil && k.HasStatus {
			r.statusFields, err = managedfields.NewDefaultFieldManager(tc, sch, sch, sch, k.GVK, k.GVK.GroupVersion(), "status", nil)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("apiserver: field manager for %s: %w", k.GVK, err)
	}
	r.cache, err = watchcache.New(watchcache.Config{
		Store:  s.cfg.Store,
		Prefix: r.prefix,
		Decode: func(kv *mvccpb.KeyValue) (runtime.Object, error) { return s.decode(r, kv) },
		Logger: s.log.With("resource", k.Resource, "version", k.GVK.Version),
	})
	if err != nil {
		return nil, fmt.Errorf("apiserver: watch cache for %s: %w", k.Resource, err)
	}
	return r, nil
}

// start runs a custom resource's cache until stop (or ctx) ends it.
func (r *resource) start(ctx context.Context, wg *sync.WaitGroup) {
	ctx, r.stop = context.WithCancel(ctx)
	wg.Add(1)
	go func() { defer wg.Done(); r.cache.Run(ctx) }()
}

// customConverter is the object converter, defaulter and creater of the
// CRD field managers: custom resources convert between versions by their
// apiVersion alone (conversion strategy None).
type customConverter struct{}

func (customConverter) Convert(in, out, _ interface{}) error {
	u, ok1 := in.(*unstructured.Unstructured)
	o, ok2 := out.(*unstructured.Unstructured)
	if !ok1 || !ok2 {
		return fmt.Errorf("apiserver: cannot convert %T to %T", in, out)
	}
	o.Object = runtime.DeepCopyJSON(u.Object)
	return nil
}

func (customConverter) ConvertToVersion(in runtime.Object, gv runtime.GroupVersioner) (runtime.Object, error) {
	out := in.DeepCopyObject()
	if target, ok := gv.KindForGroupVersionKinds([]schema.GroupVersionKind{in.GetObjectKind().GroupVersionKind()}); ok {
		out.GetObjectKind().SetGroupVersionKind(target)
	}
	return out, nil
}

func (customConverter) ConvertFieldLabel(_ schema.GroupVersionKind, label, value string) (string, string, error) {
	return label, value, nil
}

func (customConverter) Default(runtime.Object) {}

func (customConverter) New(gvk schema.GroupVersionKind) (runtime.Object, error) {
	u := &unstructured.Unstructured{Object: map[string]interface{}{}}
	u.SetGroupVersionKind(gvk)
	return u, nil
}
