package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kelson-dev/kelson/internal/pki"
	"github.com/kelson-dev/kelson/nodeagent/stream"
	"k8s.io/client-go/rest"
)

// A node's credentials on disk, in <agent data dir>/tls: the cluster CA,
// the node's client certificate (the API knows the agent by it) and its
// serving certificate (the agent's port presents it to the API server).
const (
	nodeTLSDir          = "tls"
	nodeCAFile          = "ca.crt"
	nodeClientCertFile  = "client-node.crt"
	nodeClientKeyFile   = "client-node.key"
	nodeServingCertFile = "serving-node.crt"
	nodeServingKeyFile  = "serving-node.key"
)

// renewCheckInterval is how often a running agent looks at its
// certificates' ends.
const renewCheckInterval = time.Hour

// errJoinRefused marks a server's 401 or 403 to a node credentials
// request.
var errJoinRefused = errors.New("the server refused the node's credentials request")

// credentialsAction is what a node does about its certificates.
type credentialsAction int

const (
	credsKeep  credentialsAction = iota // both fit
	credsRenew                          // ask with the client certificate
	credsJoin                           // ask with the join token
)

func (a credentialsAction) String() string { return [...]string{"keep", "renew", "join"}[a] }

// decideCredentials combines the states of the client and serving
// certificates: an unusable client certificate needs the token; anything
// else not fit is renewed with the client certificate.
func decideCredentials(client, serving pki.CertState) credentialsAction {
	switch {
	case client == pki.CertUnusable:
		return credsJoin
	case client == pki.CertRenew || serving != pki.CertKeep:
		return credsRenew
	}
	return credsKeep
}

// nodeIssuer gets a node's certificates signed: renew says to
// authenticate with the node's current client certificate instead of the
// join token.
type nodeIssuer interface {
	issue(ctx context.Context, req nodeCredentialsRequest, renew bool) (*nodeCredentialsResponse, error)
}

// localIssuer signs with the CA's key in this process (a server's own
// agent).
type localIssuer struct {
	ca  *pki.Authority
	now func() time.Time
}

func (l localIssuer) issue(_ context.Context, req nodeCredentialsRequest, _ bool) (*nodeCredentialsResponse, error) {
	return signNodeCredentials(l.ca, req, pki.SANs{}, l.now())
}

// httpIssuer asks a server's nodeCredentialsPath.
type httpIssuer struct {
	server string
	caPEM  []byte
	// bearer is the join token's credential ("" without a token).
	bearer string
	// certFile, keyFile: the node's client certificate, for renewals.
	certFile, keyFile string
}

func (h httpIssuer) issue(ctx context.Context, req nodeCredentialsRequest, renew bool) (*nodeCredentialsResponse, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(h.caPEM) {
		return nil, errors.New("the cluster CA is not PEM")
	}
	tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if renew {
		cert, err := tls.LoadX509KeyPair(h.certFile, h.keyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: the node's client certificate: %v", errJoinRefused, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	} else if h.bearer == "" {
		return nil, fmt.Errorf("%w: no join token: start the agent with --token to join again", errJoinRefused)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, h.server+nodeCredentialsPath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	if !renew {
		hr.Header.Set("Authorization", "Bearer "+h.bearer)
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Proxy: nil}}
	defer c.CloseIdleConnections()
	resp, err := c.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("ask %s for the node's certificates: %w", h.server, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("ask %s for the node's certificates: %w", h.server, err)
	}
	msg := strings.TrimSpace(string(b))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%w: %s: %s", errJoinRefused, resp.Status, msg)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("ask %s for the node's certificates: %s: %s", h.server, resp.Status, msg)
	}
	var out nodeCredentialsResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("ask %s for the node's certificates: the answer is not JSON: %w", h.server, err)
	}
	return &out, nil
}

// nodeCredentials keeps a node's certificates in dir.
type nodeCredentials struct {
	dir string
	// name, hostnames, ips: the node, and its serving certificate's names.
	name      string
	hostnames []string
	ips       []net.IP
	// ca is the cluster CA (verified against the token, or the server's
	// own); caPEM its PEM.
	ca    *x509.Certificate
	caPEM []byte
	iss   nodeIssuer
	now   func() time.Time
	log   *slog.Logger
}

func (n *nodeCredentials) path(f string) string { return filepath.Join(n.dir, f) }

// wantSANs is what the serving certificate must name.
func (n *nodeCredentials) wantSANs() (pki.SANs, error) {
	return pki.NodeServingSANs(n.name, n.hostnames, n.ips)
}

// state reads a certificate and key pair from disk and checks it.
func (n *nodeCredentials) state(certFile, keyFile string, kind pki.NodeCertKind, want *pki.SANs) (pki.CertState, string) {
	kp, err := tls.LoadX509KeyPair(n.path(certFile), n.path(keyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return pki.CertUnusable, "missing"
	}
	if err != nil {
		return pki.CertUnusable, "unreadable: " + err.Error()
	}
	return pki.CheckNodeCert(kp.Leaf, n.ca, kind, n.name, want, n.now())
}

// ensure makes the certificates on disk fit: it keeps them, renews them
// with the client certificate, or joins with the token (also when a
// renewal is refused). It returns what it did.
func (n *nodeCredentials) ensure(ctx context.Context) (credentialsAction, error) {
	want, err := n.wantSANs()
	if err != nil {
		return credsKeep, usageError{err}
	}
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return credsKeep, fmt.Errorf("node certificates: %w", err)
	}
	cs, creason := n.state(nodeClientCertFile, nodeClientKeyFile, pki.NodeClient, nil)
	ss, sreason := n.state(nodeServingCertFile, nodeServingKeyFile, pki.NodeServing, &want)
	action := decideCredentials(cs, ss)
	if action == credsKeep {
		return action, nil
	}
	n.log.Info("node certificates", "action", action.String(), "client", cs.String(), "client_reason", creason,
		"serving", ss.String(), "serving_reason", sreason)
	err = n.obtain(ctx, want, action == credsRenew)
	if action == credsRenew && errors.Is(err, errJoinRefused) {
		n.log.Warn("renewal refused; joining again with the token", "err", err)
		action = credsJoin
		err = n.obtain(ctx, want, false)
	}
	if err != nil && action == credsRenew && cs != pki.CertUnusable && ss != pki.CertUnusable {
		// The old certificates still work: keep them and try later.
		n.log.Warn("node certificates not renewed; keeping the current ones", "err", err)
		return credsKeep, nil
	}
	return action, err
}

// obtain makes two keys, has them signed and writes keys and
// certificates (keys first: a crash between leaves a pair that does not
// match, which the next start replaces).
func (n *nodeCredentials) obtain(ctx context.Context, sans pki.SANs, renew bool) error {
	clientKey, clientKeyPEM, err := pki.NewKeyPEM()
	if err != nil {
		return err
	}
	servingKey, servingKeyPEM, err := pki.NewKeyPEM()
	if err != nil {
		return err
	}
	clientPub, err := pki.PublicKeyPEM(&clientKey.PublicKey)
	if err != nil {
		return err
	}
	servingPub, err := pki.PublicKeyPEM(&servingKey.PublicKey)
	if err != nil {
		return err
	}
	req := nodeCredentialsRequest{NodeName: n.name, Hostnames: n.hostnames, ClientPublicKey: string(clientPub),
		ServingPublicKey: string(servingPub)}
	for _, ip := range n.ips {
		req.Addresses = append(req.Addresses, ip.String())
	}
	resp, err := n.iss.issue(ctx, req, renew)
	if err != nil {
		return err
	}
	if !bytes.Equal(bytes.TrimSpace([]byte(resp.CA)), bytes.TrimSpace(n.caPEM)) {
		return errors.New("the server answered with another cluster CA than the token's: refusing its certificates")
	}
	for _, c := range []struct {
		pem  string
		kind pki.NodeCertKind
		want *pki.SANs
	}{{resp.ClientCertificate, pki.NodeClient, nil}, {resp.ServingCertificate, pki.NodeServing, nil}} {
		cert, err := pki.ParseCertPEM([]byte(c.pem))
		if err != nil {
			return fmt.Errorf("the server's %s certificate: %w", c.kind, err)
		}
		if st, why := pki.CheckNodeCert(cert, n.ca, c.kind, n.name, c.want, n.now()); st == pki.CertUnusable {
			return fmt.Errorf("the server's %s certificate: %s", c.kind, why)
		}
	}
	if len(resp.Dropped) > 0 {
		n.log.Warn("the server left names out of the node's serving certificate (they are the API server's)", "dropped", resp.Dropped)
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{nodeCAFile, n.caPEM, 0o644},
		{nodeClientKeyFile, clientKeyPEM, 0o600}, {nodeClientCertFile, []byte(resp.ClientCertificate), 0o644},
		{nodeServingKeyFile, servingKeyPEM, 0o600}, {nodeServingCertFile, []byte(resp.ServingCertificate), 0o644},
	} {
		if err := pki.WriteFileAtomic(n.path(f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// restConfig reaches server as the node: its client certificate from the
// files (client-go reloads them when they change), the CA.
func (n *nodeCredentials) restConfig(server string) *rest.Config {
	return &rest.Config{Host: server, TLSClientConfig: rest.TLSClientConfig{
		CAData: n.caPEM, CertFile: n.path(nodeClientCertFile), KeyFile: n.path(nodeClientKeyFile)}}
}

// serving is the serving certificate, read again from its files when
// they change (nodeagent.Config.GetServingCert: its Get), and the pool of
// client CAs the agent's port takes.
func (n *nodeCredentials) serving() (*stream.CertFiles, *x509.CertPool, error) {
	cf, err := stream.LoadCertFiles(n.path(nodeServingCertFile), n.path(nodeServingKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("the node's serving certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(n.ca)
	return cf, pool, nil
}

// renewLoop checks the certificates every interval until ctx ends. The
// running agent uses what it renews without a restart: the client
// certificate because client-go reloads its files (restConfig), the
// serving certificate because the agent's port reads its files at each
// handshake (serving).
func (n *nodeCredentials) renewLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if action, err := n.ensure(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("node certificates", "action", action.String(), "err", err)
		} else if action != credsKeep {
			n.log.Info("node certificates renewed", "action", action.String(), "dir", n.dir)
		}
	}
}

// fetchCA returns the cluster CA: DIR/ca.crt when its hash is the
// token's, else the server's /cacerts checked against the hash.
func fetchCA(ctx context.Context, server, caHash, dir string) ([]byte, error) {
	if b, err := os.ReadFile(filepath.Join(dir, nodeCAFile)); err == nil && caHashOf(b) == caHash {
		return b, nil
	}
	// The CA is not known yet: this one request does not verify the
	// server; its answer is checked against the token's hash instead.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
	defer c.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/cacerts", nil)
	if err != nil {
		return nil, usagef("--server %q: %v", server, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch the cluster CA from %s: %w", server, err)
	}
	defer resp.Body.Close()
	ca, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch the cluster CA from %s/cacerts: status %s, %v", server, resp.Status, err)
	}
	if caHashOf(ca) != caHash {
		return nil, fmt.Errorf("the CA of %s does not match the token's hash: wrong server, or a token of another cluster", server)
	}
	return ca, nil
}

func caHashOf(caPEM []byte) string {
	sum := sha256.Sum256(caPEM)
	return hex.EncodeToString(sum[:])
}

// nodeHostnames is the host name for a node's serving certificate (none
// when it is not a DNS name).
func nodeHostnames() []string {
	h, err := os.Hostname()
	h = strings.ToLower(strings.TrimSpace(h))
	if err != nil || h == "" || pki.CheckNodeName(h) != nil {
		return nil
	}
	return []string{h}
}
