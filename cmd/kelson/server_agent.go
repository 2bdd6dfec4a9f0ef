package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/kelson-dev/kelson/apiserver/authn"
	"github.com/kelson-dev/kelson/internal/pki"
	"github.com/kelson-dev/kelson/nodeagent"
	"k8s.io/client-go/tools/clientcmd"
)

// The server's own agent and what agents joining it need: the join token
// (DATA_DIR/token) and the cluster CA at /cacerts.

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

// joinTokenAuthenticator authenticates agents that send the join token's
// secret as their bearer token (kelson agent --token) as a node.
// TODO(security issue): replaced by per-node credentials issued at join.
func joinTokenAuthenticator(token string) authn.Authenticator {
	_, secret, _ := strings.Cut(token, "::server:")
	return authn.Func(func(r *http.Request) (*authn.User, bool, error) {
		bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(bearer), []byte(secret)) != 1 {
			return nil, false, nil
		}
		return &authn.User{Name: "kelson-agent", Groups: []string{authn.NodesGroup}}, true, nil
	})
}

// withCACerts serves the cluster CA's certificate at /cacerts (public:
// joining agents fetch it before they trust the server, and check its
// hash against their token) and everything else with api.
func withCACerts(api http.Handler, caPEM []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cacerts" && r.Method == http.MethodGet {
			w.Header().Set("Content-Type", "application/x-pem-file")
			_, _ = w.Write(caPEM)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// runServerAgent runs the server's own node agent against its API, as
// the admin, with the server's CIDRs; its state is DATA_DIR/agent.
func runServerAgent(ctx context.Context, cfg serverConfig, kubeconfig []byte, log *slog.Logger) error {
	rc, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	ac := *cfg.Agent
	ac.API = rc
	ac.DataDir = filepath.Join(cfg.DataDir, "agent")
	ac.Logger = log
	if err := ac.Preflight(); err != nil {
		// The control plane serves without an agent: no pods run here.
		log.Error("the node agent is not started; the API, controllers and scheduler run without it (no pods run on this machine; --disable-agent silences this)", "err", err)
		return nil
	}
	a, err := nodeagent.New(ac)
	if err != nil {
		return err
	}
	quietContainerdClient()
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
