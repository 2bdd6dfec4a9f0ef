package garbagecollector

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testcluster"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

var gadgets = schema.GroupVersionResource{Group: "gc.example.com", Version: "v1", Resource: "gadgets"}

func gadgetCRD() *apiextensionsv1.CustomResourceDefinition {
	yes := true
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "gadgets.gc.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "gc.example.com",
			Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "gadgets", Singular: "gadget", Kind: "Gadget", ListKind: "GadgetList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: &yes}},
			}},
		},
	}
}

func gadget(ns, name string, owners ...metav1.OwnerReference) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gc.example.com/v1", "kind": "Gadget",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"size": "small"},
	}}
	u.SetOwnerReferences(owners)
	return u
}

// A CRD created while the collector runs: its resource is monitored
// (discovery is read again on CRD changes), its objects own and are owned.
// Deleting the CRD stops the monitor.
func testCustomResources(t *testing.T, e *env) {
	ctx := context.Background()
	ax := apiextclient.NewForConfigOrDie(e.c.Config)
	dyn := dynamic.NewForConfigOrDie(e.c.Config)
	if _, err := ax.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, gadgetCRD(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	monitored := func() bool {
		e.gc.mu.Lock()
		defer e.gc.mu.Unlock()
		_, ok := e.gc.monitors[gadgets]
		return ok
	}
	testcluster.Eventually(t, converge, func() error {
		if !monitored() {
			return fmt.Errorf("gadgets are not monitored")
		}
		return nil
	})
	ns := e.namespace(t, "custom")
	gd := dyn.Resource(gadgets).Namespace(ns)
	create := func(u *unstructured.Unstructured) *unstructured.Unstructured {
		t.Helper()
		var out *unstructured.Unstructured
		// Right after the CRD is established its resource may still be
		// settling: retry a moment.
		testcluster.Eventually(t, converge, func() error {
			var err error
			out, err = gd.Create(ctx, u, metav1.CreateOptions{})
			return err
		})
		return out
	}
	getGadget := func(name string) func() error {
		return func() error { _, err := gd.Get(ctx, name, metav1.GetOptions{}); return err }
	}

	// A custom resource owns a ConfigMap that owns a custom resource.
	top := create(gadget(ns, "top"))
	cm := e.configMap(t, ns, "middle", ownerRef("gc.example.com/v1", "Gadget", top.GetName(), top.GetUID(), true))
	create(gadget(ns, "bottom", cmRef(cm, true)))
	if err := gd.Delete(ctx, top.GetName(), deleteWith(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	gone(t, "the ConfigMap owned by a custom resource", func() error {
		_, err := e.cs.CoreV1().ConfigMaps(ns).Get(ctx, cm.Name, metav1.GetOptions{})
		return err
	})
	gone(t, "the custom resource owned by a ConfigMap", getGadget("bottom"))

	// Foreground deletion of a custom resource.
	fg := create(gadget(ns, "fg"))
	create(gadget(ns, "fg-child", ownerRef("gc.example.com/v1", "Gadget", fg.GetName(), fg.GetUID(), true)))
	if err := gd.Delete(ctx, fg.GetName(), deleteWith(metav1.DeletePropagationForeground)); err != nil {
		t.Fatal(err)
	}
	gone(t, "the foreground-deleted custom resource", getGadget("fg"))
	if err := getGadget("fg-child")(); !apierrors.IsNotFound(err) {
		t.Fatalf("the owner went before its blocking dependent: %v", err)
	}

	// Removing the CRD removes the resource from what is monitored.
	if err := ax.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, "gadgets.gc.example.com", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, converge, func() error {
		if monitored() {
			return fmt.Errorf("gadgets are still monitored")
		}
		return nil
	})
}

// kubectl delete --cascade=background|foreground|orphan, with the real
// kubectl (which waits for the object to be gone).
func testKubectl(t *testing.T, e *env) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl is not on the PATH")
	}
	ctx := context.Background()
	for _, cascade := range []string{"background", "foreground", "orphan"} {
		t.Run(cascade, func(t *testing.T) {
			ns := e.namespace(t, "kubectl-"+cascade)
			owner := e.configMap(t, ns, "owner")
			e.secret(t, ns, "dep", cmRef(owner, true))
			cmd := exec.Command("kubectl", "--kubeconfig", e.c.Kubeconfig, "-n", ns, "delete", "configmap", "owner",
				"--cascade="+cascade, "--timeout=60s")
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("kubectl delete --cascade=%s: %v\n%s", cascade, err, out)
			}
			t.Logf("kubectl delete --cascade=%s returned after %v", cascade, time.Since(start).Round(time.Millisecond))
			if _, err := e.cs.CoreV1().ConfigMaps(ns).Get(ctx, "owner", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("the owner is still there after kubectl returned: %v", err)
			}
			getDep := func() error { _, err := e.cs.CoreV1().Secrets(ns).Get(ctx, "dep", metav1.GetOptions{}); return err }
			switch cascade {
			case "foreground":
				// kubectl waited for the owner, which waited for its dependent.
				if err := getDep(); !apierrors.IsNotFound(err) {
					t.Fatalf("the dependent outlived its foreground-deleted owner: %v", err)
				}
			case "background":
				gone(t, "the dependent", getDep)
			case "orphan":
				s, err := e.cs.CoreV1().Secrets(ns).Get(ctx, "dep", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if len(s.OwnerReferences) != 0 {
					t.Fatalf("the orphan still names its owner: %v", s.OwnerReferences)
				}
			}
		})
	}
}
