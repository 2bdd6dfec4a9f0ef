package raftnode

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/kelson-dev/kelson/raftnode/tlsinfo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// ALPN protocols. A client port prefers HTTP/1.1, so that a client that
// can speak it (curl, net/http, Prometheus) reaches the HTTP endpoints
// rather than the gRPC server; gRPC clients offer only h2 and get it (see
// tlsinfo's doc). Peer ports serve gRPC only; metrics ports HTTP only.
var (
	clientALPN  = []string{"http/1.1", "h2"}
	peerALPN    = []string{"h2"}
	metricsALPN = []string{"h2", "http/1.1"}
)

func isHTTPS(u string) bool { return strings.HasPrefix(u, "https://") }

// validateTLS checks the TLS flags against the URLs, with etcd's messages;
// it reads no file (setupTLS does).
func (c *Config) validateTLS() error {
	bad := func(err error) error { return fmt.Errorf("%w: %w", ErrBadConfig, err) }
	if err := c.ClientTLS.Check(tlsinfo.Client); err != nil {
		return bad(err)
	}
	if err := c.PeerTLS.Check(tlsinfo.Peer); err != nil {
		return bad(err)
	}
	p, err := tlsinfo.ParseParams(c.CipherSuites, c.TLSMinVersion, c.TLSMaxVersion)
	if err != nil {
		return bad(err)
	}
	c.tlsParams = p
	if c.SelfSignedCertValidity == 0 {
		c.SelfSignedCertValidity = 1
	}
	clientCerts := !c.ClientTLS.Empty() || c.ClientTLS.AutoTLS
	peerCerts := !c.PeerTLS.Empty() || c.PeerTLS.AutoTLS
	for _, u := range c.ListenClientURLs {
		if isHTTPS(u) && !clientCerts {
			return fmt.Errorf("%w: TLS key/cert (--cert-file, --key-file) must be provided for client url %s with HTTPS scheme (or use --auto-tls)", ErrBadConfig, u)
		}
	}
	for _, u := range c.ListenPeerURLs {
		if isHTTPS(u) && !peerCerts {
			return fmt.Errorf("%w: cannot listen on TLS for %s: KeyFile and CertFile are not presented (give --peer-cert-file and --peer-key-file, or --peer-auto-tls)", ErrBadConfig, hostPort(u))
		}
	}
	for _, u := range c.ListenMetricsURLs {
		if isHTTPS(u) && !clientCerts {
			return fmt.Errorf("%w: client TLS key/cert (--cert-file, --key-file) must be provided for metrics secure url %s", ErrBadConfig, u)
		}
	}
	return nil
}

// tlsWarnings are etcd's start-up warnings about TLS settings that will
// be ignored. Pure.
func (c *Config) tlsWarnings() []string {
	w := append(c.ClientTLS.Warnings(tlsinfo.Client), c.PeerTLS.Warnings(tlsinfo.Peer)...)
	if !c.ClientTLS.Empty() && !anyHTTPS(c.ListenClientURLs) && !anyHTTPS(c.ListenMetricsURLs) {
		w = append(w, "--cert-file and --key-file are given but no client or metrics URL is https://: clients talk plain text")
	}
	if !c.PeerTLS.Empty() && !anyHTTPS(c.ListenPeerURLs) {
		w = append(w, "--peer-cert-file and --peer-key-file are given but no --listen-peer-urls is https://: peers talk plain text to this member")
	}
	return w
}

func anyHTTPS(urls []string) bool {
	for _, u := range urls {
		if isHTTPS(u) {
			return true
		}
	}
	return false
}

// memberTLS is a member's loaded TLS: client is nil when no client or
// metrics URL is https://; peer is always set (it dials https:// peers
// even without certificates of its own, verifying them against the system
// roots).
type memberTLS struct {
	client *tlsinfo.Set
	peer   *tlsinfo.Set
}

// setupTLS makes the --auto-tls certificates and loads the files.
func setupTLS(c *Config) (memberTLS, error) {
	var mt memberTLS
	for _, w := range c.tlsWarnings() {
		c.Logger.Warn(w)
	}
	client, peer := c.ClientTLS, c.PeerTLS
	var err error
	if client.AutoTLS && client.Empty() {
		if client, err = tlsinfo.SelfCert(filepath.Join(c.DataDir, "fixtures", "client"), hosts(c.ListenClientURLs, c.ListenMetricsURLs),
			c.SelfSignedCertValidity, c.Logger); err != nil {
			return mt, fmt.Errorf("%w: --auto-tls: %w", ErrBadConfig, err)
		}
	}
	if peer.AutoTLS && peer.Empty() {
		if peer, err = tlsinfo.SelfCert(filepath.Join(c.DataDir, "fixtures", "peer"), hosts(c.ListenPeerURLs),
			c.SelfSignedCertValidity, c.Logger); err != nil {
			return mt, fmt.Errorf("%w: --peer-auto-tls: %w", ErrBadConfig, err)
		}
	}
	log := c.Logger.With("component", "tls")
	if !client.Empty() {
		if mt.client, err = tlsinfo.Load(tlsinfo.Client, client, c.tlsParams, log); err != nil {
			return mt, fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
		c.Logger.Info("starting with client TLS", "tls", mt.client.String())
	}
	if mt.peer, err = tlsinfo.Load(tlsinfo.Peer, peer, c.tlsParams, log); err != nil {
		return mt, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	if !peer.Empty() {
		c.Logger.Info("starting with peer TLS", "tls", mt.peer.String())
	}
	return mt, nil
}

func hosts(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, u := range l {
			if pu, err := url.Parse(u); err == nil && pu.Host != "" {
				out = append(out, pu.Host)
			}
		}
	}
	return out
}

// peerDialOption is the transport credentials to dial a peer URL: TLS with
// the peer settings for https://, plain text otherwise.
func (mt memberTLS) peerDialOption(peerURL string) grpc.DialOption {
	if isHTTPS(peerURL) && mt.peer != nil {
		return grpc.WithTransportCredentials(credentials.NewTLS(mt.peer.ClientConfig()))
	}
	if isHTTPS(peerURL) {
		return grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	return grpc.WithTransportCredentials(insecure.NewCredentials())
}

// peerClientConfig is the transport's configuration for https:// peers.
func (mt memberTLS) peerClientConfig() *tls.Config {
	if mt.peer == nil {
		return nil
	}
	return mt.peer.ClientConfig()
}
