package volumes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestContainerMounts(t *testing.T) {
	vols := map[string]volumeInfo{
		"data": {Path: "/r/data"},
		"cfg":  {Path: "/r/cfg", ReadOnly: true, Managed: true},
	}
	env := map[string]string{"POD": "web-1", "NS": "shop"}
	for _, tc := range []struct {
		name string
		m    corev1.VolumeMount
		want mountReq
		err  string
	}{
		{name: "plain", m: corev1.VolumeMount{Name: "data", MountPath: "/data"}, want: mountReq{Volume: "data", Root: "/r/data", ContainerPath: "/data"}},
		{name: "readOnly", m: corev1.VolumeMount{Name: "data", MountPath: "/data", ReadOnly: true}, want: mountReq{Volume: "data", Root: "/r/data", ContainerPath: "/data", ReadOnly: true}},
		{name: "managed is read-only", m: corev1.VolumeMount{Name: "cfg", MountPath: "/etc/cfg"}, want: mountReq{Volume: "cfg", Root: "/r/cfg", ContainerPath: "/etc/cfg", ReadOnly: true, Managed: true}},
		{name: "subPath", m: corev1.VolumeMount{Name: "data", MountPath: "/d", SubPath: "a/./b/"}, want: mountReq{Volume: "data", Root: "/r/data", SubPath: "a/b", ContainerPath: "/d"}},
		{name: "subPathExpr", m: corev1.VolumeMount{Name: "data", MountPath: "/d", SubPathExpr: "$(NS)/$(POD)/$(NOPE)"}, want: mountReq{Volume: "data", Root: "/r/data", SubPath: "shop/web-1/$(NOPE)", ContainerPath: "/d"}},
		{name: "subPath ..", m: corev1.VolumeMount{Name: "data", MountPath: "/d", SubPath: "a/../../etc"}, err: "must not contain '..'"},
		{name: "subPathExpr ..", m: corev1.VolumeMount{Name: "data", MountPath: "/d", SubPathExpr: "$(DOTS)/x"}, err: "must not contain '..'"},
		{name: "absolute subPath", m: corev1.VolumeMount{Name: "data", MountPath: "/d", SubPath: "/etc"}, err: "must be a relative path"},
		{name: "both", m: corev1.VolumeMount{Name: "data", MountPath: "/d", SubPath: "a", SubPathExpr: "b"}, err: "mutually exclusive"},
		{name: "unknown volume", m: corev1.VolumeMount{Name: "nope", MountPath: "/d"}, err: `volumeMount "nope" names no volume`},
		{name: "relative mountPath", m: corev1.VolumeMount{Name: "data", MountPath: "d"}, err: "must be absolute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := env
			if tc.name == "subPathExpr .." {
				e = map[string]string{"DOTS": ".."}
			}
			got, err := containerMounts(&corev1.Container{Name: "c", VolumeMounts: []corev1.VolumeMount{tc.m}}, vols, e)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || len(got) != 1 || got[0] != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestSimpleEnv(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop"}}
	c := &corev1.Container{Env: []corev1.EnvVar{
		{Name: "A", Value: "x"},
		{Name: "B", Value: "$(A)-$(POD)"},
		{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "C", Value: "$(POD)"},
		{Name: "S", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}},
	}}
	got := simpleEnv(pod, c)
	want := map[string]string{"A": "x", "B": "x-$(POD)", "POD": "web-1", "C": "web-1"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if m := envMap([]string{"A=1", "B=x=y", "A=2", "C"}); m["A"] != "2" || m["B"] != "x=y" || m["C"] != "" {
		t.Errorf("envMap %v", m)
	}
}

func TestResolveSubPath(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "vol")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{root, outside, filepath.Join(root, "real/inner")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(root, "real/file"), []byte("x"), 0o644))
	must(os.Symlink("/", filepath.Join(root, "escape")))
	must(os.Symlink("../outside", filepath.Join(root, "escape2")))
	must(os.Symlink("real", filepath.Join(root, "inlink")))
	must(os.Symlink("../../real/inner", filepath.Join(root, "real/inner/up")))

	for _, tc := range []struct {
		sub    string
		create bool
		want   string
		err    string
	}{
		{sub: "", want: root},
		{sub: "real/file", want: filepath.Join(root, "real/file")},
		{sub: "inlink/inner", want: filepath.Join(root, "real/inner")},
		{sub: "real/inner/up", want: filepath.Join(root, "real/inner")},
		{sub: "new/dir", create: true, want: filepath.Join(root, "new/dir")},
		{sub: "inlink/made", create: true, want: filepath.Join(root, "real/made")},
		{sub: "missing", err: "does not exist"},
		{sub: "escape", err: "leads out of its volume"},
		{sub: "escape/etc", create: true, err: "leads out of its volume"},
		{sub: "escape2/x", create: true, err: "leads out of its volume"},
		{sub: "real/file/x", create: true, err: "not a directory"},
	} {
		got, err := resolveSubPath(root, tc.sub, tc.create)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: got %q, %v; want error %q", tc.sub, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.sub, got, err, tc.want)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "new/dir")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("made subPath: %v %v (want the volume's mode 0750)", fi, err)
	}
	if _, err := os.Stat(filepath.Join(outside, "x")); err == nil {
		t.Error("a directory was made outside the volume")
	}
}

func TestMemorySize(t *testing.T) {
	q := func(s string) corev1.ResourceList { return corev1.ResourceList{corev1.ResourceMemory: resourceMust(s)} }
	limited := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Resources: corev1.ResourceRequirements{Limits: q("64Mi")}}, {Resources: corev1.ResourceRequirements{Limits: q("32Mi")}}}}}
	partly := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Resources: corev1.ResourceRequirements{Limits: q("64Mi")}}, {}}}}
	size := resourceMust("16Mi")
	for _, tc := range []struct {
		pod   *corev1.Pod
		e     *corev1.EmptyDirVolumeSource
		alloc corev1.ResourceList
		want  int64
	}{
		{limited, &corev1.EmptyDirVolumeSource{SizeLimit: &size}, nil, 16 << 20},
		{limited, &corev1.EmptyDirVolumeSource{}, nil, 96 << 20},
		{partly, &corev1.EmptyDirVolumeSource{}, q("1Gi"), 1 << 30},
		{partly, &corev1.EmptyDirVolumeSource{}, nil, 0},
	} {
		if got := memorySize(tc.pod, tc.e, tc.alloc); got != tc.want {
			t.Errorf("memorySize = %d, want %d", got, tc.want)
		}
	}
}
