package resourcequota_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/resourcequota"
	"github.com/kelson-dev/kelson/internal/testcluster"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func rl(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

// Quotas' usage follows the namespace's pods, services, claims and
// config maps, in scoped and unscoped quotas.
func TestQuotaUsage(t *testing.T) {
	c := testcluster.Start(t)
	cs := c.Client
	ctx := context.Background()
	cctx := controllers.NewContext(cs, "test", testcluster.Logger())
	ctrl := resourcequota.New(cctx)
	runCtx, cancel := context.WithCancel(ctx)
	cctx.Start(runCtx)
	done := make(chan struct{})
	go func() { ctrl.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; cctx.Close() })

	ns := "default"
	quotas := cs.CoreV1().ResourceQuotas(ns)
	if _, err := quotas.Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "all"},
		Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "10", "requests.cpu", "4", "limits.memory", "8Gi", "configmaps", "10",
			"services", "5", "persistentvolumeclaims", "5", "requests.storage", "10Gi", "count/deployments.apps", "3")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := quotas.Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "besteffort"},
		Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "3"), Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	wait := func(name string, want corev1.ResourceList) {
		t.Helper()
		testcluster.Eventually(t, 60*time.Second, func() error {
			q, err := quotas.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(q.Status.Hard) != len(q.Spec.Hard) {
				return fmt.Errorf("status.hard %v, spec.hard %v", q.Status.Hard, q.Spec.Hard)
			}
			for k, v := range want {
				if got, ok := q.Status.Used[k]; !ok || got.Cmp(v) != 0 {
					return fmt.Errorf("%s: used %s = %v, want %v", name, k, q.Status.Used[k], v.String())
				}
			}
			return nil
		})
	}
	wait("all", rl("pods", "0", "requests.cpu", "0", "configmaps", "0", "services", "1", "persistentvolumeclaims", "0", "requests.storage", "0", "count/deployments.apps", "0"))
	wait("besteffort", rl("pods", "0"))

	pods := cs.CoreV1().Pods(ns)
	mk := func(name string, res corev1.ResourceRequirements) {
		t.Helper()
		if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Resources: res}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("a", corev1.ResourceRequirements{Requests: rl("cpu", "500m"), Limits: rl("memory", "1Gi")})
	mk("b", corev1.ResourceRequirements{Requests: rl("cpu", "1")})
	mk("be", corev1.ResourceRequirements{})
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "2Gi")}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The kubernetes Service exists in default from the start.
	wait("all", rl("pods", "3", "requests.cpu", "1500m", "limits.memory", "1Gi", "configmaps", "1", "services", "1",
		"persistentvolumeclaims", "1", "requests.storage", "2Gi"))
	wait("besteffort", rl("pods", "1"))

	// A finished pod no longer counts; a deleted one neither.
	b, err := pods.Get(ctx, "b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b.Status.Phase = corev1.PodSucceeded
	if _, err := pods.UpdateStatus(ctx, b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wait("all", rl("pods", "2", "requests.cpu", "500m"))
	if err := pods.Delete(ctx, "be", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wait("besteffort", rl("pods", "0"))
	wait("all", rl("pods", "1"))

	// Raising a limit shows in status.hard.
	q, err := quotas.Get(ctx, "all", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q.Spec.Hard["pods"] = resource.MustParse("20")
	if _, err := quotas.Update(ctx, q, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 60*time.Second, func() error {
		q, err := quotas.Get(ctx, "all", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if h := q.Status.Hard["pods"]; h.Cmp(resource.MustParse("20")) != 0 {
			return fmt.Errorf("status.hard pods = %v", h.String())
		}
		return nil
	})
}
