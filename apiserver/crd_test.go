package apiserver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver/storage"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
    additionalPrinterColumns:
    - name: Size
      type: string
      jsonPath: .spec.size
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
    schema:
      openAPIV3Schema:
        type: object
        description: A Widget is a test resource.
        properties:
          spec:
            type: object
            description: The desired widget.
            required: [size]
            properties:
              size:
                type: string
                description: How big the widget is.
                enum: [small, large]
              replicas:
                type: integer
                minimum: 0
                default: 1
              color:
                type: string
                default: blue
              labels:
                type: object
                additionalProperties:
                  type: string
              free:
                type: object
                x-kubernetes-preserve-unknown-fields: true
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
                    port: {type: integer}
          status:
            type: object
            properties:
              replicas:
                type: integer
`

var widgetGVR = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}

func widget(name string, spec map[string]interface{}) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]interface{}{"name": name},
		"spec":     spec,
	}}
}

// createWidgetCRD creates the Widget CRD and waits for it to be
// established and its resource served.
func createWidgetCRD(t *testing.T, ts *testServer) (apiextclient.Interface, dynamic.Interface) {
	t.Helper()
	ctx := context.Background()
	ext, err := apiextclient.NewForConfig(ts.config)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(ts.config)
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict([]byte(widgetCRD), &crd); err != nil {
		t.Fatal(err)
	}
	created, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, &crd, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create CRD: %v", err)
	}
	if !contains(created.Finalizers, "customresourcecleanup.apiextensions.k8s.io") || created.Spec.Names.ListKind != "WidgetList" {
		t.Fatalf("CRD not defaulted: finalizers %v listKind %q", created.Finalizers, created.Spec.Names.ListKind)
	}
	waitFor(t, "CRD established", func() bool {
		c, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, cond := range c.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return c.Status.AcceptedNames.Kind == "Widget"
			}
		}
		return false
	})
	waitFor(t, "widgets served", func() bool {
		_, err := dyn.Resource(widgetGVR).Namespace("default").List(ctx, metav1.ListOptions{})
		return err == nil
	})
	return ext, dyn
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCustomResources(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		ext, dyn := createWidgetCRD(t, ts)
		widgets := dyn.Resource(widgetGVR).Namespace("default")

		// Discovery lists the resource.
		rl, err := ts.client.Discovery().ServerResourcesForGroupVersion("example.com/v1")
		if err != nil || len(rl.APIResources) == 0 || rl.APIResources[0].Name != "widgets" {
			t.Fatalf("discovery: %v %+v", err, rl)
		}
		_, lists, err := ts.client.Discovery().ServerGroupsAndResources()
		if err != nil {
			t.Fatalf("aggregated discovery: %v", err)
		}
		found := false
		for _, l := range lists {
			for _, r := range l.APIResources {
				found = found || (l.GroupVersion == "example.com/v1" && r.Name == "widgets")
			}
		}
		if !found {
			t.Fatalf("aggregated discovery lacks widgets")
		}

		// OpenAPI v3 and v2 describe the kind.
		for _, path := range []string{"/openapi/v3/apis/example.com/v1", "/openapi/v2", "/openapi/v3/apis/apiextensions.k8s.io/v1"} {
			body, err := ts.client.Discovery().RESTClient().Get().AbsPath(path).Do(ctx).Raw()
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			want := "com.example.v1.Widget"
			if strings.Contains(path, "apiextensions") {
				want = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
			}
			if !strings.Contains(string(body), want) {
				t.Fatalf("%s lacks %s", path, want)
			}
		}

		// A watch from now on.
		w, err := widgets.Watch(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		defer w.Stop()

		// Create: defaults applied, unknown fields pruned, metadata set.
		in := widget("w1", map[string]interface{}{"size": "small", "bogus": "x",
			"free": map[string]interface{}{"anything": "kept"}})
		in.Object["extra"] = "pruned"
		got, err := widgets.Create(ctx, in, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if got.GetUID() == "" || got.GetGeneration() != 1 || got.GetResourceVersion() == "" {
			t.Fatalf("metadata: %v", got.Object["metadata"])
		}
		spec := got.Object["spec"].(map[string]interface{})
		if spec["replicas"] != int64(1) || spec["color"] != "blue" {
			t.Fatalf("defaults not applied: %v", spec)
		}
		if _, ok := spec["bogus"]; ok {
			t.Fatalf("unknown field not pruned: %v", spec)
		}
		if _, ok := got.Object["extra"]; ok {
			t.Fatalf("unknown root field not pruned: %v", got.Object)
		}
		if v, _, _ := unstructured.NestedString(got.Object, "spec", "free", "anything"); v != "kept" {
			t.Fatalf("preserved field dropped: %v", spec)
		}
		select {
		case ev := <-w.ResultChan():
			if ev.Type != watch.Added || ev.Object.(*unstructured.Unstructured).GetName() != "w1" {
				t.Fatalf("watch event %v", ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no watch event")
		}

		// Schema violations are field errors.
		_, err = widgets.Create(ctx, widget("bad", map[string]interface{}{"size": "huge", "replicas": "three"}), metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`) ||
			!strings.Contains(err.Error(), `spec.size: Unsupported value: "huge"`) {
			t.Fatalf("want schema errors, got %v", err)
		}
		_, err = widgets.Create(ctx, widget("bad", map[string]interface{}{"replicas": int64(2)}), metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.size: Required value") {
			t.Fatalf("want required error, got %v", err)
		}

		// Update: generation goes up on spec changes, not on metadata.
		got.Object["spec"].(map[string]interface{})["size"] = "large"
		upd, err := widgets.Update(ctx, got, metav1.UpdateOptions{})
		if err != nil || upd.GetGeneration() != 2 {
			t.Fatalf("update: %v gen %d", err, upd.GetGeneration())
		}
		if _, err := widgets.Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			t.Fatalf("stale update: want Conflict, got %v", err)
		}
		upd.SetLabels(map[string]string{"a": "b"})
		upd, err = widgets.Update(ctx, upd, metav1.UpdateOptions{})
		if err != nil || upd.GetGeneration() != 2 {
			t.Fatalf("metadata update: %v gen %d", err, upd.GetGeneration())
		}

		// Patches: merge and JSON; strategic merge is 415.
		p, err := widgets.Patch(ctx, "w1", types.MergePatchType, []byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{})
		if err != nil || p.Object["spec"].(map[string]interface{})["replicas"] != int64(3) {
			t.Fatalf("merge patch: %v", err)
		}
		if _, err := widgets.Patch(ctx, "w1", types.JSONPatchType, []byte(`[{"op":"replace","path":"/spec/color","value":"red"}]`), metav1.PatchOptions{}); err != nil {
			t.Fatalf("json patch: %v", err)
		}
		if _, err := widgets.Patch(ctx, "w1", types.StrategicMergePatchType, []byte(`{"spec":{"replicas":4}}`), metav1.PatchOptions{}); !apierrors.IsUnsupportedMediaType(err) {
			t.Fatalf("strategic merge patch: want 415, got %v", err)
		}
		if _, err := widgets.Patch(ctx, "w1", types.MergePatchType, []byte(`{"spec":{"replicas":-1}}`), metav1.PatchOptions{}); !apierrors.IsInvalid(err) {
			t.Fatalf("patch below minimum: want Invalid, got %v", err)
		}

		// Server-side apply creates and updates.
		applied := widget("w2", map[string]interface{}{"size": "large"})
		a, err := widgets.Apply(ctx, "w2", applied, metav1.ApplyOptions{FieldManager: "test"})
		if err != nil || len(a.GetManagedFields()) == 0 {
			t.Fatalf("apply create: %v", err)
		}
		applied.Object["spec"].(map[string]interface{})["replicas"] = int64(5)
		if a, err = widgets.Apply(ctx, "w2", applied, metav1.ApplyOptions{FieldManager: "test"}); err != nil || a.Object["spec"].(map[string]interface{})["replicas"] != int64(5) {
			t.Fatalf("apply update: %v", err)
		}

		// Apply merges a list-map by its keys (the schema's type converter):
		// two managers' entries live side by side.
		for _, mgr := range []string{"one", "two"} {
			p := widget("w2", map[string]interface{}{"ports": []interface{}{map[string]interface{}{"name": mgr, "port": int64(80)}}})
			if _, err := widgets.Apply(ctx, "w2", p, metav1.ApplyOptions{FieldManager: mgr}); err != nil {
				t.Fatalf("apply ports as %s: %v", mgr, err)
			}
		}
		a, err = widgets.Get(ctx, "w2", metav1.GetOptions{})
		if ports, _, _ := unstructured.NestedSlice(a.Object, "spec", "ports"); err != nil || len(ports) != 2 {
			t.Fatalf("list-map apply: %v %v", err, a.Object["spec"])
		}

		// Status: a write to the resource ignores status; /status writes it.
		st := a.DeepCopy()
		st.Object["status"] = map[string]interface{}{"replicas": int64(5)}
		st, err = widgets.UpdateStatus(ctx, st, metav1.UpdateOptions{})
		if err != nil || st.Object["status"] == nil || st.GetGeneration() != a.GetGeneration() {
			t.Fatalf("update status: %v", err)
		}
		st.Object["status"] = map[string]interface{}{"replicas": int64(1)}
		st, err = widgets.Update(ctx, st, metav1.UpdateOptions{})
		if r, _, _ := unstructured.NestedInt64(st.Object, "status", "replicas"); err != nil || r != 5 {
			t.Fatalf("main update changed status: %v %v", err, st.Object["status"])
		}

		// Scale.
		sc, err := widgets.Get(ctx, "w2", metav1.GetOptions{}, "scale")
		if err != nil {
			t.Fatalf("get scale: %v", err)
		}
		if r, _, _ := unstructured.NestedInt64(sc.Object, "spec", "replicas"); r != 5 {
			t.Fatalf("scale: %v", sc.Object)
		}
		if r, _, _ := unstructured.NestedInt64(sc.Object, "status", "replicas"); r != 5 {
			t.Fatalf("scale status: %v", sc.Object)
		}
		if _, err := widgets.Patch(ctx, "w2", types.MergePatchType, []byte(`{"spec":{"replicas":7}}`), metav1.PatchOptions{}, "scale"); err != nil {
			t.Fatalf("patch scale: %v", err)
		}
		if g, _ := widgets.Get(ctx, "w2", metav1.GetOptions{}); g.Object["spec"].(map[string]interface{})["replicas"] != int64(7) {
			t.Fatalf("scale not written: %v", g.Object["spec"])
		}

		// Protobuf is refused both ways.
		raw := ts.client.Discovery().RESTClient()
		err = raw.Get().AbsPath("/apis/example.com/v1/namespaces/default/widgets/w1").
			SetHeader("Accept", "application/vnd.kubernetes.protobuf").Do(ctx).Error()
		if !apierrors.IsNotAcceptable(err) {
			t.Fatalf("protobuf get: want 406, got %v", err)
		}

		// List, table, delete, deletecollection.
		l, err := widgets.List(ctx, metav1.ListOptions{})
		if err != nil || len(l.Items) != 2 || l.GetKind() != "WidgetList" {
			t.Fatalf("list: %v %d", err, len(l.Items))
		}
		tbl := &metav1.Table{}
		if err := raw.Get().AbsPath("/apis/example.com/v1/namespaces/default/widgets").
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").Do(ctx).Into(tbl); err != nil {
			t.Fatalf("table: %v", err)
		}
		if len(tbl.ColumnDefinitions) != 3 || tbl.ColumnDefinitions[1].Name != "Size" || len(tbl.Rows) != 2 || tbl.Rows[0].Cells[1] != "large" {
			t.Fatalf("table: %+v", tbl)
		}
		if err := widgets.Delete(ctx, "w1", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if _, err := widgets.Get(ctx, "w1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("get deleted: %v", err)
		}
		for _, n := range []string{"w3", "w4"} {
			wd := widget(n, map[string]interface{}{"size": "small"})
			wd.SetLabels(map[string]string{"batch": "x"})
			if _, err := widgets.Create(ctx, wd, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := widgets.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "batch=x"}); err != nil {
			t.Fatalf("deletecollection: %v", err)
		}
		if l, _ = widgets.List(ctx, metav1.ListOptions{}); len(l.Items) != 1 {
			t.Fatalf("after deletecollection: %d items", len(l.Items))
		}

		// Deleting the CRD deletes its custom resources and stops serving.
		if err := ext.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, "widgets.example.com", metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete CRD: %v", err)
		}
		waitFor(t, "CRD gone", func() bool {
			_, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "widgets.example.com", metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
		waitFor(t, "widgets 404", func() bool {
			_, err := widgets.List(ctx, metav1.ListOptions{})
			return apierrors.IsNotFound(err)
		})
		resp, err := ts.srv.cfg.Store.Range(ctx, rangeReq("/registry/example.com/widgets/"))
		if err != nil || len(resp.Kvs) != 0 {
			t.Fatalf("custom resources left in the store: %v %d", err, len(resp.Kvs))
		}
		if _, err := ts.client.Discovery().ServerResourcesForGroupVersion("example.com/v1"); !apierrors.IsNotFound(err) {
			t.Fatalf("discovery after delete: %v", err)
		}
	})
}

func TestCRDValidation(t *testing.T) {
	ts := newTestServer(t, startMember(t))
	ext, err := apiextclient.NewForConfig(ts.config)
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict([]byte(widgetCRD), &crd); err != nil {
		t.Fatal(err)
	}
	bad := crd.DeepCopy()
	bad.Name = "gadgets.example.com"
	bad.Spec.Versions[0].Storage = false
	bad.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = apiextensionsv1.JSONSchemaProps{}
	_, err = ext.ApiextensionsV1().CustomResourceDefinitions().Create(context.Background(), bad, metav1.CreateOptions{})
	for _, want := range []string{
		`metadata.name: Invalid value: "gadgets.example.com": must be spec.names.plural+"."+spec.group`,
		"spec.versions: Invalid value",
		"must have exactly one version marked as storage version",
		"spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields",
	} {
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), want) {
			t.Fatalf("want %q in %v", want, err)
		}
	}
	// A CRD whose names clash with an older CRD's is not accepted.
	createWidgetCRD(t, ts)
	clash := crd.DeepCopy()
	clash.Name = "gizmos.example.com"
	clash.Spec.Names = apiextensionsv1.CustomResourceDefinitionNames{Plural: "gizmos", Kind: "Widget"}
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(context.Background(), clash, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create clashing CRD: %v", err)
	}
	waitFor(t, "NamesAccepted False", func() bool {
		c, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(context.Background(), clash.Name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, cond := range c.Status.Conditions {
			if cond.Type == apiextensionsv1.NamesAccepted {
				return cond.Status == apiextensionsv1.ConditionFalse
			}
		}
		return false
	})
	if _, err := ts.client.Discovery().ServerResourcesForGroupVersion("example.com/v1"); err != nil {
		t.Fatal(err)
	}
	dyn, _ := dynamic.NewForConfig(ts.config)
	if _, err := dyn.Resource(widgetGVR.GroupVersion().WithResource("gizmos")).Namespace("default").List(context.Background(), metav1.ListOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a CRD without accepted names is served: %v", err)
	}
}

func rangeReq(prefix string) *pb.RangeRequest {
	return &pb.RangeRequest{Key: []byte(prefix), RangeEnd: storage.PrefixEnd([]byte(prefix))}
}

// Three API servers over one store: a CRD created through one is served
// by all three, and its deletion through another stops all three.
func TestCRDThreeServers(t *testing.T) {
	stores := startCluster(t, 3)
	servers := make([]*testServer, 3)
	for i, st := range stores {
		servers[i] = newTestServer(t, st)
	}
	ctx := context.Background()
	ext, _ := createWidgetCRD(t, servers[0])
	for i, ts := range servers {
		dyn, err := dynamic.NewForConfig(ts.config)
		if err != nil {
			t.Fatal(err)
		}
		name := "through-" + string(rune('a'+i))
		waitFor(t, "widgets served on every server", func() bool {
			_, err := dyn.Resource(widgetGVR).Namespace("default").Create(ctx, widget(name, map[string]interface{}{"size": "small"}), metav1.CreateOptions{})
			return err == nil
		})
		if got, err := dyn.Resource(widgetGVR).Namespace("default").Get(ctx, name, metav1.GetOptions{}); err != nil || got.Object["spec"].(map[string]interface{})["replicas"] != int64(1) {
			t.Fatalf("server %d: %v", i, err)
		}
	}
	ext2, err := apiextclient.NewForConfig(servers[1].config)
	if err != nil {
		t.Fatal(err)
	}
	_ = ext
	if err := ext2.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, "widgets.example.com", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for i, ts := range servers {
		dyn, _ := dynamic.NewForConfig(ts.config)
		waitFor(t, fmt.Sprintf("widgets gone from server %d", i), func() bool {
			_, err := dyn.Resource(widgetGVR).Namespace("default").List(ctx, metav1.ListOptions{})
			return apierrors.IsNotFound(err)
		})
	}
}

const gadgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Cluster
  names: {plural: gadgets, kind: Gadget}
  versions:
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer, maximum: 10}}}
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer, maximum: 10}}}
`

// A cluster-scoped CRD with two served versions: objects are stored at the
// storage version (JSON, kube-apiserver's key layout) and read at either;
// discovery prefers v1; fieldValidation=Strict refuses unknown fields.
func TestCRDVersions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		ext, err := apiextclient.NewForConfig(ts.config)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict([]byte(gadgetCRD), &crd); err != nil {
			t.Fatal(err)
		}
		if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, &crd, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		dyn, _ := dynamic.NewForConfig(ts.config)
		beta := dyn.Resource(schema.GroupVersionResource{Group: "example.com", Version: "v1beta1", Resource: "gadgets"})
		v1 := dyn.Resource(schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "gadgets"})
		g := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "example.com/v1beta1", "kind": "Gadget",
			"metadata": map[string]interface{}{"name": "g1", "bogusMeta": "x"}, "spec": map[string]interface{}{"size": int64(3)}}}
		waitFor(t, "gadgets served", func() bool {
			_, err := beta.Create(ctx, g, metav1.CreateOptions{})
			return err == nil
		})
		got, err := v1.Get(ctx, "g1", metav1.GetOptions{})
		if err != nil || got.GetAPIVersion() != "example.com/v1" || got.GetNamespace() != "" {
			t.Fatalf("get at v1: %v %v", err, got)
		}
		if md := got.Object["metadata"].(map[string]interface{}); md["bogusMeta"] != nil {
			t.Fatalf("metadata not pruned: %v", md)
		}
		resp, err := ts.srv.cfg.Store.Range(ctx, rangeReq("/registry/example.com/gadgets/g1"))
		if err != nil || len(resp.Kvs) != 1 || !strings.Contains(string(resp.Kvs[0].Value), `"apiVersion":"example.com/v1"`) {
			t.Fatalf("stored: %v %q", err, resp.Kvs)
		}
		grp, err := ts.client.Discovery().ServerGroups()
		if err != nil {
			t.Fatal(err)
		}
		for _, gr := range grp.Groups {
			if gr.Name == "example.com" && (gr.PreferredVersion.Version != "v1" || len(gr.Versions) != 2) {
				t.Fatalf("discovery group: %+v", gr)
			}
		}
		g2 := g.DeepCopy()
		g2.SetName("g2")
		g2.SetAPIVersion("example.com/v1")
		unstructured.RemoveNestedField(g2.Object, "metadata", "bogusMeta")
		g2.Object["spec"].(map[string]interface{})["color"] = "red"
		_, err = v1.Create(ctx, g2, metav1.CreateOptions{FieldValidation: "Strict"})
		if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), `unknown field "spec.color"`) {
			t.Fatalf("strict create with an unknown field: %v", err)
		}
		g2.Object["spec"].(map[string]interface{})["size"] = int64(11)
		delete(g2.Object["spec"].(map[string]interface{}), "color")
		_, err = v1.Create(ctx, g2, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10") {
			t.Fatalf("create above maximum: %v", err)
		}
	})
}

// A CRD's deletion waits for its custom resources, which wait for their own
// finalizers: meanwhile the CRD is Terminating and new objects are refused.
func TestCRDDeletionWaitsForFinalizers(t *testing.T) {
	ts := newTestServer(t, startMember(t))
	ctx := context.Background()
	ext, dyn := createWidgetCRD(t, ts)
	widgets := dyn.Resource(widgetGVR).Namespace("default")
	w := widget("held", map[string]interface{}{"size": "small"})
	w.SetFinalizers([]string{"example.com/hold"})
	if _, err := widgets.Create(ctx, w, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	crds := ext.ApiextensionsV1().CustomResourceDefinitions()
	if err := crds.Delete(ctx, "widgets.example.com", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Terminating condition and the CR marked", func() bool {
		c, err := crds.Get(ctx, "widgets.example.com", metav1.GetOptions{})
		if err != nil {
			return false
		}
		got, err := widgets.Get(ctx, "held", metav1.GetOptions{})
		if err != nil || got.GetDeletionTimestamp() == nil {
			return false
		}
		for _, cond := range c.Status.Conditions {
			if cond.Type == apiextensionsv1.Terminating && cond.Status == apiextensionsv1.ConditionTrue {
				return true
			}
		}
		return false
	})
	if _, err := widgets.Create(ctx, widget("late", map[string]interface{}{"size": "small"}), metav1.CreateOptions{}); !apierrors.IsMethodNotSupported(err) {
		t.Fatalf("create while the CRD terminates: %v", err)
	}
	if _, err := widgets.Patch(ctx, "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("drop the finalizer: %v", err)
	}
	waitFor(t, "CRD gone", func() bool {
		_, err := crds.Get(ctx, "widgets.example.com", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}

// Changing a CRD's schema changes what its custom resources keep.
func TestCRDUpdate(t *testing.T) {
	ts := newTestServer(t, startMember(t))
	ctx := context.Background()
	ext, dyn := createWidgetCRD(t, ts)
	widgets := dyn.Resource(widgetGVR).Namespace("default")
	got, err := widgets.Create(ctx, widget("a", map[string]interface{}{"size": "small", "shape": "round"}), metav1.CreateOptions{})
	if err != nil || got.Object["spec"].(map[string]interface{})["shape"] != nil {
		t.Fatalf("before the update: %v %v", err, got)
	}
	crds := ext.ApiextensionsV1().CustomResourceDefinitions()
	crd, err := crds.Get(ctx, "widgets.example.com", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["shape"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
	if crd, err = crds.Update(ctx, crd, metav1.UpdateOptions{}); err != nil || crd.Generation != 2 {
		t.Fatalf("update CRD: %v", err)
	}
	waitFor(t, "the new schema", func() bool {
		got, err := widgets.Create(ctx, widget("b", map[string]interface{}{"size": "small", "shape": "round"}), metav1.CreateOptions{})
		if err != nil {
			return false
		}
		if got.Object["spec"].(map[string]interface{})["shape"] == "round" {
			return true
		}
		_ = widgets.Delete(ctx, "b", metav1.DeleteOptions{})
		return false
	})
	if l, err := widgets.List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 2 {
		t.Fatalf("list after the update: %v", err)
	}
	// YAML in and out.
	raw := ts.client.Discovery().RESTClient()
	body := "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: yml\nspec:\n  size: large\n"
	if err := raw.Post().AbsPath("/apis/example.com/v1/namespaces/default/widgets").SetHeader("Content-Type", "application/yaml").
		Body([]byte(body)).Do(ctx).Error(); err != nil {
		t.Fatalf("YAML create: %v", err)
	}
	out, err := raw.Get().AbsPath("/apis/example.com/v1/namespaces/default/widgets/yml").SetHeader("Accept", "application/yaml").DoRaw(ctx)
	if err != nil || !strings.Contains(string(out), "size: large") || !strings.Contains(string(out), "replicas: 1") {
		t.Fatalf("YAML get: %v\n%s", err, out)
	}
	err = raw.Post().AbsPath("/apis/example.com/v1/namespaces/default/widgets").SetHeader("Content-Type", "application/vnd.kubernetes.protobuf").
		Body([]byte("k8s\x00")).Do(ctx).Error()
	if !apierrors.IsUnsupportedMediaType(err) {
		t.Fatalf("protobuf create: want 415, got %v", err)
	}

	crd.Spec.Scope = apiextensionsv1.ClusterScoped
	if _, err := crds.Update(ctx, crd, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.scope: Invalid value: \"Cluster\": field is immutable") {
		t.Fatalf("scope change: %v", err)
	}
}
