package admission

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func saPlugin(f *fakes, now time.Time) *ServiceAccount {
	return &ServiceAccount{ServiceAccounts: f, Namespaces: f, Wait: 2 * time.Second, Poll: 5 * time.Millisecond,
		Now: func() time.Time { return now }, Suffix: func() string { return "abcde" }}
}

func TestServiceAccountMountsToken(t *testing.T) {
	now := time.Unix(10000, 0)
	f := newFakes()
	f.namespaces["ns"] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))}}
	f.sas["ns/default"] = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "ns"}}
	pod := podWith(ctr("a", nil, nil), ctr("b", nil, nil))
	pod.Spec.InitContainers = []corev1.Container{ctr("init", nil, nil)}
	// b mounts something of its own at the token path: left alone.
	pod.Spec.Containers[1].VolumeMounts = []corev1.VolumeMount{{Name: "mine", MountPath: TokenMountPath + "/"}}
	if err := saPlugin(f, now).Admit(context.Background(), attrs(Create, "pods", "", "ns", "p", pod, nil)); err != nil {
		t.Fatal(err)
	}
	if pod.Spec.ServiceAccountName != "default" || pod.Spec.DeprecatedServiceAccount != "default" {
		t.Errorf("service account %q/%q", pod.Spec.ServiceAccountName, pod.Spec.DeprecatedServiceAccount)
	}
	if len(pod.Spec.Volumes) != 1 {
		t.Fatalf("volumes %+v", pod.Spec.Volumes)
	}
	exp, mode := int64(3607), int32(0o644)
	want := corev1.Volume{Name: "kube-api-access-abcde", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: &mode, Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: &exp, Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace",
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		}}}}
	if !equality.Semantic.DeepEqual(pod.Spec.Volumes[0], want) {
		t.Errorf("volume %+v", pod.Spec.Volumes[0])
	}
	mount := corev1.VolumeMount{Name: "kube-api-access-abcde", ReadOnly: true, MountPath: TokenMountPath}
	for _, c := range []corev1.Container{pod.Spec.InitContainers[0], pod.Spec.Containers[0]} {
		if len(c.VolumeMounts) != 1 || !equality.Semantic.DeepEqual(c.VolumeMounts[0], mount) {
			t.Errorf("container %s mounts %+v", c.Name, c.VolumeMounts)
		}
	}
	if m := pod.Spec.Containers[1].VolumeMounts; len(m) != 1 || m[0].Name != "mine" {
		t.Errorf("container b mounts %+v", m)
	}
}

func TestServiceAccountAutomount(t *testing.T) {
	now := time.Unix(10000, 0)
	no, yes := false, true
	for _, tc := range []struct {
		name    string
		pod, sa *bool
		mounted bool
	}{
		{"default", nil, nil, true},
		{"sa off", nil, &no, false},
		{"pod off", &no, nil, false},
		{"pod on wins over sa off", &yes, &no, true},
		{"pod off wins over sa on", &no, &yes, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakes()
			f.namespaces["ns"] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}}
			f.sas["ns/builder"] = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Namespace: "ns"}, AutomountServiceAccountToken: tc.sa}
			pod := podWith(ctr("a", nil, nil))
			pod.Spec.ServiceAccountName = "builder"
			pod.Spec.AutomountServiceAccountToken = tc.pod
			if err := saPlugin(f, now).Admit(context.Background(), attrs(Create, "pods", "", "ns", "p", pod, nil)); err != nil {
				t.Fatal(err)
			}
			if got := len(pod.Spec.Volumes) == 1; got != tc.mounted {
				t.Fatalf("mounted %v, want %v", got, tc.mounted)
			}
		})
	}
}

func TestServiceAccountMissing(t *testing.T) {
	now := time.Unix(10000, 0)
	f := newFakes()
	f.namespaces["old"] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "old", CreationTimestamp: metav1.NewTime(now.Add(-time.Minute))}}
	f.namespaces["young"] = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "young", CreationTimestamp: metav1.NewTime(now.Add(-2 * time.Second))}}
	p := saPlugin(f, now)

	err := p.Admit(context.Background(), attrs(Create, "pods", "", "old", "p", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "old"}}, nil))
	want := `pods "p" is forbidden: error looking up service account old/default: serviceaccount "default" not found`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	if f.saLookups != 1 {
		t.Errorf("an old namespace's missing account was looked up %d times, want once (no wait)", f.saLookups)
	}

	// In a young namespace the account appears on the 4th look: admitted.
	f.sas["young/default"] = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "young"}}
	f.saLookups, f.saAfter["young/default"] = 0, 3
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "young"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
	if err := p.Admit(context.Background(), attrs(Create, "pods", "", "young", "p", pod, nil)); err != nil {
		t.Fatalf("young namespace: %v", err)
	}
	// Never appearing: refused after the wait.
	f.saAfter["young/default"] = 1 << 30
	p.Wait = 50 * time.Millisecond
	err = p.Admit(context.Background(), attrs(Create, "pods", "", "young", "p", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "young"}}, nil))
	if err == nil {
		t.Fatal("admitted without its service account")
	}
	// Other kinds and subresources pass untouched.
	if err := p.Admit(context.Background(), attrs(Create, "configmaps", "", "old", "c", &corev1.ConfigMap{}, nil)); err != nil {
		t.Fatal(err)
	}
}
