package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kelson-dev/kelson/internal/pki"
	"github.com/kelson-dev/kelson/internal/testcluster"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// TestThreeServersShareTheCA: b and c join a with --server and a's server
// token: all three hold one CA, one service account key and one token,
// and each server's kubeconfig works against every server. A server with
// a wrong token is refused.
func TestThreeServersShareTheCA(t *testing.T) {
	names := []string{"a", "b", "c"}
	ports := freePorts(t, 3*len(names))
	dir := t.TempDir()
	var cluster []string
	for i, name := range names {
		cluster = append(cluster, name+"="+localURL(ports[3*i+2]))
	}
	args := func(i int, extra ...string) []string {
		return append([]string{"server", "--name", names[i], "--data-dir", filepath.Join(dir, names[i]+".kelson"),
			"--https-listen-port", strconv.Itoa(ports[3*i]), "--listen-client-urls", localURL(ports[3*i+1]),
			"--listen-peer-urls", localURL(ports[3*i+2]), "--initial-cluster", strings.Join(cluster, ","), "--log-format", "text"}, extra...)
	}
	procs := []*proc{startProc(t, args(0)...)}
	tokenPath := filepath.Join(dir, "a.kelson", "token")
	var token string
	testcluster.Eventually(t, serverStartTimeout, func() error {
		b, err := os.ReadFile(tokenPath)
		token = strings.TrimSpace(string(b))
		return err
	})
	aURL := "https://127.0.0.1:" + strconv.Itoa(ports[0])
	for i := 1; i < 3; i++ {
		procs = append(procs, startProc(t, args(i, "--server", aURL, "--token", token)...))
	}
	var kubeconfigs []string
	for _, p := range procs {
		kubeconfigs = append(kubeconfigs, p.waitKubeconfig(t))
	}

	tlsFiles := func(name string) map[string]string {
		return readFiles(t, filepath.Join(dir, name+".kelson", "tls"), pki.CACertFile, pki.CAKeyFile, pki.ServiceAccountKeyFile)
	}
	first := tlsFiles("a")
	for _, name := range names[1:] {
		got := tlsFiles(name)
		for f, v := range first {
			if got[f] != v {
				t.Errorf("server %s's %s differs from a's", name, f)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(dir, name+".kelson", "token")); strings.TrimSpace(string(b)) != token {
			t.Errorf("server %s's token is not a's", name)
		}
	}

	// Every kubeconfig against every server.
	for i, kc := range kubeconfigs {
		for j := range names {
			cfg, err := clientcmd.BuildConfigFromFlags("", kc)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Host = "https://127.0.0.1:" + strconv.Itoa(ports[3*j])
			hc, err := rest.HTTPClientFor(cfg)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Get(cfg.Host + "/version")
			if err != nil {
				t.Errorf("%s's kubeconfig against %s: %v", names[i], names[j], err)
				continue
			}
			var v version.Info
			err = json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("%s's kubeconfig against %s: %s, %v", names[i], names[j], resp.Status, err)
			}
		}
	}

	// A wrong server token (right CA hash) is refused, and the data dir
	// gets no CA.
	bad := token[:strings.Index(token, "::server:")] + "::server:" + strings.Repeat("0", 32)
	more := freePorts(t, 3)
	dData := filepath.Join(dir, "d.kelson")
	d := startProc(t, "server", "--name", "d", "--data-dir", dData, "--https-listen-port", strconv.Itoa(more[0]),
		"--listen-client-urls", localURL(more[1]), "--listen-peer-urls", localURL(more[2]), "--server", aURL, "--token", bad)
	if code := d.waitExit(t); code == 0 || !strings.Contains(d.stderr.String(), "401") {
		t.Errorf("a server with a wrong token: exit %d, stderr:\n%s", code, d.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dData, "tls", pki.CAKeyFile)); err == nil {
		t.Error("a refused server wrote a CA key")
	}
	// A bootstrap token does not join a server.
	e := startProc(t, "server", "--data-dir", filepath.Join(dir, "e.kelson"), "--server", aURL,
		"--token", token[:strings.Index(token, "::")]+"::abc123.0123456789abcdef")
	if code := e.waitExit(t); code != 2 || !strings.Contains(e.stderr.String(), "server token") {
		t.Errorf("a server with a bootstrap token: exit %d, stderr:\n%s", code, e.stderr.String())
	}

	for _, p := range procs {
		p.stop(t)
	}
}
