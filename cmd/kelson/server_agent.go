package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kelson-dev/kelson/internal/bootstraptoken"
	"github.com/kelson-dev/kelson/internal/pki"
	"github.com/kelson-dev/kelson/nodeagent"
	"github.com/kelson-dev/kelson/nodeagent/node"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The server's own agent and the join token agents join with
// (DATA_DIR/token).

// ensureToken reads DATA_DIR/token, or writes a new one on first start:
// the CA's hash (so that a joining agent can check it reached this
// cluster) and a random secret. A CA made again (a new cluster) gets a
// new token.
func ensureToken(dataDir string, caPEM []byte) (string, error) {
	path := filepath.Join(dataDir, "token")
	sum := sha256.Sum256(caPEM)
	prefix := "K10" + hex.EncodeToString(sum[:]) + "::server:"
	b, err := os.ReadFile(path)
	if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), prefix) {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("join token %s: %w", path, err)
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	token := prefix + hex.EncodeToString(secret)
	if err := pki.WriteFileAtomic(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("join token %s: %w", path, err)
	}
	return token, nil
}

// bootstrapTokenReader reads bootstrap token Secrets as the server's
// admin (in process, over loopback; the admin certificate's files, reloaded
// when renewed), for the join endpoint.
func bootstrapTokenReader(apiURL string, caPEM []byte, admin certFiles) (func(ctx context.Context, id string) (*corev1.Secret, error), error) {
	rc := &rest.Config{Host: apiURL, TLSClientConfig: clientTLSFromFiles(caPEM, admin)}
	rc.UserAgent = "kelson-node-credentials"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("node credentials: %w", err)
	}
	return func(ctx context.Context, id string) (*corev1.Secret, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return client.CoreV1().Secrets(bootstraptoken.Namespace).Get(ctx, bootstraptoken.SecretPrefix+id, metav1.GetOptions{})
	}, nil
}

// runServerAgent runs the server's own node agent against its API with
// the server's CIDRs; its state is DATA_DIR/agent. It is the node
// system:node:<node name>: its client and serving certificates are signed
// here with the cluster CA (DATA_DIR/agent/tls), and renewed likewise.
func runServerAgent(ctx context.Context, cfg serverConfig, apiURL string, certs *pki.Bundle, log *slog.Logger) error {
	ac := *cfg.Agent
	ac.DataDir = filepath.Join(cfg.DataDir, "agent")
	ac.Logger = log
	if err := ac.Preflight(); err != nil {
		// The control plane serves without an agent: no pods run here.
		log.Error("the node agent is not started; the API, controllers and scheduler run without it (no pods run on this machine; --disable-agent silences this)", "err", err)
		return nil
	}
	ips := ac.NodeIPs
	if len(ips) == 0 {
		// The agent detects the same addresses when it starts.
		ips, _ = node.DetectNodeIPs(os.DirFS("/"))
	}
	creds := &nodeCredentials{dir: filepath.Join(ac.DataDir, nodeTLSDir), name: ac.NodeName, hostnames: nodeHostnames(),
		ca: certs.CA, caPEM: certs.CAPEM, iss: localIssuer{ca: certs.Authority, now: time.Now}, now: time.Now, log: log}
	for _, ip := range ips {
		creds.ips = append(creds.ips, net.IP(ip.AsSlice()))
	}
	if _, err := creds.ensure(ctx); err != nil {
		log.Error("the node agent is not started: its certificates", "err", err)
		return nil
	}
	ac.API = creds.restConfig(apiURL)
	serving, pool, err := creds.serving()
	if err != nil {
		log.Error("the node agent is not started", "err", err)
		return nil
	}
	// Renewed certificates are used without a restart (renewLoop).
	ac.GetServingCert, ac.ClientCAs = serving.Get, pool
	a, err := nodeagent.New(ac)
	if err != nil {
		return err
	}
	quietContainerdClient()
	go creds.renewLoop(ctx, renewCheckInterval)
	if err := a.Run(ctx); err != nil {
		// An agent's failure does not take the control plane down: its
		// Node goes NotReady, which the cluster sees.
		log.Error("the node agent stopped; the server keeps serving without it", "err", err)
	}
	return nil
}

// prefixOf converts a parsed CIDR flag (parseCIDRFlag) to a netip.Prefix.
func prefixOf(n *net.IPNet) netip.Prefix {
	p, _ := netip.ParsePrefix(n.String())
	return p
}

// clusterDNS is the kube-dns Service's address: the agent's --cluster-dns,
// or nil for the API's default (the 10th address of the service CIDR).
func clusterDNS(cfg serverConfig) net.IP {
	if cfg.Agent == nil || !cfg.Agent.ClusterDNS.IsValid() {
		return nil
	}
	return net.IP(cfg.Agent.ClusterDNS.AsSlice())
}
