package replicaset

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/internal/testcluster"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

// TestFailedCreate: a refused creation (as a quota would refuse it) is a
// FailedCreate Event and a ReplicaFailure condition, costs one call per
// sync (slow start), and clears once creations succeed.
func TestFailedCreate(t *testing.T) {
	rs := testRS(5)
	rs.Namespace, rs.UID = "default", "rs-uid"
	client := fake.NewClientset(rs)
	var refuse atomic.Bool
	var calls atomic.Int32
	refuse.Store(true)
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		calls.Add(1)
		if refuse.Load() {
			return true, nil, apierrors.NewForbidden(corev1.Resource("pods"), "", fmt.Errorf("exceeded quota: pods=5"))
		}
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		p.Name = p.GenerateName + fmt.Sprint(calls.Load())
		return false, nil, nil
	})
	rec := record.NewFakeRecorder(1000)
	cctx := &controllers.Context{Client: client, Informers: informers.NewSharedInformerFactory(client, 0),
		Recorder: rec, Logger: testcluster.Logger(), Now: time.Now}
	c := New(cctx)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cctx.Start(ctx)
	go func() { _ = c.Run(ctx) }()

	testcluster.Eventually(t, 30*time.Second, func() error {
		cur, err := client.AppsV1().ReplicaSets("default").Get(ctx, "rs", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cs := cur.Status.Conditions; len(cs) != 1 || cs[0].Type != appsv1.ReplicaSetReplicaFailure || cs[0].Reason != ReasonFailedCreate ||
			!strings.Contains(cs[0].Message, "exceeded quota") {
			return fmt.Errorf("conditions %+v", cs)
		}
		return nil
	})
	select {
	case e := <-rec.Events:
		if !strings.HasPrefix(e, "Warning FailedCreate Error creating: ") {
			t.Fatalf("event %q", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no FailedCreate event")
	}
	if n := calls.Load(); n > 20 {
		t.Fatalf("%d create calls while every one is refused: slow start should try one per sync", n)
	}
	refuse.Store(false)
	testcluster.Eventually(t, 30*time.Second, func() error {
		cur, err := client.AppsV1().ReplicaSets("default").Get(ctx, "rs", metav1.GetOptions{})
		if err != nil {
			return err
		}
		pods, _ := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if len(pods.Items) != 5 || cur.Status.Replicas != 5 || len(cur.Status.Conditions) != 0 {
			return fmt.Errorf("%d pods, status %+v", len(pods.Items), cur.Status)
		}
		return nil
	})
}
