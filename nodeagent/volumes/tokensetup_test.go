package volumes_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testcluster"
	"github.com/kelson-dev/kelson/nodeagent/volumes"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// tokenAPI answers "create serviceaccounts/token" on a fake clientset:
// it records every request and issues numbered tokens that expire
// ExpirationSeconds after the clock's now; fail, when set, is the
// answer instead.
type tokenAPI struct {
	now func() time.Time

	mu   sync.Mutex
	reqs []tokenCall
	fail error
	n    int
}

type tokenCall struct {
	Namespace, ServiceAccount string
	Spec                      authenticationv1.TokenRequestSpec
}

func (a *tokenAPI) install(cs *fake.Clientset) {
	cs.PrependReactor("create", "serviceaccounts", func(action k8stesting.Action) (bool, k8sruntime.Object, error) {
		if action.GetSubresource() != "token" {
			return false, nil, nil
		}
		ca := action.(k8stesting.CreateAction)
		tr := ca.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		a.mu.Lock()
		defer a.mu.Unlock()
		a.reqs = append(a.reqs, tokenCall{Namespace: action.GetNamespace(), ServiceAccount: action.(k8stesting.CreateActionImpl).Name, Spec: tr.Spec})
		if a.fail != nil {
			return true, nil, a.fail
		}
		a.n++
		tr.Status.Token = fmt.Sprintf("jwt-%d", a.n)
		tr.Status.ExpirationTimestamp = metav1.NewTime(a.now().Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second))
		return true, tr, nil
	})
}

func (a *tokenAPI) calls() []tokenCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]tokenCall(nil), a.reqs...)
}

func (a *tokenAPI) setFail(err error) {
	a.mu.Lock()
	a.fail = err
	a.mu.Unlock()
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func tokenPod() *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: corev1.PodSpec{ServiceAccountName: "builder",
			Volumes: []corev1.Volume{{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr(int64(3607))}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "vault/token", Audience: "vault", ExpirationSeconds: ptr(int64(600))}},
			}}}}},
			Containers: []corev1.Container{{Name: "web", VolumeMounts: []corev1.VolumeMount{{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}}}},
		}}
}

// TestServiceAccountTokens: Setup asks the API for a token per source
// (audience, lifetime, bound to the pod), writes them 0644 with the
// volume's other files behind ..data, reuses them until 80% of their
// lifetime has passed, then writes fresh ones in the same directory (the
// mount does not change, so no container restarts); a failed request
// without a valid token fails Setup with ErrTokenRequest and never shows
// a token; Teardown forgets the pod's tokens.
func TestServiceAccountTokens(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	clk := &clock{t: time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)}
	cs := fake.NewClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: "shop"}, Data: map[string]string{"ca.crt": "CA PEM"}})
	api := &tokenAPI{now: clk.Now}
	api.install(cs)
	m, err := volumes.New(volumes.Config{Root: filepath.Join(t.TempDir(), "pods"), Client: cs, NodeName: "n1", Logger: testcluster.Logger(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	pod := tokenPod()
	pod.UID = "u-tok"
	t.Cleanup(func() { m.Teardown(ctx, pod.UID) })

	mounts, err := m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	dir := mountFor(t, mounts["web"], "/var/run/secrets/kubernetes.io/serviceaccount").HostPath
	if dir != m.VolumeDir(pod.UID, volumes.PluginProjected, "kube-api-access") || !isMount(t, dir) {
		t.Fatalf("token volume at %s (a tmpfs: %v)", dir, isMount(t, dir))
	}
	calls := api.calls()
	if len(calls) != 2 {
		t.Fatalf("%d token requests, want 2: %+v", len(calls), calls)
	}
	byAud := map[string]tokenCall{}
	for _, c := range calls {
		if c.Namespace != "shop" || c.ServiceAccount != "builder" {
			t.Errorf("token asked of %s/%s, want shop/builder", c.Namespace, c.ServiceAccount)
		}
		if b := c.Spec.BoundObjectRef; b == nil || b.Kind != "Pod" || b.APIVersion != "v1" || b.Name != "web" || b.UID != pod.UID {
			t.Errorf("token bound to %+v, want the pod", c.Spec.BoundObjectRef)
		}
		aud := ""
		if len(c.Spec.Audiences) == 1 {
			aud = c.Spec.Audiences[0]
		} else if len(c.Spec.Audiences) > 1 {
			t.Errorf("audiences %v", c.Spec.Audiences)
		}
		byAud[aud] = c
	}
	if c, ok := byAud[""]; !ok || *c.Spec.ExpirationSeconds != 3607 {
		t.Errorf("the API-audience token request: %+v", c)
	}
	if c, ok := byAud["vault"]; !ok || *c.Spec.ExpirationSeconds != 600 {
		t.Errorf("the vault token request: %+v", c)
	}
	tokenOf := func(p string) string { return read(t, filepath.Join(dir, p)) }
	first, firstVault := tokenOf("token"), tokenOf("vault/token")
	if !strings.HasPrefix(first, "jwt-") || !strings.HasPrefix(firstVault, "jwt-") || first == firstVault {
		t.Errorf("tokens %q and %q", first, firstVault)
	}
	if got := tokenOf("ca.crt"); got != "CA PEM" {
		t.Errorf("ca.crt %q", got)
	}
	fi, err := os.Stat(filepath.Join(dir, "token"))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("token file: %v %v, want mode 0644", fi, err)
	}
	if l, _ := os.Readlink(filepath.Join(dir, "token")); l != "..data/token" {
		t.Errorf("token -> %q, want ..data/token", l)
	}
	v1, _ := os.Readlink(filepath.Join(dir, "..data"))

	// Before 80% of the shorter token's life (480 s of 600): nothing new.
	clk.Add(7 * time.Minute)
	if _, err := m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if n := len(api.calls()); n != 2 {
		t.Errorf("%d token requests after 7 min, want still 2", n)
	}
	if v, _ := os.Readlink(filepath.Join(dir, "..data")); v != v1 {
		t.Errorf("the volume was rewritten without a new token: %s -> %s", v1, v)
	}
	// At 8 min the 600 s token is due, the 3607 s one is not.
	clk.Add(time.Minute)
	mounts2, err := m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	calls = api.calls()
	if len(calls) != 3 || calls[2].Spec.Audiences[0] != "vault" {
		t.Fatalf("after 8 min: requests %+v, want a third for vault", calls)
	}
	v2, _ := os.Readlink(filepath.Join(dir, "..data"))
	if v2 == v1 {
		t.Errorf("..data not swapped for the refreshed token")
	}
	if tokenOf("vault/token") == firstVault || tokenOf("token") != first {
		t.Errorf("after the vault refresh: token %q (was %q), vault %q (was %q)", tokenOf("token"), first, tokenOf("vault/token"), firstVault)
	}
	if mountFor(t, mounts2["web"], "/var/run/secrets/kubernetes.io/serviceaccount").HostPath != dir {
		t.Errorf("the refresh moved the mount")
	}

	// The API fails while the tokens are still valid: they stay.
	secretText := "jwt-"
	api.setFail(apierrors.NewForbidden(schema.GroupResource{Resource: "serviceaccounts"}, "builder", errors.New("no")))
	clk.Add(8 * time.Minute) // vault due again (still valid for 2 min)
	if _, err := m.Setup(ctx, pod); err != nil {
		t.Errorf("a failed refresh with a valid token failed Setup: %v", err)
	}
	// Past its expiry: Setup fails, naming the source, showing no token.
	clk.Add(3 * time.Minute)
	_, err = m.Setup(ctx, pod)
	if !errors.Is(err, volumes.ErrTokenRequest) || !strings.Contains(err.Error(), `"vault/token"`) || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("expired token, API failing: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), secretText) {
		t.Errorf("the error shows a token: %v", err)
	}
	// The API is back: the next Setup (the pod worker's retry) works.
	api.setFail(nil)
	if _, err := m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}

	// Teardown forgets the tokens: a pod set up again asks afresh.
	if err := m.Teardown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	before := len(api.calls())
	if _, err := m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if n := len(api.calls()); n != before+2 {
		t.Errorf("%d requests after a teardown and a new Setup, want %d", n, before+2)
	}
}

// TestServiceAccountTokenMissingAccount: the API answers 404 for the
// service account: Setup fails with ErrTokenRequest (FailedMount).
func TestServiceAccountTokenMissingAccount(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	cs := fake.NewClientset()
	api := &tokenAPI{now: time.Now, fail: apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccounts"}, "builder")}
	api.install(cs)
	m, _ := newManager(t, cs)
	pod := tokenPod()
	pod.UID = "u-nosa"
	pod.Spec.Volumes[0].Projected.Sources = pod.Spec.Volumes[0].Projected.Sources[:1]
	t.Cleanup(func() { m.Teardown(ctx, pod.UID) })
	if _, err := m.Setup(ctx, pod); !errors.Is(err, volumes.ErrTokenRequest) || !apierrors.IsNotFound(err) {
		t.Errorf("missing service account: %v", err)
	}
}
