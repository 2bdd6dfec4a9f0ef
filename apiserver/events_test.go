package apiserver

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// TestEventsBothAPIs: events.k8s.io/v1 and core/v1 serve the same objects
// (one store prefix, converted on read and write): an Event written through
// either reads back, lists and watches through the other, field for field.
func TestEventsBothAPIs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		now := metav1.NewMicroTime(time.Now().Truncate(time.Microsecond))
		w, err := ts.client.EventsV1().Events("default").Watch(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()

		// Written as events.k8s.io/v1 (as kube-scheduler writes them).
		ev := &eventsv1.Event{
			ObjectMeta:          metav1.ObjectMeta{Name: "web-0.1", Namespace: "default"},
			EventTime:           now,
			Series:              &eventsv1.EventSeries{Count: 3, LastObservedTime: now},
			ReportingController: "default-scheduler",
			ReportingInstance:   "default-scheduler-a",
			Action:              "Scheduling",
			Reason:              "FailedScheduling",
			Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-0", UID: "u1"},
			Note:                "0/3 nodes are available: 3 Insufficient cpu.",
			Type:                corev1.EventTypeWarning,
		}
		if _, err := ts.client.EventsV1().Events("default").Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		core, err := ts.client.CoreV1().Events("default").Get(ctx, "web-0.1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if core.InvolvedObject.Name != "web-0" || core.Message != ev.Note || core.Reason != "FailedScheduling" ||
			core.ReportingController != "default-scheduler" || core.Series == nil || core.Series.Count != 3 || core.Type != "Warning" {
			t.Fatalf("read through core/v1: %+v", core)
		}
		// kubectl describe's query: core/v1 with an involvedObject field selector.
		list, err := ts.client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=web-0"})
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("core list by involvedObject.name: %v %v", list, err)
		}

		// Written as core/v1 (as client-go's record package writes them).
		if _, err := ts.client.CoreV1().Events("default").Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: "web-0.2", Namespace: "default"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-0"},
			Reason:         "Scheduled", Message: "Successfully assigned default/web-0 to n1", Type: "Normal",
			Source: corev1.EventSource{Component: "default-scheduler"}, Count: 1,
			FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(),
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := ts.client.EventsV1().Events("default").Get(ctx, "web-0.2", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Regarding.Name != "web-0" || got.Note != "Successfully assigned default/web-0 to n1" ||
			got.DeprecatedSource.Component != "default-scheduler" || got.DeprecatedCount != 1 {
			t.Fatalf("read through events.k8s.io/v1: %+v", got)
		}
		names := map[string]bool{}
		for len(names) < 2 {
			select {
			case e := <-w.ResultChan():
				if e.Type != watch.Added {
					t.Fatalf("watch event %s %v", e.Type, e.Object)
				}
				names[e.Object.(*eventsv1.Event).Name] = true
			case <-time.After(20 * time.Second):
				t.Fatalf("events.k8s.io watch saw %v only", names)
			}
		}

		// The newer API's rules: a reporting controller, an event time.
		_, err = ts.client.EventsV1().Events("default").Create(ctx, &eventsv1.Event{
			ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: "default"},
			Regarding:  corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-0"},
			Reason:     "X", Action: "Y", Type: "Normal",
		}, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) {
			t.Fatalf("an event without eventTime or reportingController: %v, want 422", err)
		}
	})
}
