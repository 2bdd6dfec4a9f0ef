package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/apiserver/audit"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const testEncryptionConfig = `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - aescbc:
      keys:
      - name: key1
        secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
  - identity: {}
`

const testAuditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  resources: [{group: "", resources: [secrets]}]
- level: None
  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", /version]
- level: Metadata
`

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServerEncAuditFlags(t *testing.T) {
	enc := writeFile(t, "enc.yaml", testEncryptionConfig)
	pol := writeFile(t, "policy.yaml", testAuditPolicy)
	code, cfg, stderr := runServerCapture(t, "server", "--encryption-provider-config", enc, "--audit-policy-file", pol,
		"--audit-log-path", "/var/log/kelson/audit.log", "--audit-log-maxsize", "100", "--audit-log-maxbackup", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	ea := cfg.EncAudit
	if ea.Encryption.For(schema.GroupResource{Resource: "secrets"}) == nil || ea.AuditPolicy == nil ||
		ea.AuditLog.Path != "/var/log/kelson/audit.log" || ea.AuditLog.MaxBytes != 100<<20 || ea.AuditLog.MaxBackups != 3 {
		t.Fatalf("config: %+v", ea)
	}
	if code, cfg, _ := runServerCapture(t, "server"); code != 0 || cfg.EncAudit.Encryption != nil || cfg.EncAudit.AuditPolicy != nil {
		t.Fatal("defaults: no encryption, no audit")
	}

	bad := writeFile(t, "bad.yaml", strings.Replace(testEncryptionConfig, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "c2hvcnQ=", 1))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--encryption-provider-config", bad}, "resources[0].providers[0].aescbc.keys[0].secret: an aescbc key is 16, 24 or 32 bytes"},
		{[]string{"--encryption-provider-config", filepath.Join(t.TempDir(), "none")}, "--encryption-provider-config"},
		{[]string{"--audit-policy-file", pol}, "needs --audit-log-path"},
		{[]string{"--audit-log-path", "-"}, "records nothing without --audit-policy-file"},
		{[]string{"--audit-policy-file", enc, "--audit-log-path", "-"}, "want Policy"},
		{[]string{"--audit-log-maxsize", "-1"}, "must not be negative"},
	} {
		code, _, stderr := runServerCapture(t, append([]string{"server"}, tc.args...)...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
		if strings.Contains(stderr, "c2hvcnQ=") {
			t.Errorf("the error shows the key: %s", stderr)
		}
	}
}

// TestServerEncryptionAndAudit runs `kelson server` with both: a secret
// created through the API is ciphertext in the store (read with
// etcdctl, as a user checks it), and the audit log records it at
// Metadata without its value.
func TestServerEncryptionAndAudit(t *testing.T) {
	etcdctl, err := exec.LookPath("etcdctl")
	if err != nil {
		t.Skip("etcdctl is not on the PATH")
	}
	ports := freePorts(t, 3)
	dir := t.TempDir()
	auditPath := filepath.Join(dir, "audit", "audit.log")
	p := startProc(t, "server", "--data-dir", filepath.Join(dir, "srv.kelson"), "--https-listen-port", strconv.Itoa(ports[0]),
		"--listen-client-urls", localURL(ports[1]), "--listen-peer-urls", localURL(ports[2]),
		"--encryption-provider-config", writeFile(t, "enc.yaml", testEncryptionConfig),
		"--audit-policy-file", writeFile(t, "policy.yaml", testAuditPolicy), "--audit-log-path", auditPath)
	kc := p.waitKubeconfig(t)
	cs := clientFor(t, kc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const value = "kelson-e2e-plain-secret"
	for {
		_, err = cs.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"},
			StringData: map[string]string{"password": value}}, metav1.CreateOptions{})
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond) // the default namespace is made at start
	}
	if err != nil {
		t.Fatal(err)
	}
	got, err := cs.CoreV1().Secrets("default").Get(ctx, "db", metav1.GetOptions{})
	if err != nil || string(got.Data["password"]) != value {
		t.Fatalf("get: %v %q", err, got.Data)
	}

	cmd := exec.CommandContext(ctx, etcdctl, "--endpoints", localURL(ports[1]), "get", "/registry/secrets/default/db", "--print-value-only")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("etcdctl get: %v", err)
	}
	if !bytes.HasPrefix(out, []byte("k8s:enc:aescbc:v1:key1:")) || bytes.Contains(out, []byte(value)) ||
		bytes.Contains(out, []byte(base64.StdEncoding.EncodeToString([]byte(value)))) {
		t.Fatalf("the store holds %q", out[:min(len(out), 40)])
	}

	// The audit log: JSON lines of audit.k8s.io/v1 Events; the create of
	// the secret at Metadata, without its value.
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(auditPath)
		if bytes.Contains(b, []byte(value)) {
			t.Fatal("the secret's value is in the audit log")
		}
		var found bool
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 8<<20)
		for sc.Scan() {
			var ev audit.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("audit line %q: %v", sc.Text(), err)
			}
			if ev.Stage == audit.StageRequestReceived {
				t.Fatal("RequestReceived is omitted by the policy")
			}
			if ev.Verb == "create" && ev.ObjectRef != nil && ev.ObjectRef.Resource == "secrets" && ev.ResponseStatus != nil && ev.ResponseStatus.Code == 201 {
				found = ev.Level == audit.LevelMetadata && ev.User.Username == "system:admin" && ev.RequestObject == nil
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Metadata event of the secret's create in the audit log:\n%s", tail(string(b), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.stop(t)
}
