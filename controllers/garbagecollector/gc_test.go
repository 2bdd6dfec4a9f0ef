package garbagecollector

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/internal/testcluster"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// The collector against a real API server (a store member and the
// apiserver, over loopback). No other controller runs: the tests create
// owners and dependents themselves.

const converge = 60 * time.Second

type env struct {
	c  *testcluster.Cluster
	cs kubernetes.Interface
	gc *GarbageCollector
}

// startEnv starts a cluster and a collector, and waits until the collector
// has built its graph.
func startEnv(t *testing.T) *env {
	t.Helper()
	c := testcluster.Start(t)
	cctx := controllers.NewContext(c.Client, "test", testcluster.Logger())
	gc := NewWithConfig(cctx, Config{VerifyDelay: 200 * time.Millisecond, ResyncPeriod: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	cctx.Start(ctx)
	done := make(chan error, 1)
	go func() { done <- gc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		cctx.Close()
	})
	testcluster.Eventually(t, converge, func() error {
		if !gc.Started() {
			return fmt.Errorf("the collector has not started")
		}
		return nil
	})
	return &env{c: c, cs: c.Client, gc: gc}
}

func (e *env) namespace(t *testing.T, name string) string {
	t.Helper()
	_, err := e.cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func ownerRef(apiVersion, kind, name string, uid types.UID, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, BlockOwnerDeletion: &block}
}

func cmRef(cm *corev1.ConfigMap, block bool) metav1.OwnerReference {
	return ownerRef("v1", "ConfigMap", cm.Name, cm.UID, block)
}

func (e *env) configMap(t *testing.T, ns, name string, owners ...metav1.OwnerReference) *corev1.ConfigMap {
	t.Helper()
	cm, err := e.cs.CoreV1().ConfigMaps(ns).Create(context.Background(),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: owners}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

func (e *env) secret(t *testing.T, ns, name string, owners ...metav1.OwnerReference) *corev1.Secret {
	t.Helper()
	s, err := e.cs.CoreV1().Secrets(ns).Create(context.Background(),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: owners}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func deleteWith(policy metav1.DeletionPropagation) metav1.DeleteOptions {
	return metav1.DeleteOptions{PropagationPolicy: &policy}
}

// gone waits until get reports not found.
func gone(t *testing.T, what string, get func() error) {
	t.Helper()
	testcluster.Eventually(t, converge, func() error {
		err := get()
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("%s still exists", what)
	})
}

// stays checks that get keeps finding the object for a while (the
// collector had the time to act on it, and did not).
func stays(t *testing.T, what string, d time.Duration, get func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := get(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCollector(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()

	t.Run("background chain", func(t *testing.T) {
		ns := e.namespace(t, "bg")
		d, err := e.cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		yes := true
		rs, err := e.cs.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: "web-1", OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: &yes, BlockOwnerDeletion: &yes}}},
			Spec: appsv1.ReplicaSetSpec{Selector: d.Spec.Selector, Template: d.Spec.Template},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var pods []string
		for i := range 3 {
			p, err := e.cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-1-%d", i), Labels: map[string]string{"app": "web"},
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes, BlockOwnerDeletion: &yes}}},
				Spec: d.Spec.Template.Spec,
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			pods = append(pods, p.Name)
		}
		if err := e.cs.AppsV1().Deployments(ns).Delete(ctx, d.Name, deleteWith(metav1.DeletePropagationBackground)); err != nil {
			t.Fatal(err)
		}
		gone(t, "the ReplicaSet", func() error {
			_, err := e.cs.AppsV1().ReplicaSets(ns).Get(ctx, rs.Name, metav1.GetOptions{})
			return err
		})
		for _, p := range pods {
			gone(t, "pod "+p, func() error { _, err := e.cs.CoreV1().Pods(ns).Get(ctx, p, metav1.GetOptions{}); return err })
		}
	})

	t.Run("foreground waits for blocking dependents", func(t *testing.T) {
		ns := e.namespace(t, "fg")
		owner := e.configMap(t, ns, "owner")
		// The blocking dependent has a finalizer of its own: the owner
		// must wait for it.
		hold, err := e.cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
			Name: "held", Finalizers: []string{"example.com/hold"}, OwnerReferences: []metav1.OwnerReference{cmRef(owner, true)}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e.secret(t, ns, "free", cmRef(owner, false))
		if err := e.cs.CoreV1().ConfigMaps(ns).Delete(ctx, owner.Name, deleteWith(metav1.DeletePropagationForeground)); err != nil {
			t.Fatal(err)
		}
		gone(t, "the non-blocking dependent", func() error { _, err := e.cs.CoreV1().Secrets(ns).Get(ctx, "free", metav1.GetOptions{}); return err })
		testcluster.Eventually(t, converge, func() error {
			s, err := e.cs.CoreV1().Secrets(ns).Get(ctx, hold.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if s.DeletionTimestamp == nil {
				return fmt.Errorf("the blocking dependent is not being deleted")
			}
			return nil
		})
		get := func() error {
			cm, err := e.cs.CoreV1().ConfigMaps(ns).Get(ctx, owner.Name, metav1.GetOptions{})
			if err == nil && (cm.DeletionTimestamp == nil || !slices.Contains(cm.Finalizers, metav1.FinalizerDeleteDependents)) {
				return fmt.Errorf("owner not waiting in the foreground: %v %v", cm.DeletionTimestamp, cm.Finalizers)
			}
			return err
		}
		stays(t, "the owner while a blocking dependent exists", 2*time.Second, get)
		// Release the dependent: it goes, then the owner.
		s, err := e.cs.CoreV1().Secrets(ns).Get(ctx, hold.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Finalizers = nil
		if _, err := e.cs.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		gone(t, "the owner", func() error {
			_, err := e.cs.CoreV1().ConfigMaps(ns).Get(ctx, owner.Name, metav1.GetOptions{})
			return err
		})
	})

	t.Run("foreground chain", func(t *testing.T) {
		ns := e.namespace(t, "fgchain")
		top := e.configMap(t, ns, "top")
		mid := e.configMap(t, ns, "mid", cmRef(top, true))
		e.secret(t, ns, "leaf", cmRef(mid, true))
		if err := e.cs.CoreV1().ConfigMaps(ns).Delete(ctx, top.Name, deleteWith(metav1.DeletePropagationForeground)); err != nil {
			t.Fatal(err)
		}
		gone(t, "the top", func() error {
			_, err := e.cs.CoreV1().ConfigMaps(ns).Get(ctx, top.Name, metav1.GetOptions{})
			return err
		})
		for _, get := range []func() error{
			func() error {
				_, err := e.cs.CoreV1().ConfigMaps(ns).Get(ctx, mid.Name, metav1.GetOptions{})
				return err
			},
			func() error { _, err := e.cs.CoreV1().Secrets(ns).Get(ctx, "leaf", metav1.GetOptions{}); return err },
		} {
			// The top went last: its dependents were gone already.
			if err := get(); !apierrors.IsNotFound(err) {
				t.Fatalf("the top went before its dependents: %v", err)
			}
		}
	})

	t.Run("orphan", func(t *testing.T) {
		ns := e.namespace(t, "orphan")
		owner := e.configMap(t, ns, "owner")
		other := e.configMap(t, ns, "other")
		e.secret(t, ns, "only", cmRef(owner, true))
		e.secret(t, ns, "both", cmRef(other, false), cmRef(owner, true))
		if err := e.cs.CoreV1().ConfigMaps(ns).Delete(ctx, owner.Name, deleteWith(metav1.DeletePropagationOrphan)); err != nil {
			t.Fatal(err)
		}
		gone(t, "the owner", func() error {
			_, err := e.cs.CoreV1().ConfigMaps(ns).Get(ctx, owner.Name, metav1.GetOptions{})
			return err
		})
		for name, want := range map[string]int{"only": 0, "both": 1} {
			s, err := e.cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("orphan %s: %v", name, err)
			}
			if len(s.OwnerReferences) != want || slices.ContainsFunc(s.OwnerReferences, func(r metav1.OwnerReference) bool { return r.UID == owner.UID }) {
				t.Fatalf("orphan %s: ownerReferences %v", name, s.OwnerReferences)
			}
		}
		// The orphans stay.
		stays(t, "the orphan", time.Second, func() error { _, err := e.cs.CoreV1().Secrets(ns).Get(ctx, "only", metav1.GetOptions{}); return err })
	})

	t.Run("legacy orphanDependents", func(t *testing.T) {
		ns := e.namespace(t, "legacy")
		owner := e.configMap(t, ns, "owner")
		e.secret(t, ns, "kept", cmRef(owner, false))
		yes := true
		if err := e.cs.CoreV1().ConfigMaps(ns).Delete(ctx, owner.Name, metav1.DeleteOptions{OrphanDependents: &yes}); err != nil {
			t.Fatal(err)
		}
		gone(t, "the owner", func() error {
			_, err := e.cs.CoreV1().ConfigMaps(ns).Get(ctx, owner.Name, metav1.GetOptions{})
			return err
		})
		s, err := e.cs.CoreV1().Secrets(ns).Get(ctx, "kept", metav1.GetOptions{})
		if err != nil || len(s.OwnerReferences) != 0 {
			t.Fatalf("orphan: %v %v", err, s)
		}
	})

	t.Run("two owners", func(t *testing.T) {
		ns := e.namespace(t, "two")
		a := e.configMap(t, ns, "a")
		b := e.configMap(t, ns, "b")
		e.secret(t, ns, "shared", cmRef(a, false), cmRef(b, false))
		if err := e.cs.CoreV1().ConfigMaps(ns).Delete(ctx, a.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		testcluster.Eventually(t, converge, func() error {
			s, err := e.cs.CoreV1().Secrets(ns).Get(ctx, "shared", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != b.UID {
				return fmt.Errorf("ownerReferences %v", s.OwnerReferences)
			}
			return nil
		})
		if err := e.cs.CoreV1().ConfigMaps(ns).Delete(ctx, b.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		gone(t, "the dependent", func() error { _, err := e.cs.CoreV1().Secrets(ns).Get(ctx, "shared", metav1.GetOptions{}); return err })
	})

	t.Run("owner that never existed", func(t *testing.T) {
		ns := e.namespace(t, "ghost")
		e.secret(t, ns, "stray", ownerRef("v1", "ConfigMap", "ghost", "0f7e1d8c-0000-4000-8000-000000000001", false))
		gone(t, "the dependent", func() error { _, err := e.cs.CoreV1().Secrets(ns).Get(ctx, "stray", metav1.GetOptions{}); return err })
	})

	t.Run("owner recreated under the same name", func(t *testing.T) {
		ns := e.namespace(t, "recreated")
		old := e.configMap(t, ns, "cm")
		e.secret(t, ns, "old-dep", cmRef(old, false))
		// The dependent names the old UID; the new object has another.
		if err := e.cs.CoreV1().ConfigMaps(ns).Delete(ctx, old.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.configMap(t, ns, "cm")
		gone(t, "the old object's dependent", func() error { _, err := e.cs.CoreV1().Secrets(ns).Get(ctx, "old-dep", metav1.GetOptions{}); return err })
	})

	t.Run("cluster-scoped owner", func(t *testing.T) {
		ns := e.namespace(t, "clusterowner")
		node, err := e.cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gc-node"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e.configMap(t, ns, "on-node", ownerRef("v1", "Node", node.Name, node.UID, false))
		stays(t, "a dependent of a live cluster-scoped owner", time.Second, func() error {
			_, err := e.cs.CoreV1().ConfigMaps(ns).Get(ctx, "on-node", metav1.GetOptions{})
			return err
		})
		if err := e.cs.CoreV1().Nodes().Delete(ctx, node.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		gone(t, "the dependent", func() error {
			_, err := e.cs.CoreV1().ConfigMaps(ns).Get(ctx, "on-node", metav1.GetOptions{})
			return err
		})
	})

	t.Run("cross-namespace references", func(t *testing.T) {
		nsA, nsB := e.namespace(t, "xa"), e.namespace(t, "xb")
		owner := e.configMap(t, nsA, "owner")
		// A namespaced owner named from another namespace is absent there.
		e.secret(t, nsB, "cross", cmRef(owner, false))
		gone(t, "the cross-namespace dependent", func() error { _, err := e.cs.CoreV1().Secrets(nsB).Get(ctx, "cross", metav1.GetOptions{}); return err })
		// A cluster-scoped dependent of a namespaced kind is left alone.
		node, err := e.cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name: "invalid-dependent", OwnerReferences: []metav1.OwnerReference{cmRef(owner, false)}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, dep := range []struct{ ns, name string }{{nsB, "cross"}, {"", node.Name}} {
			testcluster.Eventually(t, converge, func() error {
				evs, err := e.cs.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: "reason=OwnerRefInvalidNamespace"})
				if err != nil {
					return err
				}
				for _, ev := range evs.Items {
					if ev.InvolvedObject.Name == dep.name && ev.InvolvedObject.Namespace == dep.ns &&
						ev.Type == corev1.EventTypeWarning && ev.Reason == "OwnerRefInvalidNamespace" {
						return nil
					}
				}
				return fmt.Errorf("no OwnerRefInvalidNamespace event for %s/%s among %d", dep.ns, dep.name, len(evs.Items))
			})
		}
		stays(t, "the cluster-scoped dependent", time.Second, func() error { _, err := e.cs.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{}); return err })
		if err := e.cs.CoreV1().ConfigMaps(nsA).Delete(ctx, owner.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		stays(t, "the cluster-scoped dependent after its owner went", time.Second, func() error {
			_, err := e.cs.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
			return err
		})
	})

	// The collector's informers use protobuf; JSON is what other metadata
	// clients ask for: lists and watches of PartialObjectMetadata.
	t.Run("metadata as JSON", func(t *testing.T) {
		ns := e.namespace(t, "meta")
		owner := e.configMap(t, ns, "owner")
		rc := e.c.Client.CoreV1().RESTClient()
		raw, err := rc.Get().AbsPath("/api/v1/namespaces", ns, "secrets").
			SetHeader("Accept", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1").DoRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var list metav1.PartialObjectMetadataList
		if err := json.Unmarshal(raw, &list); err != nil || list.Kind != "PartialObjectMetadataList" || list.ResourceVersion == "" {
			t.Fatalf("list: %v %s", err, raw)
		}
		w, err := rc.Get().AbsPath("/api/v1/namespaces", ns, "secrets").Param("watch", "true").
			Param("resourceVersion", list.ResourceVersion).
			SetHeader("Accept", "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1").Stream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		e.secret(t, ns, "dep", cmRef(owner, true))
		var ev struct {
			Type   string
			Object metav1.PartialObjectMetadata
		}
		if err := json.NewDecoder(w).Decode(&ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type != "ADDED" || ev.Object.Kind != "PartialObjectMetadata" || ev.Object.Name != "dep" ||
			len(ev.Object.OwnerReferences) != 1 || ev.Object.OwnerReferences[0].UID != owner.UID {
			t.Fatalf("watch event %+v", ev)
		}
	})

	// What the collector's conditional writes rely on: a delete whose
	// preconditions fail, and a JSON patch whose test fails, are refused
	// with errors stale() recognises, and change nothing.
	t.Run("conditional writes", func(t *testing.T) {
		ns := e.namespace(t, "conditional")
		owner := e.configMap(t, ns, "owner")
		s := e.secret(t, ns, "dep", cmRef(owner, true))
		api := e.gc.core.api
		res := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
		obj := Object{Identity: Identity{APIVersion: "v1", Kind: "Secret", Namespace: ns, Name: s.Name, UID: s.UID},
			Resource: res, ResourceVersion: s.ResourceVersion, Owners: s.OwnerReferences}
		s.Labels = map[string]string{"changed": "yes"}
		if _, err := e.cs.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		staleRV := obj.ResourceVersion
		otherUID := types.UID("00000000-0000-4000-8000-000000000000")
		for name, opts := range map[string]metav1.DeleteOptions{
			"stale resourceVersion": {Preconditions: &metav1.Preconditions{ResourceVersion: &staleRV}},
			"other UID":             {Preconditions: &metav1.Preconditions{UID: &otherUID}},
		} {
			if err := api.Delete(ctx, res, ns, s.Name, opts); !stale(err) {
				t.Errorf("delete with a %s: %v, want a conflict", name, err)
			}
		}
		// Built from a view where the owner's reference is second: the
		// object has it first.
		patch, _ := removeRefsPatch(Object{Identity: obj.Identity, Owners: []metav1.OwnerReference{{UID: "x"}, obj.Owners[0]}}, []types.UID{owner.UID})
		if err := api.Patch(ctx, res, ns, s.Name, patch); !stale(err) {
			t.Errorf("a patch whose test fails: %v, want 422", err)
		}
		got, err := e.cs.CoreV1().Secrets(ns).Get(ctx, s.Name, metav1.GetOptions{})
		if err != nil || len(got.OwnerReferences) != 1 {
			t.Fatalf("after refused writes: %v %v", err, got)
		}
		// The same writes, current, succeed.
		patch, _ = removeRefsPatch(obj, []types.UID{owner.UID})
		if err := api.Patch(ctx, res, ns, s.Name, patch); err != nil {
			t.Fatal(err)
		}
		uid := s.UID
		if err := api.Delete(ctx, res, ns, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("custom resources", func(t *testing.T) { testCustomResources(t, e) })
	t.Run("kubectl", func(t *testing.T) { testKubectl(t, e) })

	t.Run("many dependents cost one owner lookup", func(t *testing.T) {
		ns := e.namespace(t, "many")
		owner := e.configMap(t, ns, "owner")
		const n = 100
		for i := range n {
			e.secret(t, ns, fmt.Sprintf("dep-%03d", i), cmRef(owner, true))
		}
		before := e.gc.Stats()
		// Every dependent is in the graph with its owner: give the
		// collector time to (not) act, then delete the owner.
		time.Sleep(500 * time.Millisecond)
		if got := e.gc.Stats().OwnerLookups - before.OwnerLookups; got != 0 {
			t.Errorf("%d owner lookups while every owner exists", got)
		}
		if err := e.cs.CoreV1().ConfigMaps(ns).Delete(ctx, owner.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		testcluster.Eventually(t, converge, func() error {
			l, err := e.cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			if len(l.Items) > 0 {
				return fmt.Errorf("%d dependents left", len(l.Items))
			}
			return nil
		})
		after := e.gc.Stats()
		// Workers handle the dependents in parallel; concurrent lookups of
		// one owner are shared, and the answer cached.
		if got := after.OwnerLookups - before.OwnerLookups; got != 1 {
			t.Errorf("%d owner lookups for %d dependents of one owner", got, n)
		}
		t.Logf("%d dependents: %d owner lookups, %d deletes, %d re-reads", n,
			after.OwnerLookups-before.OwnerLookups, after.Deletes-before.Deletes, after.DependentReads-before.DependentReads)
	})
}
