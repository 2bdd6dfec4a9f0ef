package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/kelson-dev/kelson/apiserver/kinds"
	"github.com/kelson-dev/kelson/apiserver/openapi"
	"github.com/kelson-dev/kelson/apiserver/watchcache"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/validation/spec"
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
	r := &resource{kind: k, prefix: "/registry/" + k.StoragePrefix + "/", enc: s.cfg.Encryption.For(storageResource(k))}
	var err error
	if k.Custom != nil {
		conv := customConverter{}
		tc := s.customTypeConverter(k)
		r.fields, err = managedfields.NewDefaultCRDFieldManager(tc, conv, conv, conv, k.GVK, k.GVK.GroupVersion(), "", nil)
		if err == nil && k.HasStatus {
			r.statusFields, err = managedfields.NewDefaultCRDFieldManager(tc, conv, conv, conv, k.GVK, k.GVK.GroupVersion(), "status", nil)
		}
	} else {
		tc := s.typeConverter
		switch {
		case k.GVK.Group == "apiextensions.k8s.io":
			tc = s.apiextTypeConverter
		case k.JSON: // no OpenAPI schema: deduced from the objects
			tc = managedfields.NewDeducedTypeConverter()
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

// customTypeConverter is the type converter of a custom kind's field
// managers, as kube-apiserver makes it: from the version's structural
// schema (with apiVersion, kind and ObjectMeta added), so that server-side
// apply merges lists and maps as the schema's x-kubernetes-list-type and
// map-type say. A kind without a schema, or one the converter rejects,
// gets the deduced converter (every list atomic).
func (s *Server) customTypeConverter(k *kinds.Kind) managedfields.TypeConverter {
	deduced := managedfields.NewDeducedTypeConverter()
	if k.Custom.Schema == nil {
		return deduced
	}
	meta, err := s.metaSchemas()
	if err != nil {
		s.log.Warn("custom resource field manager: no meta schemas; deducing types", "err", err)
		return deduced
	}
	b, err := json.Marshal(k.Custom.Schema)
	var sch spec.Schema
	if err == nil {
		err = sch.UnmarshalJSON(b)
	}
	if err != nil {
		return deduced
	}
	if sch.Properties == nil {
		sch.Properties = map[string]spec.Schema{}
	}
	str := spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}}}
	sch.Properties["apiVersion"], sch.Properties["kind"] = str, str
	sch.Properties["metadata"] = spec.Schema{SchemaProps: spec.SchemaProps{
		Ref: spec.MustCreateRef("#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")}}
	sch.AddExtension("x-kubernetes-group-version-kind", []interface{}{map[string]interface{}{
		"group": k.GVK.Group, "version": k.GVK.Version, "kind": k.GVK.Kind}})
	models := make(map[string]*spec.Schema, len(meta)+1)
	for name, m := range meta {
		models[name] = m
	}
	models["kelson.custom."+k.GVK.Group+"."+k.GVK.Version+"."+k.GVK.Kind] = &sch
	tc, err := managedfields.NewTypeConverter(models, false)
	if err != nil {
		s.log.Warn("custom resource field manager: schema not convertible; deducing types", "kind", k.GVK, "err", err)
		return deduced
	}
	return tc
}

// metaSchemas returns the OpenAPI v3 schemas of meta/v1 (ObjectMeta and
// what it references), computed once, shared read-only.
func (s *Server) metaSchemas() (map[string]*spec.Schema, error) {
	s.metaOnce.Do(func() {
		all, err := openapi.Schemas()
		if err != nil {
			s.metaErr = err
			return
		}
		s.meta = map[string]*spec.Schema{}
		for name, sch := range all {
			if strings.HasPrefix(name, "io.k8s.apimachinery.pkg.apis.meta.v1.") {
				s.meta[name] = sch
			}
		}
	})
	return s.meta, s.metaErr
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
