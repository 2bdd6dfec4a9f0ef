package podenv_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/testcluster"
	"github.com/kelson-dev/kelson/nodeagent/podenv"
	"github.com/kelson-dev/kelson/nodeagent/pods"
	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

var _ pods.Env = (*podenv.Resolver)(nil)

func newResolver(t *testing.T, cs kubernetes.Interface, hostResolv string) (*podenv.Resolver, string) {
	t.Helper()
	root := t.TempDir()
	if hostResolv != "" {
		p := filepath.Join(root, "host-resolv.conf")
		if err := os.WriteFile(p, []byte(hostResolv), 0o644); err != nil {
			t.Fatal(err)
		}
		hostResolv = p
	}
	r, err := podenv.New(podenv.Config{Client: cs, Root: root, ClusterDNS: []netip.Addr{netip.MustParseAddr("10.43.0.10")},
		HostResolvConf: hostResolv, NodeName: "n1", NodeIP: netip.MustParseAddr("192.168.1.5"), Logger: testcluster.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	return r, root
}

func TestFiles(t *testing.T) {
	r, root := newResolver(t, fake.NewClientset(), "nameserver 192.168.1.1\nsearch corp.example\n")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", UID: "uid-1"}}
	ctx := context.Background()
	mounts, err := r.Files(ctx, pod, netip.MustParseAddr("10.42.0.7"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "uid-1")
	want := []runtime.Mount{
		{HostPath: filepath.Join(dir, "etc-hosts"), ContainerPath: "/etc/hosts", ReadOnly: true},
		{HostPath: filepath.Join(dir, "resolv.conf"), ContainerPath: "/etc/resolv.conf", ReadOnly: true},
		{HostPath: filepath.Join(dir, "hostname"), ContainerPath: "/etc/hostname", ReadOnly: true},
	}
	if !slices.Equal(mounts, want) {
		t.Fatalf("mounts %v, want %v", mounts, want)
	}
	resolv, _ := os.ReadFile(want[1].HostPath)
	if string(resolv) != "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.43.0.10\noptions ndots:5\n" {
		t.Errorf("resolv.conf:\n%s", resolv)
	}
	hosts, _ := os.ReadFile(want[0].HostPath)
	if !strings.HasSuffix(string(hosts), "\n10.42.0.7\tweb-1\n") {
		t.Errorf("hosts:\n%s", hosts)
	}
	if h, _ := os.ReadFile(want[2].HostPath); string(h) != "web-1\n" {
		t.Errorf("hostname %q", h)
	}
	// Unchanged content keeps the same file (containers share one inode).
	st1, _ := os.Stat(want[0].HostPath)
	if _, err := r.Files(ctx, pod, netip.MustParseAddr("10.42.0.7")); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(want[0].HostPath)
	if !os.SameFile(st1, st2) {
		t.Error("an unchanged hosts file was rewritten")
	}
	if err := r.Remove(pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(want[0].HostPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("hosts file left: %v", err)
	}
}

// TestEnvFromAPI reads Services, ConfigMaps and Secrets through a real
// API server.
func TestEnvFromAPI(t *testing.T) {
	c := testcluster.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs := c.Client
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Services("shop").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "httpd-src"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}, Selector: map[string]string{"app": "httpd"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps("shop").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"},
		Data: map[string]string{"MODE": "prod", "LEVEL": "3"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Secrets("shop").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec"},
		Data: map[string][]byte{"token": []byte("s3cr3t")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var svc *corev1.Service
	testcluster.Eventually(t, 30*time.Second, func() error {
		s, err := cs.CoreV1().Services("shop").Get(ctx, "httpd-src", metav1.GetOptions{})
		if err == nil && s.Spec.ClusterIP == "" {
			return errors.New("no cluster IP yet")
		}
		svc = s
		return err
	})
	r, _ := newResolver(t, cs, "")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", UID: "uid-1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web",
			EnvFrom: []corev1.EnvFromSource{{Prefix: "APP_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			Env: []corev1.EnvVar{
				{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "token"}}},
				{Name: "URL", Value: "http://$(HTTPD_SRC_SERVICE_HOST):$(HTTPD_SRC_SERVICE_PORT_HTTP)/$(APP_MODE)"},
				{Name: "HOST_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
				{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			}}}}}
	env, err := r.Env(ctx, pod, &pod.Spec.Containers[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"HTTPD_SRC_SERVICE_HOST=" + svc.Spec.ClusterIP,
		"HTTPD_SRC_SERVICE_PORT=8080",
		"HTTPD_SRC_PORT=tcp://" + svc.Spec.ClusterIP + ":8080",
		"APP_MODE=prod", "APP_LEVEL=3", "TOKEN=s3cr3t",
		"URL=http://" + svc.Spec.ClusterIP + ":8080/prod",
		"HOST_IP=192.168.1.5", "NODE=n1",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("env lacks %s:\n%s", want, strings.Join(env, "\n"))
		}
	}
	// The default namespace's "kubernetes" Service, when the server has one.
	if k, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{}); err == nil && k.Spec.ClusterIP != "" {
		if !slices.Contains(env, "KUBERNETES_SERVICE_HOST="+k.Spec.ClusterIP) {
			t.Errorf("env lacks KUBERNETES_SERVICE_HOST:\n%s", strings.Join(env, "\n"))
		}
	}
	// A missing ConfigMap is an error naming it, until it exists.
	pod.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name = "later"
	if _, err := r.Env(ctx, pod, &pod.Spec.Containers[0]); !errors.Is(err, podenv.ErrNotFound) || !strings.Contains(err.Error(), `"later"`) {
		t.Fatalf("missing configmap: err = %v", err)
	}
	no := false
	pod.Spec.EnableServiceLinks = &no
	pod.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Optional = &[]bool{true}[0]
	env, err = r.Env(ctx, pod, &pod.Spec.Containers[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range env {
		if strings.HasPrefix(e, "HTTPD_SRC_") || strings.HasPrefix(e, "APP_") {
			t.Errorf("enableServiceLinks false / optional missing source still gives %s", e)
		}
	}
}
