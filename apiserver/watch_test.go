package apiserver

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

func nextEvent(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("the watch ended")
		}
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no watch event in 20s")
	}
	return watch.Event{}
}

func TestWatchResume(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		cms := ts.client.CoreV1().ConfigMaps("default")
		var rvs []string
		for i := 0; i < 5; i++ {
			c, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("c%d", i)}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			rvs = append(rvs, c.ResourceVersion)
		}
		// From the second create's revision: exactly c2, c3, c4, in order.
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: rvs[1]})
		if err != nil {
			t.Fatal(err)
		}
		for i := 2; i < 5; i++ {
			ev := nextEvent(t, w)
			cm := ev.Object.(*corev1.ConfigMap)
			if ev.Type != watch.Added || cm.Name != fmt.Sprintf("c%d", i) || cm.ResourceVersion != rvs[i] {
				t.Fatalf("event %d: %s %s rv %s, want ADDED c%d rv %s", i, ev.Type, cm.Name, cm.ResourceVersion, i, rvs[i])
			}
		}
		if err := cms.Delete(ctx, "c0", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if ev := nextEvent(t, w); ev.Type != watch.Deleted || ev.Object.(*corev1.ConfigMap).Name != "c0" {
			t.Fatalf("want DELETED c0, got %s", ev.Type)
		}
		w.Stop()

		// A label-selected watch sees an object enter and leave the selection.
		sel, err := cms.Watch(ctx, metav1.ListOptions{LabelSelector: "pick=yes", ResourceVersion: rvs[4]})
		if err != nil {
			t.Fatal(err)
		}
		defer sel.Stop()
		c1, _ := cms.Get(ctx, "c1", metav1.GetOptions{})
		c1.Labels = map[string]string{"pick": "yes"}
		c1, err = cms.Update(ctx, c1, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ev := nextEvent(t, sel); ev.Type != watch.Added {
			t.Fatalf("entering the selection: want ADDED, got %s", ev.Type)
		}
		c1.Labels = nil
		if _, err := cms.Update(ctx, c1, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if ev := nextEvent(t, sel); ev.Type != watch.Deleted {
			t.Fatalf("leaving the selection: want DELETED, got %s", ev.Type)
		}

		// After a compaction, a watch from before it is 410 Gone.
		last, _ := cms.Get(ctx, "c4", metav1.GetOptions{})
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		cur, _ := cms.Get(ctx, "after", metav1.GetOptions{})
		if err := ts.srv.compact(ctx, revOf(cur)); err != nil {
			t.Fatalf("compact: %v", err)
		}
		_, err = cms.Watch(ctx, metav1.ListOptions{ResourceVersion: last.ResourceVersion})
		if err == nil {
			// client-go reports a 410 on watch as an ERROR event.
			t.Log("watch accepted; expecting an error event")
		} else if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Fatalf("watch from a compacted revision: want 410, got %v", err)
		}
		_, err = cms.List(ctx, metav1.ListOptions{ResourceVersion: last.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Fatalf("exact list at a compacted revision: want 410, got %v", err)
		}
	})
}

// An informer syncs (through sendInitialEvents, which client-go v0.37
// asks for by default) and then sees changes.
func TestInformer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cms := ts.client.CoreV1().ConfigMaps("default")
		for i := 0; i < 3; i++ {
			if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pre%d", i)}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		f := informers.NewSharedInformerFactoryWithOptions(ts.client, 0, informers.WithNamespace("default"))
		inf := f.Core().V1().ConfigMaps().Informer()
		added := make(chan string, 100)
		inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) { added <- obj.(*corev1.ConfigMap).Name }})
		f.Start(ctx.Done())
		syncCtx, syncCancel := context.WithTimeout(ctx, 30*time.Second)
		defer syncCancel()
		if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
			t.Fatal("the informer never synced")
		}
		if n := len(inf.GetStore().List()); n != 3 {
			t.Fatalf("synced with %d objects, want 3", n)
		}
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "later"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(20 * time.Second)
		for {
			select {
			case n := <-added:
				if n == "later" {
					return
				}
			case <-deadline:
				t.Fatal("the informer never saw the later create")
			}
		}
	})
}

// Paginated lists: pages of one snapshot, and an expired token is 410.
func TestPagination(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		cms := ts.client.CoreV1().ConfigMaps("default")
		for i := 0; i < 25; i++ {
			if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%02d", i)}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		page, err := cms.List(ctx, metav1.ListOptions{Limit: 10})
		if err != nil || len(page.Items) != 10 || page.Continue == "" {
			t.Fatalf("first page: %v items, continue %q, err %v", len(page.Items), page.Continue, err)
		}
		rv := page.ResourceVersion
		// A create between pages does not show up: same snapshot.
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "p99"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		names := map[string]bool{}
		for _, it := range page.Items {
			names[it.Name] = true
		}
		for page.Continue != "" {
			page, err = cms.List(ctx, metav1.ListOptions{Limit: 10, Continue: page.Continue})
			if err != nil {
				t.Fatal(err)
			}
			if page.ResourceVersion != rv {
				t.Fatalf("page at rv %s, first page at %s", page.ResourceVersion, rv)
			}
			for _, it := range page.Items {
				names[it.Name] = true
			}
		}
		if len(names) != 25 || names["p99"] {
			t.Fatalf("pages held %d names (p99 %v), want the 25 of the snapshot", len(names), names["p99"])
		}
		first, _ := cms.List(ctx, metav1.ListOptions{Limit: 5})
		cur, _ := cms.Get(ctx, "p99", metav1.GetOptions{})
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bump"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := ts.srv.compact(ctx, revOf(cur)+1); err != nil {
			t.Fatal(err)
		}
		_, err = cms.List(ctx, metav1.ListOptions{Limit: 5, Continue: first.Continue})
		if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Fatalf("expired continue token: want 410, got %v", err)
		}
		_ = ptr.To(true)
	})
}
