package pki

import (
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ServerURL is the API's address as a kubeconfig on this machine reaches
// it: https://127.0.0.1:port when the server listens on every address
// (bind nil, 0.0.0.0 or ::), else https://bind:port.
func ServerURL(bind net.IP, port int) string {
	host := "127.0.0.1"
	if bind != nil && !bind.IsUnspecified() {
		host = bind.String()
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// Kubeconfig returns a kubeconfig (the YAML that kubectl and client-go's
// clientcmd read) with one cluster, user and context, each named "default"
// as k3s names them: the cluster at server trusting caPEM, the user
// authenticating with the client certificate certPEM and its key keyPEM.
func Kubeconfig(server string, caPEM, certPEM, keyPEM []byte) []byte {
	b64 := base64.StdEncoding.EncodeToString
	var s strings.Builder
	fmt.Fprintf(&s, `apiVersion: v1
kind: Config
clusters:
- name: default
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: default
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: default
  context:
    cluster: default
    user: default
current-context: default
preferences: {}
`, strconv.Quote(server), b64(caPEM), b64(certPEM), b64(keyPEM))
	return []byte(s.String())
}

// WriteKubeconfig writes data to path, mode 0600 (it holds the admin's
// key), creating the parent directory (0700) when missing.
func WriteKubeconfig(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("pki: write kubeconfig %s: %w", path, err)
	}
	return WriteFileAtomic(path, data, 0o600)
}
