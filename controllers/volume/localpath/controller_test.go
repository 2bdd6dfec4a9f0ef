package localpath_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/volume"
	"github.com/kelson-dev/kelson/controllers/volume/localpath"
	"github.com/kelson-dev/kelson/internal/testcluster"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
)

const timeout = 60 * time.Second

// start runs the binder and the provisioner (base directory /data/kelson).
func start(t *testing.T) *testcluster.Cluster {
	t.Helper()
	c := testcluster.Start(t)
	cctx := controllers.NewContext(c.Client, "test", testcluster.Logger())
	b := volume.NewBinder(cctx)
	p := localpath.New(cctx, localpath.Config{BaseDir: "/data/kelson"})
	ctx, cancel := context.WithCancel(context.Background())
	cctx.Start(ctx)
	done := make(chan struct{}, 2)
	go func() { b.Run(ctx); done <- struct{}{} }()
	go func() { p.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done; cctx.Close() })
	return c
}

func events(cs kubernetes.Interface, name string) (map[string]string, error) {
	evs, err := cs.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String()})
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, e := range evs.Items {
		m[e.Reason] = e.Message
	}
	return m, nil
}

func waitEvent(t *testing.T, cs kubernetes.Interface, name, reason string) string {
	t.Helper()
	var msg string
	testcluster.Eventually(t, timeout, func() error {
		m, err := events(cs, name)
		if err != nil {
			return err
		}
		var ok bool
		if msg, ok = m[reason]; !ok {
			return fmt.Errorf("no %s event on %s: %v", reason, name, m)
		}
		return nil
	})
	return msg
}

// The walkthrough: the default class exists; a claim without a
// class gets it and waits for its first consumer; once a pod using it is
// on a node, a hostPath volume pinned there is provisioned and bound;
// deleting the claim deletes the volume.
func TestLocalPathProvisioning(t *testing.T) {
	c := start(t)
	cs := c.Client
	ctx := context.Background()

	var sc *storagev1.StorageClass
	testcluster.Eventually(t, timeout, func() (err error) {
		sc, err = cs.StorageV1().StorageClasses().Get(ctx, "local-path", metav1.GetOptions{})
		return err
	})
	if sc.Provisioner != "rancher.io/local-path" || sc.Annotations[volume.AnnDefaultClass] != "true" ||
		*sc.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer || *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		t.Fatalf("storage class %+v", sc)
	}

	pvcs := cs.CoreV1().PersistentVolumeClaims("default")
	claim, err := pvcs.Create(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}}}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if claim.Spec.StorageClassName == nil || *claim.Spec.StorageClassName != "local-path" {
		t.Fatalf("claim class %v, want the default local-path", claim.Spec.StorageClassName)
	}
	if msg := waitEvent(t, cs, "data", volume.ReasonWaitForFirstConsumer); msg != "waiting for first consumer to be created before binding" {
		t.Fatalf("WaitForFirstConsumer message %q", msg)
	}
	if c, _ := pvcs.Get(ctx, "data", metav1.GetOptions{}); c.Status.Phase != corev1.ClaimPending || c.Spec.VolumeName != "" {
		t.Fatalf("claim before its consumer: %+v", c.Status)
	}

	// The consumer lands on node n1 (set directly, as a scheduler that does
	// not know about volumes would bind it).
	if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1",
		Labels: map[string]string{volume.LabelHostname: "n1-host"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvName := "pvc-" + string(claim.UID)
	testcluster.Eventually(t, timeout, func() error {
		c, err := pvcs.Get(ctx, "data", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if c.Status.Phase != corev1.ClaimBound || c.Spec.VolumeName != pvName {
			return fmt.Errorf("claim phase %s volume %q", c.Status.Phase, c.Spec.VolumeName)
		}
		if c.Annotations[volume.AnnSelectedNode] != "n1" {
			return fmt.Errorf("claim annotations %v", c.Annotations)
		}
		return nil
	})
	pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantPath := "/data/kelson/default_data_" + pvName
	switch {
	case pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != wantPath:
		t.Fatalf("volume source %+v, want hostPath %s", pv.Spec.PersistentVolumeSource, wantPath)
	case pv.Spec.NodeAffinity == nil || !volume.NodeAllows(pv, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{volume.LabelHostname: "n1-host"}}}) ||
		volume.NodeAllows(pv, volume.NodeOrName(nil, "n2")):
		t.Fatalf("node affinity %+v, want n1's hostname only", pv.Spec.NodeAffinity)
	case pv.Status.Phase != corev1.VolumeBound || pv.Spec.StorageClassName != "local-path" ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.Annotations[volume.AnnProvisionedBy] != "rancher.io/local-path":
		t.Fatalf("volume %+v", pv)
	}
	if q := pv.Spec.Capacity[corev1.ResourceStorage]; q.Cmp(resource.MustParse("2Gi")) != 0 {
		t.Fatalf("capacity %v", q.String())
	}
	if msg := waitEvent(t, cs, "data", "ProvisioningSucceeded"); msg != "Successfully provisioned volume "+pvName {
		t.Fatalf("ProvisioningSucceeded message %q", msg)
	}
	waitEvent(t, cs, "data", volume.ReasonExternalProvisioning)

	// Reclaim policy Delete: the volume goes with the claim.
	if err := cs.CoreV1().Pods("default").Delete(ctx, "app", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	if err := pvcs.Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, timeout, func() error {
		if _, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("volume after its claim's deletion: %v", err)
		}
		return nil
	})
}

// A claim the local-path volumes cannot serve says why.
func TestLocalPathRefusals(t *testing.T) {
	c := start(t)
	cs := c.Client
	ctx := context.Background()
	testcluster.Eventually(t, timeout, func() error {
		_, err := cs.StorageV1().StorageClasses().Get(ctx, "local-path", metav1.GetOptions{})
		return err
	})
	class := "local-path"
	if _, err := cs.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "shared", Annotations: map[string]string{volume.AnnSelectedNode: "n1"}},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &class, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	msg := waitEvent(t, cs, "shared", "ProvisioningFailed")
	if msg != `failed to provision volume with StorageClass "local-path": local-path volumes are node-local: access mode ReadWriteMany is not supported (use ReadWriteOnce)` {
		t.Fatalf("ProvisioningFailed message %q", msg)
	}
}
