package volumes_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testcluster"
	"github.com/kelson-dev/kelson/nodeagent/volumes"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestWithAPIServer reads ConfigMaps, Secrets, claims and volumes through
// a real Kelson API server: a missing ConfigMap fails Setup naming it,
// then works once created; a ConfigMap update reaches the volume at the
// next Setup; a bound local-path style claim becomes its directory.
func TestWithAPIServer(t *testing.T) {
	c := testcluster.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs := c.Client
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	storage := filepath.Join(t.TempDir(), "storage")
	if err := os.MkdirAll(storage, 0o755); err != nil {
		t.Fatal(err)
	}
	claim, err := cs.CoreV1().PersistentVolumeClaims("shop").Create(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	pvPath := filepath.Join(storage, "shop_data_pvc-"+string(claim.UID))
	if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-" + string(claim.UID)},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: pvPath, Type: &dirOrCreate}},
			ClaimRef:               &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "shop", Name: "data", UID: claim.UID},
		}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Secrets("shop").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tls"},
		Data: map[string][]byte{"tls.key": []byte("KEY")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	m, err := volumes.New(volumes.Config{Root: filepath.Join(t.TempDir(), "pods"), Client: cs, NodeName: "n1", Logger: testcluster.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "u-int"}, Spec: corev1.PodSpec{
		Volumes: []corev1.Volume{
			{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "site"}}}},
			{Name: "all", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "tls"}}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "site"}, Items: []corev1.KeyToPath{{Key: "index.html", Path: "site/index.html"}}}},
			}}}},
			{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
		},
		Containers: []corev1.Container{{Name: "web", VolumeMounts: []corev1.VolumeMount{
			{Name: "cfg", MountPath: "/usr/share/www"}, {Name: "all", MountPath: "/etc/all"}, {Name: "data", MountPath: "/data", SubPath: "www"}}}},
	}}
	if os.Geteuid() != 0 { // projected volumes live on a tmpfs
		pod.Spec.Volumes = append(pod.Spec.Volumes[:1], pod.Spec.Volumes[2])
		pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts[:1], pod.Spec.Containers[0].VolumeMounts[2])
	}
	t.Cleanup(func() { m.Teardown(context.Background(), pod.UID) })

	// The claim is not bound and the ConfigMap does not exist yet.
	_, err = m.Setup(ctx, pod)
	if !errors.Is(err, volumes.ErrNotFound) || !strings.Contains(err.Error(), `configmap "site" not found in namespace shop`) ||
		!errors.Is(err, volumes.ErrNotBound) {
		t.Fatalf("Setup before the objects exist: %v", err)
	}
	claim.Spec.VolumeName = "pvc-" + string(claim.UID)
	if claim, err = cs.CoreV1().PersistentVolumeClaims("shop").Update(ctx, claim, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	claim.Status.Phase = corev1.ClaimBound
	if _, err = cs.CoreV1().PersistentVolumeClaims("shop").UpdateStatus(ctx, claim, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm, err := cs.CoreV1().ConfigMaps("shop").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "site"},
		Data: map[string]string{"index.html": "It works!"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	www := mountFor(t, mounts["web"], "/usr/share/www").HostPath
	if got := read(t, filepath.Join(www, "index.html")); got != "It works!" {
		t.Errorf("index.html = %q", got)
	}
	if d := mountFor(t, mounts["web"], "/data"); d.HostPath != filepath.Join(pvPath, "www") || d.ReadOnly {
		t.Errorf("claim mount %+v, want %s", d, filepath.Join(pvPath, "www"))
	}
	if os.Geteuid() == 0 {
		all := mountFor(t, mounts["web"], "/etc/all").HostPath
		if read(t, filepath.Join(all, "tls.key")) != "KEY" || read(t, filepath.Join(all, "site", "index.html")) != "It works!" {
			t.Error("projected volume content")
		}
	}
	cm.Data["index.html"] = "It changed!"
	if _, err := cs.CoreV1().ConfigMaps("shop").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(www, "index.html")); got != "It changed!" {
		t.Errorf("index.html after the update = %q", got)
	}
	if err := os.WriteFile(filepath.Join(pvPath, "www", "kept"), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Teardown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(pvPath, "www", "kept")); got != "1" {
		t.Errorf("claim content after teardown %q", got)
	}
}

// TestTokenWithAPIServer asks a real Kelson API server for a pod's
// projected token (TokenRequest, serviceaccounts/<name>/token). It skips
// while the API answers 404 for that subresource (an API server built
// before TokenRequest).
func TestTokenWithAPIServer(t *testing.T) {
	needRoot(t)
	c := testcluster.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs := c.Client
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ServiceAccounts("shop").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	probe := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(600))}}
	if _, err := cs.CoreV1().ServiceAccounts("shop").CreateToken(ctx, "builder", probe, metav1.CreateOptions{}); apierrors.IsNotFound(err) {
		t.Skipf("the API server has no TokenRequest (serviceaccounts/token answers 404): %v", err)
	}
	pod := tokenPod()
	pod.Spec.NodeName = "n1"
	pod.Spec.Containers[0].Image = "registry.invalid/web"
	pod, err := cs.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := volumes.New(volumes.Config{Root: filepath.Join(t.TempDir(), "pods"), Client: cs, NodeName: "n1", Logger: testcluster.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Teardown(context.Background(), pod.UID) })
	mounts, err := m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	dir := mountFor(t, mounts["web"], "/var/run/secrets/kubernetes.io/serviceaccount").HostPath
	for _, p := range []string{"token", "vault/token"} {
		if tok := read(t, filepath.Join(dir, p)); strings.Count(tok, ".") != 2 {
			t.Errorf("%s does not hold a JWT (%d bytes)", p, len(tok))
		}
	}
	if got := read(t, filepath.Join(dir, "namespace")); got != "shop" {
		t.Errorf("namespace %q", got)
	}
}
