package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/pki"
	"github.com/kelson-dev/kelson/internal/testcluster"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// runKelson runs a short kelson command and returns its stdout, stderr
// and exit code.
func runKelson(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kelsonBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

var joinTokenRE = regexp.MustCompile(`^K10([0-9a-f]{64})::([a-z0-9]{6})\.([a-z0-9]{16})$`)

// TestTokenCommands: `kelson token create|list|delete` against a real
// server; the created token gets node certificates from the join
// endpoint, a deleted one gets 401; the components run as their own
// users.
func TestTokenCommands(t *testing.T) {
	ports := freePorts(t, 3)
	data := filepath.Join(t.TempDir(), "srv.kelson")
	p := startProc(t, "server", "--data-dir", data, "--https-listen-port", strconv.Itoa(ports[0]),
		"--listen-client-urls", localURL(ports[1]), "--listen-peer-urls", localURL(ports[2]), "--log-format", "text")
	kc := p.waitKubeconfig(t)
	server := "https://127.0.0.1:" + strconv.Itoa(ports[0])

	out, errOut, code := runKelson(t, nil, "token", "create", "--kubeconfig", kc, "--ttl", "1h", "--description", "rack 4",
		"--groups", "system:bootstrappers:workers")
	if code != 0 {
		t.Fatalf("token create: exit %d\n%s", code, errOut)
	}
	m := joinTokenRE.FindStringSubmatch(strings.TrimSpace(out))
	if m == nil {
		t.Fatalf("token create printed %q, want K10<hash>::<id>.<secret>", out)
	}
	caPEM, err := os.ReadFile(filepath.Join(data, "tls", pki.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	if m[1] != caHashOf(caPEM) {
		t.Fatalf("the token's CA hash %s is not the cluster CA's", m[1])
	}
	id, secret := m[2], m[3]
	// A token that never expires, found through $KUBECONFIG.
	out2, errOut, code := runKelson(t, []string{"KUBECONFIG=" + kc}, "token", "create", "--ttl", "0")
	m2 := joinTokenRE.FindStringSubmatch(strings.TrimSpace(out2))
	if code != 0 || m2 == nil {
		t.Fatalf("token create --ttl 0: exit %d %q\n%s", code, out2, errOut)
	}

	// The Secret is laid out as Kubernetes lays it out.
	rc, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	client := kubernetes.NewForConfigOrDie(rc)
	ctx := context.Background()
	sec, err := client.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-"+id, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Type != "bootstrap.kubernetes.io/token" || string(sec.Data["token-id"]) != id || string(sec.Data["token-secret"]) != secret ||
		string(sec.Data["usage-bootstrap-authentication"]) != "true" || string(sec.Data["description"]) != "rack 4" ||
		string(sec.Data["auth-extra-groups"]) != "system:bootstrappers:workers" {
		t.Errorf("secret %s data %q", sec.Type, sec.Data)
	}
	if exp, err := time.Parse(time.RFC3339, string(sec.Data["expiration"])); err != nil || time.Until(exp) > time.Hour || time.Until(exp) < 50*time.Minute {
		t.Errorf("expiration %q, %v", sec.Data["expiration"], err)
	}

	out, errOut, code = runKelson(t, nil, "token", "list", "--kubeconfig", kc)
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, m2[2]) || !strings.Contains(out, "rack 4") ||
		!strings.Contains(out, "<forever>") || strings.Contains(out, secret) {
		t.Errorf("token list: exit %d\n%s\n%s", code, out, errOut)
	}

	// The token gets node certificates; the server token too.
	askCerts := func(bearer, node string) (int, nodeCredentialsResponse) {
		t.Helper()
		var resp nodeCredentialsResponse
		body, _ := json.Marshal(nodeRequest(t, node, "192.168.7.7"))
		req, _ := http.NewRequest(http.MethodPost, server+nodeCredentialsPath, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+bearer)
		hc, err := rest.HTTPClientFor(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: caPEM}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		if r.StatusCode == 200 {
			if err := json.NewDecoder(r.Body).Decode(&resp); err != nil {
				t.Fatal(err)
			}
		}
		return r.StatusCode, resp
	}
	code, resp := askCerts(id+"."+secret, "node-x")
	if code != 200 {
		t.Fatalf("join with the created token: %d", code)
	}
	if c, err := pki.ParseCertPEM([]byte(resp.ClientCertificate)); err != nil || c.Subject.CommonName != "system:node:node-x" {
		t.Fatalf("node certificate %v, %v", c.Subject, err)
	}
	if code, _ := askCerts(id+".0000000000000000", "node-x"); code != 401 {
		t.Errorf("a wrong secret: %d, want 401", code)
	}

	out, errOut, code = runKelson(t, nil, "token", "delete", "--kubeconfig", kc, id)
	if code != 0 || !strings.Contains(out, id) {
		t.Fatalf("token delete: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _ := askCerts(id+"."+secret, "node-x"); code != 401 {
		t.Errorf("a deleted token: %d, want 401", code)
	}
	out, _, _ = runKelson(t, nil, "token", "list", "--kubeconfig", kc)
	if strings.Contains(out, id) {
		t.Errorf("token list after delete:\n%s", out)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"token", "delete", "--kubeconfig", kc, id}, 1, "not found"},
		{[]string{"token", "delete", "--kubeconfig", kc, "NOT-AN-ID"}, 2, "token ID"},
		{[]string{"token", "create", "--kubeconfig", kc, "--groups", "system:masters"}, 2, "system:bootstrappers:"},
		{[]string{"token", "create", "--kubeconfig", kc, "--ttl", "-1h"}, 2, "--ttl"},
		{[]string{"token", "list", "--kubeconfig", filepath.Join(t.TempDir(), "none")}, 2, "kubeconfig"},
	} {
		_, errOut, code := runKelson(t, nil, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d, stderr %s; want exit %d naming %q", c.args, code, errOut, c.code, c.want)
		}
	}

	// The controllers and the scheduler hold their Leases as their own
	// users: their client certificates on disk name them.
	for file, user := range map[string]string{pki.ControllerManagerCertFile: "system:kube-controller-manager",
		pki.SchedulerCertFile: "system:kube-scheduler", pki.KubeletClientCertFile: "kube-apiserver-kubelet-client"} {
		b, err := os.ReadFile(filepath.Join(data, "tls", file))
		if err != nil {
			t.Fatal(err)
		}
		if c, err := pki.ParseCertPEM(b); err != nil || c.Subject.CommonName != user {
			t.Errorf("%s: %v %v", file, c.Subject, err)
		}
	}
	testcluster.Eventually(t, 60*time.Second, func() error {
		for _, lease := range []string{"kube-controller-manager", "kube-scheduler"} {
			l, err := client.CoordinationV1().Leases("kube-system").Get(ctx, lease, metav1.GetOptions{})
			if err != nil || l.Spec.HolderIdentity == nil {
				return fmt.Errorf("lease %s: %v", lease, err)
			}
		}
		return nil
	})
	p.stop(t)
}
