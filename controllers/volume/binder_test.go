package volume_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/controllers"
	"github.com/kelson-dev/kelson/controllers/volume"
	"github.com/kelson-dev/kelson/internal/testcluster"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

const timeout = 60 * time.Second

func startBinder(t *testing.T) *testcluster.Cluster {
	t.Helper()
	c := testcluster.Start(t)
	cctx := controllers.NewContext(c.Client, "test", testcluster.Logger())
	b := volume.NewBinder(cctx)
	ctx, cancel := context.WithCancel(context.Background())
	cctx.Start(ctx)
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; cctx.Close() })
	return c
}

func hostPathPV(name, size string, policy corev1.PersistentVolumeReclaimPolicy, class string) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, PersistentVolumeReclaimPolicy: policy,
			StorageClassName:       class,
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/" + name}}}}
}

func newClaim(name, size string, class *string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: class, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}}}
}

// waitBound waits for claim and volume to be bound to each other, every
// step written.
func waitBound(t *testing.T, cs kubernetes.Interface, claimName, pvName string) {
	t.Helper()
	ctx := context.Background()
	testcluster.Eventually(t, timeout, func() error {
		c, err := cs.CoreV1().PersistentVolumeClaims("default").Get(ctx, claimName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		switch {
		case c.Spec.VolumeName != pvName:
			return fmt.Errorf("claim %s volumeName %q, want %s", claimName, c.Spec.VolumeName, pvName)
		case c.Status.Phase != corev1.ClaimBound:
			return fmt.Errorf("claim phase %s", c.Status.Phase)
		case c.Annotations[volume.AnnBindCompleted] != "yes":
			return fmt.Errorf("claim annotations %v", c.Annotations)
		case pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != c.UID:
			return fmt.Errorf("volume claimRef %+v", pv.Spec.ClaimRef)
		case pv.Status.Phase != corev1.VolumeBound:
			return fmt.Errorf("volume phase %s", pv.Status.Phase)
		}
		capacity := c.Status.Capacity[corev1.ResourceStorage]
		if want := pv.Spec.Capacity[corev1.ResourceStorage]; capacity.Cmp(want) != 0 {
			return fmt.Errorf("claim capacity %v, want %v", capacity.String(), want.String())
		}
		return nil
	})
}

func waitPhase(t *testing.T, cs kubernetes.Interface, pvName string, phase corev1.PersistentVolumePhase) {
	t.Helper()
	testcluster.Eventually(t, timeout, func() error {
		pv, err := cs.CoreV1().PersistentVolumes().Get(context.Background(), pvName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pv.Status.Phase != phase {
			return fmt.Errorf("volume %s phase %s, want %s", pvName, pv.Status.Phase, phase)
		}
		return nil
	})
}

// WaitEvent waits for an Event with reason on the named object.
func waitEvent(t *testing.T, cs kubernetes.Interface, ns, name, reason string) corev1.Event {
	t.Helper()
	var found corev1.Event
	testcluster.Eventually(t, timeout, func() error {
		evs, err := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String()})
		if err != nil {
			return err
		}
		var reasons []string
		for _, e := range evs.Items {
			if e.Reason == reason {
				found = e
				return nil
			}
			reasons = append(reasons, e.Reason)
		}
		return fmt.Errorf("no %s event on %s (have %v)", reason, name, reasons)
	})
	return found
}

// Static volumes: a claim binds the smallest that fits; Retain keeps the
// volume Released after the claim goes, Delete deletes it.
func TestBindStaticVolumes(t *testing.T) {
	c := startBinder(t)
	cs := c.Client
	ctx := context.Background()
	pvs, pvcs := cs.CoreV1().PersistentVolumes(), cs.CoreV1().PersistentVolumeClaims("default")
	for _, pv := range []*corev1.PersistentVolume{
		hostPathPV("big", "10Gi", corev1.PersistentVolumeReclaimRetain, ""),
		hostPathPV("small", "2Gi", corev1.PersistentVolumeReclaimRetain, ""),
		hostPathPV("tiny", "100Mi", corev1.PersistentVolumeReclaimRetain, ""),
		hostPathPV("scratch", "1Gi", corev1.PersistentVolumeReclaimDelete, "scratch"),
	} {
		if _, err := pvs.Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitPhase(t, cs, "big", corev1.VolumeAvailable)

	if _, err := pvcs.Create(ctx, newClaim("data", "1Gi", ptr.To("")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBound(t, cs, "data", "small")
	pv, _ := pvs.Get(ctx, "small", metav1.GetOptions{})
	claim, _ := pvcs.Get(ctx, "data", metav1.GetOptions{})
	if pv.Annotations[volume.AnnBoundByController] != "yes" || claim.Annotations[volume.AnnBoundByController] != "yes" {
		t.Fatalf("bound-by-controller annotations: volume %v, claim %v", pv.Annotations, claim.Annotations)
	}

	// No volume fits: the claim waits and says why, until one appears.
	if _, err := pvcs.Create(ctx, newClaim("huge", "50Gi", ptr.To("")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, cs, "default", "huge", volume.ReasonFailedBinding)
	if ev.Message != "no persistent volumes available for this claim and no storage class is set" {
		t.Fatalf("FailedBinding message %q", ev.Message)
	}
	if _, err := pvs.Create(ctx, hostPathPV("giant", "64Gi", corev1.PersistentVolumeReclaimRetain, ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBound(t, cs, "huge", "giant")

	// Retain: Released, and not bound again.
	if err := pvcs.Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, cs, "small", corev1.VolumeReleased)
	if _, err := pvcs.Create(ctx, newClaim("data2", "1Gi", ptr.To("")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBound(t, cs, "data2", "big")

	// Delete: the volume goes with its claim.
	if _, err := pvcs.Create(ctx, newClaim("tmp", "1Gi", ptr.To("scratch")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev = waitEvent(t, cs, "default", "tmp", volume.ReasonProvisioningFailed)
	if ev.Message != `storageclass.storage.k8s.io "scratch" not found` {
		t.Fatalf("ProvisioningFailed message %q", ev.Message)
	}
	if _, err := cs.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "scratch"},
		Provisioner: volume.NoProvisioner}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBound(t, cs, "tmp", "scratch")
	if err := pvcs.Delete(ctx, "tmp", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, timeout, func() error {
		if _, err := pvs.Get(ctx, "scratch", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("volume scratch after its claim's deletion: %v", err)
		}
		return nil
	})
}

// A claim asking for a volume by name, and a volume pre-bound to a claim
// by a user, are bound as asked; a bound claim whose volume is deleted
// is Lost.
func TestBindAsAsked(t *testing.T) {
	c := startBinder(t)
	cs := c.Client
	ctx := context.Background()
	pvs, pvcs := cs.CoreV1().PersistentVolumes(), cs.CoreV1().PersistentVolumeClaims("default")
	for _, pv := range []*corev1.PersistentVolume{
		hostPathPV("smallest", "1Gi", corev1.PersistentVolumeReclaimRetain, ""),
		hostPathPV("chosen", "5Gi", corev1.PersistentVolumeReclaimRetain, ""),
	} {
		if _, err := pvs.Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pre := hostPathPV("prebound", "3Gi", corev1.PersistentVolumeReclaimRetain, "")
	pre.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "default", Name: "wants-prebound"}
	if _, err := pvs.Create(ctx, pre, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	named := newClaim("named", "1Gi", ptr.To(""))
	named.Spec.VolumeName = "chosen"
	if _, err := pvcs.Create(ctx, named, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pvcs.Create(ctx, newClaim("wants-prebound", "1Gi", ptr.To("")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBound(t, cs, "named", "chosen")
	waitBound(t, cs, "wants-prebound", "prebound")
	if pv, _ := pvs.Get(ctx, "smallest", metav1.GetOptions{}); pv.Spec.ClaimRef != nil {
		t.Fatalf("smallest volume bound to %v", pv.Spec.ClaimRef)
	}

	if err := pvs.Delete(ctx, "chosen", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, cs, "default", "named", volume.ReasonClaimLost)
	testcluster.Eventually(t, timeout, func() error {
		c, err := pvcs.Get(ctx, "named", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if c.Status.Phase != corev1.ClaimLost {
			return fmt.Errorf("claim phase %s, want Lost", c.Status.Phase)
		}
		return nil
	})
}
