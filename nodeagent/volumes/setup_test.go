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
	"github.com/kelson-dev/kelson/nodeagent/pods"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	"github.com/kelson-dev/kelson/nodeagent/volumes"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

var _ pods.Volumes = (*volumes.Manager)(nil)

func ptr[T any](v T) *T { return &v }

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("tmpfs mounts need root")
	}
}

func newManager(t *testing.T, cs kubernetes.Interface) (*volumes.Manager, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "pods")
	m, err := volumes.New(volumes.Config{Root: root, Client: cs, NodeName: "n1", Logger: testcluster.Logger(),
		Allocatable: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}})
	if err != nil {
		t.Fatal(err)
	}
	return m, root
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mountFor(t *testing.T, ms []runtime.Mount, containerPath string) runtime.Mount {
	t.Helper()
	for _, m := range ms {
		if m.ContainerPath == containerPath {
			return m
		}
	}
	t.Fatalf("no mount at %s in %+v", containerPath, ms)
	return runtime.Mount{}
}

func isMount(t *testing.T, p string) bool {
	t.Helper()
	var a, b unix.Stat_t
	if err := unix.Lstat(p, &a); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lstat(filepath.Dir(p), &b); err != nil {
		t.Fatal(err)
	}
	return a.Dev != b.Dev
}

// TestConfigMapAtomicUpdate: a ConfigMap's change is written as a new
// version behind ..data; readers holding the old path keep the old
// content; keys that vanish lose their links.
func TestConfigMapAtomicUpdate(t *testing.T) {
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "shop"}, Data: map[string]string{"a": "one", "b": "bee"}}
	cs := fake.NewClientset(cm)
	m, _ := newManager(t, cs)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "u-cm"}, Spec: corev1.PodSpec{
		Volumes:    []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr(int32(0o640))}}}},
		Containers: []corev1.Container{{Name: "web", VolumeMounts: []corev1.VolumeMount{{Name: "cfg", MountPath: "/etc/cfg"}, {Name: "cfg", MountPath: "/etc/a", SubPath: "a"}}}},
	}}
	t.Cleanup(func() { m.Teardown(ctx, pod.UID) })
	mounts, err := m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	vol := mountFor(t, mounts["web"], "/etc/cfg")
	if !vol.ReadOnly || vol.HostPath != m.VolumeDir(pod.UID, volumes.PluginConfigMap, "cfg") {
		t.Fatalf("mount %+v", vol)
	}
	dir := vol.HostPath
	if l, _ := os.Readlink(filepath.Join(dir, "a")); l != "..data/a" {
		t.Errorf("a -> %q, want ..data/a", l)
	}
	fi, err := os.Stat(filepath.Join(dir, "a"))
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("a: %v %v, want mode 0640", fi, err)
	}
	v1, _ := os.Readlink(filepath.Join(dir, "..data"))
	if !strings.HasPrefix(v1, "..") {
		t.Fatalf("..data -> %q", v1)
	}
	// A subPath mount binds the real file of the current version (it
	// does not follow later updates, as in Kubernetes).
	if sub := mountFor(t, mounts["web"], "/etc/a"); sub.HostPath != filepath.Join(dir, v1, "a") || !sub.ReadOnly {
		t.Errorf("subPath mount %+v, want %s", sub, filepath.Join(dir, v1, "a"))
	}
	// Same content: nothing changes.
	if _, err := m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if v, _ := os.Readlink(filepath.Join(dir, "..data")); v != v1 {
		t.Errorf("unchanged ConfigMap rewrote the volume: %s -> %s", v1, v)
	}
	// An open handle on the old version stays valid across the update.
	oldFile, err := os.Open(filepath.Join(dir, v1, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer oldFile.Close()

	cm.Data = map[string]string{"a": "two", "c": "sea"}
	if _, err := cs.CoreV1().ConfigMaps("shop").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	v2, _ := os.Readlink(filepath.Join(dir, "..data"))
	if v2 == v1 || !strings.HasPrefix(v2, "..") {
		t.Fatalf("..data %s -> %s after an update", v1, v2)
	}
	if got := read(t, filepath.Join(dir, "a")); got != "two" {
		t.Errorf("a = %q after the update", got)
	}
	if got := read(t, filepath.Join(dir, "c")); got != "sea" {
		t.Errorf("c = %q after the update", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "b")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("link of the removed key b left: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, v1)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old version %s left: %v", v1, err)
	}
	b := make([]byte, 8)
	if n, _ := oldFile.Read(b); string(b[:n]) != "one" {
		t.Errorf("open old file reads %q", b[:n])
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 4 { // ..<ts>, ..data, a, c
		t.Errorf("volume dir holds %v", names)
	}
}

// TestSetupAndTeardown sets up every kind of volume, checks the mounts,
// then tears down: the tmpfs mounts go, the pod's directory goes, the
// hostPath's and the persistent volume's contents stay — even when a
// container planted links to them in its emptyDir.
func TestSetupAndTeardown(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	base := t.TempDir()
	hostDir := filepath.Join(base, "host")
	pvDir := filepath.Join(base, "storage", "shop_data_pvc-1")
	if err := os.MkdirAll(filepath.Join(hostDir, "keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hostDir, "keep", "precious"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	objs := []k8sruntime.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "shop"}, Data: map[string]string{"app.conf": "x=1"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec", Namespace: "shop"}, Data: map[string][]byte{"password": []byte("hunter2")}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "shop", UID: "claim-uid"},
			Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pvc-1"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
		&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-1"}, Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: pvDir, Type: &dirOrCreate}},
			ClaimRef:               &corev1.ObjectReference{Namespace: "shop", Name: "data", UID: "claim-uid"}}},
	}
	cs := fake.NewClientset(objs...)
	(&tokenAPI{now: time.Now}).install(cs)
	m, root := newManager(t, cs)
	uid := types.UID("u-all")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", UID: uid, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Volumes: []corev1.Volume{
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "ram", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr(resource.MustParse("8Mi"))}}},
				{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir}}},
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
				{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec", DefaultMode: ptr(int32(0o400))}}},
				{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
				{Name: "api", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
				}}}},
				{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
			},
			InitContainers: []corev1.Container{{Name: "init", VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/work"}}}},
			Containers: []corev1.Container{{Name: "web",
				Env: []corev1.EnvVar{{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "scratch", MountPath: "/scratch"},
					{Name: "ram", MountPath: "/ram"},
					{Name: "host", MountPath: "/host", ReadOnly: true},
					{Name: "host", MountPath: "/logs", SubPathExpr: "logs/$(POD)"},
					{Name: "cfg", MountPath: "/etc/app"},
					{Name: "sec", MountPath: "/etc/sec"},
					{Name: "info", MountPath: "/etc/info"},
					{Name: "api", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"},
					{Name: "data", MountPath: "/data"},
				}}}}}
	mounts, err := m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Teardown(ctx, uid) })
	if len(mounts["init"]) != 1 || len(mounts["web"]) != 9 {
		t.Fatalf("mounts %+v", mounts)
	}
	web := mounts["web"]
	scratch := mountFor(t, web, "/scratch")
	if fi, err := os.Stat(scratch.HostPath); err != nil || fi.Mode().Perm() != 0o777 || scratch.ReadOnly {
		t.Errorf("emptyDir %+v: %v %v", scratch, fi, err)
	}
	ram := mountFor(t, web, "/ram")
	if !isMount(t, ram.HostPath) {
		t.Errorf("memory emptyDir %s is not a tmpfs mount", ram.HostPath)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(ram.HostPath, &sfs); err != nil || int64(sfs.Blocks)*sfs.Bsize != 8<<20 {
		t.Errorf("memory emptyDir size %d, want 8Mi (%v)", int64(sfs.Blocks)*sfs.Bsize, err)
	}
	if h := mountFor(t, web, "/host"); h.HostPath != hostDir || !h.ReadOnly {
		t.Errorf("hostPath mount %+v", h)
	}
	if l := mountFor(t, web, "/logs"); l.HostPath != filepath.Join(hostDir, "logs", "web-1") {
		t.Errorf("subPathExpr mount %+v", l)
	}
	if got := read(t, filepath.Join(mountFor(t, web, "/etc/app").HostPath, "app.conf")); got != "x=1" {
		t.Errorf("configMap file %q", got)
	}
	sec := mountFor(t, web, "/etc/sec")
	if !isMount(t, sec.HostPath) || !sec.ReadOnly {
		t.Errorf("secret volume %s not on a tmpfs / not read-only", sec.HostPath)
	}
	if fi, err := os.Stat(filepath.Join(sec.HostPath, "password")); err != nil || fi.Mode().Perm() != 0o400 || read(t, filepath.Join(sec.HostPath, "password")) != "hunter2" {
		t.Errorf("secret file %v %v", fi, err)
	}
	if got := read(t, filepath.Join(mountFor(t, web, "/etc/info").HostPath, "labels")); got != `app="web"` {
		t.Errorf("downwardAPI labels %q", got)
	}
	api := mountFor(t, web, "/var/run/secrets/kubernetes.io/serviceaccount").HostPath
	if got := read(t, filepath.Join(api, "namespace")); got != "shop" || !isMount(t, api) {
		t.Errorf("projected namespace %q", got)
	}
	if got := read(t, filepath.Join(api, "token")); got != "jwt-1" {
		t.Errorf("token file %q", got)
	}
	data := mountFor(t, web, "/data")
	if data.HostPath != pvDir {
		t.Errorf("claim mount %+v, want %s", data, pvDir)
	}
	if err := os.WriteFile(filepath.Join(pvDir, "db"), []byte("rows"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A container plants links to the host's data in its emptyDirs.
	for _, d := range []string{scratch.HostPath, ram.HostPath} {
		for name, target := range map[string]string{"host": hostDir, "keep": filepath.Join(hostDir, "keep"), "pv": pvDir, "precious": filepath.Join(hostDir, "keep", "precious"), "root": "/"} {
			if err := os.Symlink(target, filepath.Join(d, name)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Join(d, "deep/er"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(hostDir, "keep"), filepath.Join(d, "deep/er/link")); err != nil {
			t.Fatal(err)
		}
	}
	// A subPath through such a link is refused.
	pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "root/etc"})
	if _, err := m.Setup(ctx, pod); err == nil || !strings.Contains(err.Error(), "leads out of its volume") {
		t.Errorf("subPath through a planted link: %v", err)
	}

	if err := m.Teardown(ctx, uid); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root, string(uid))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pod dir left: %v", err)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), filepath.Join(root, string(uid))) {
		t.Errorf("mounts left under the pod dir:\n%s", mi)
	}
	if got := read(t, filepath.Join(hostDir, "keep", "precious")); got != "data" {
		t.Errorf("hostPath content changed: %q", got)
	}
	if got := read(t, filepath.Join(pvDir, "db")); got != "rows" {
		t.Errorf("persistent volume content changed: %q", got)
	}
	if _, err := os.Stat(filepath.Join(hostDir, "logs", "web-1")); err != nil {
		t.Errorf("hostPath subPath dir removed: %v", err)
	}
	// Unknown UID: no-op. Bad UID: refused.
	if err := m.Teardown(ctx, "never-seen"); err != nil {
		t.Errorf("unknown uid: %v", err)
	}
	if err := m.Teardown(ctx, "../x"); err == nil {
		t.Error("a UID with a slash accepted")
	}
}

// TestTeardownRefusesLeftMounts: a bind mount of a host directory left
// under the pod's directory (not one Setup made) is unmounted first; the
// host directory's content survives.
func TestTeardownUnmountsBindMounts(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	m, root := newManager(t, fake.NewClientset())
	host := filepath.Join(t.TempDir(), "host")
	if err := os.MkdirAll(host, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(host, "precious"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(root, "u-bind", "volumes", "kubernetes.io~empty-dir", "x")
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(host, target, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("bind mount: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
	if err := m.Teardown(ctx, "u-bind"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(host, "precious")); got != "data" {
		t.Errorf("bind-mounted host content: %q", got)
	}
}

func TestSetupErrors(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "pending", Namespace: "shop"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
	)
	m, root := newManager(t, cs)
	file := corev1.HostPathFile
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "u-err"}, Spec: corev1.PodSpec{
		Volumes: []corev1.Volume{
			{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "missing-cm"}}}},
			{Name: "optcfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "missing-cm"}, Optional: ptr(true)}}},
			{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "missing-secret"}}},
			{Name: "hp", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: filepath.Join(root, "nope"), Type: &file}}},
			{Name: "claim", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "pending"}}},
			{Name: "noclaim", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "absent"}}},
			{Name: "nfs", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "x", Path: "/"}}},
		},
	}}
	if os.Geteuid() != 0 { // the secret volume needs a tmpfs
		pod.Spec.Volumes = append(pod.Spec.Volumes[:2], pod.Spec.Volumes[3:]...)
	}
	t.Cleanup(func() { m.Teardown(ctx, pod.UID) })
	_, err := m.Setup(ctx, pod)
	if err == nil {
		t.Fatal("Setup succeeded")
	}
	for _, want := range []string{
		`volume "cfg": configmap "missing-cm" not found in namespace shop`,
		`volume "hp": hostPath type check failed: ` + filepath.Join(root, "nope") + ` does not exist`,
		`volume "claim": persistentvolumeclaim "pending" is not bound yet`,
		`volume "noclaim": persistentvolumeclaim "absent" not found`,
		`volume "nfs": unsupported volume`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if os.Geteuid() == 0 && !strings.Contains(err.Error(), `volume "sec": secret "missing-secret" not found`) {
		t.Errorf("error lacks the secret: %v", err)
	}
	if strings.Contains(err.Error(), "optcfg") {
		t.Errorf("optional configMap reported: %v", err)
	}
	for _, target := range []error{volumes.ErrNotFound, volumes.ErrNotBound, volumes.ErrUnsupported} {
		if !errors.Is(err, target) {
			t.Errorf("error does not wrap %v", target)
		}
	}
}

// TestFSGroup: with securityContext.fsGroup, emptyDirs and written
// volumes belong to that group (setgid emptyDir, group-readable files).
func TestFSGroup(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	cs := fake.NewClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "shop"}, Data: map[string]string{"k": "v"}})
	m, _ := newManager(t, cs)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "u-fsg"}, Spec: corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{FSGroup: ptr(int64(4321))},
		Volumes: []corev1.Volume{
			{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr(int32(0o600))}}},
			{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
		Containers: []corev1.Container{{Name: "web", VolumeMounts: []corev1.VolumeMount{{Name: "cfg", MountPath: "/cfg"}, {Name: "scratch", MountPath: "/s"}}}},
	}}
	t.Cleanup(func() { m.Teardown(ctx, pod.UID) })
	mounts, err := m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(mountFor(t, mounts["web"], "/cfg").HostPath, "k"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Gid != 4321 || st.Mode&0o777 != 0o640 {
		t.Errorf("configMap file gid %d mode %o, want 4321 0640", st.Gid, st.Mode&0o777)
	}
	if err := unix.Stat(mountFor(t, mounts["web"], "/s").HostPath, &st); err != nil {
		t.Fatal(err)
	}
	if st.Gid != 4321 || st.Mode&unix.S_ISGID == 0 || st.Mode&0o777 != 0o777 {
		t.Errorf("emptyDir gid %d mode %o, want 4321 setgid 0777", st.Gid, st.Mode)
	}
}

// TestConcurrentPods: pods set up and torn down in parallel (run with
// -race), one pod's calls serialised.
func TestConcurrentPods(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "shop"}, Data: map[string]string{"k": "v"}})
	m, root := newManager(t, cs)
	errs := make(chan error, 16)
	for i := range 8 {
		go func() {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop", UID: types.UID("u-par-" + string(rune('a'+i%4)))}, Spec: corev1.PodSpec{
				Volumes: []corev1.Volume{
					{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
					{Name: "e", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				Containers: []corev1.Container{{Name: "c", VolumeMounts: []corev1.VolumeMount{{Name: "cfg", MountPath: "/cfg"}, {Name: "e", MountPath: "/e", SubPath: "sub"}}}},
			}}
			for range 5 {
				if _, err := m.Setup(ctx, pod); err != nil {
					errs <- err
					return
				}
			}
			errs <- m.Teardown(ctx, pod.UID)
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			// A Teardown of the same pod may race a Setup's writes only
			// if calls were not serialised.
			t.Error(err)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("left under root: %v", entries)
	}
}
