package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/internal/pki"
)

// TestAgentJoinsWithBootstrapToken: in a node namespace, a server without
// its agent, a token from `kelson token create`, and `kelson agent`
// joining with it: the node becomes Ready, its certificate is
// system:node:<name> (O system:nodes), and `kubectl logs` reaches its pod
// through the API, which verifies the agent's serving certificate against
// the cluster CA. Once the token is deleted, another agent cannot join
// with it.
func TestAgentJoinsWithBootstrapToken(t *testing.T) {
	if why := agentNeeds(); why != "" {
		t.Skip(why)
	}
	bin := kelsonBin(t)
	s, agentData, resolv := serverInNode(t, bin, "join")
	ns := s.ns
	dir := filepath.Dir(agentData) // the test's directory

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := ns.Command(ctx, bin, "token", "create", "--kubeconfig", s.kc, "--ttl", "1h").CombinedOutput()
	token := strings.TrimSpace(string(out))
	if err != nil || !joinTokenRE.MatchString(token) {
		t.Fatalf("kelson token create: %v: %s", err, out)
	}
	startAgentIn(t, bin, ns, "agent in "+ns.Name, "--server", "https://127.0.0.1:6443", "--token", token,
		"--node-name", "node-j", "--node-ip", e2eNodeIP, "--data-dir", agentData, "--resolv-conf", resolv)
	s.waitNodeReady(t, "node-j")

	b, err := os.ReadFile(filepath.Join(agentData, "tls", "client-node.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCertPEM(b)
	if err != nil || cert.Subject.CommonName != "system:node:node-j" || !slices.Equal(cert.Subject.Organization, []string{"system:nodes"}) {
		t.Fatalf("the agent's client certificate: %v, %v", cert.Subject, err)
	}
	for _, f := range []string{"client-node.key", "serving-node.key"} {
		if st, err := os.Stat(filepath.Join(agentData, "tls", f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", f, st, err)
		}
	}

	// kubectl logs goes API -> agent over TLS verified with the cluster CA.
	importTestImages(t, bin, dir, filepath.Join(agentData, "containerd", "containerd.sock"))
	s.mustKubectl(t, `apiVersion: v1
kind: Pod
metadata:
  name: hello
spec:
  nodeName: node-j
  terminationGracePeriodSeconds: 1
  containers:
  - name: sh
    image: busybox
    command: [sh, -c, "echo hello from node-j; sleep 3600"]
`, "apply", "-f", "-")
	s.waitPodsReady(t, "hello")
	if out := s.mustKubectl(t, "", "logs", "hello"); !strings.Contains(out, "hello from node-j") {
		t.Fatalf("kubectl logs hello: %q", out)
	}

	// The token deleted, another agent cannot join with it.
	out, err = ns.Command(ctx, bin, "token", "delete", "--kubeconfig", s.kc, token).CombinedOutput()
	if err != nil {
		t.Fatalf("kelson token delete: %v: %s", err, out)
	}
	late := startAgentIn(t, bin, ns, "late agent in "+ns.Name, "--server", "https://127.0.0.1:6443", "--token", token,
		"--node-name", "node-late", "--node-ip", e2eNodeIP, "--data-dir", filepath.Join(dir, "late"), "--resolv-conf", resolv)
	if code := late.waitExit(t); code == 0 || !strings.Contains(late.stderr.String(), "401") {
		t.Fatalf("an agent with a deleted token: exit %d, stderr:\n%s", code, late.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "late", "tls", "client-node.crt")); err == nil {
		t.Error("the refused agent wrote a client certificate")
	}
}
