package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/kelson-dev/kelson/apiserver/storage"
	"github.com/kelson-dev/kelson/internal/pki"
	"github.com/kelson-dev/kelson/raftnode"
	"github.com/spf13/pflag"
)

// TLS of a server's store.
//
// The member: when its peer URLs (--listen-peer-urls,
// --initial-advertise-peer-urls, --initial-cluster) are https:// and no
// peer certificate is given (--peer-cert-file, --peer-auto-tls), it uses
// DATA_DIR/tls/etcd-peer.crt from the store CA (DATA_DIR/tls/etcd-ca.crt,
// made once at the first start, pki.EnsureStoreCA), trusts only the store
// CA and requires peer certificates: the servers of one cluster (which
// share the store CA through their token) talk, a member of another
// cluster is refused in the handshake. Likewise for https:// client (and
// metrics) URLs without --cert-file/--auto-tls: DATA_DIR/tls/etcd-server.crt,
// and client certificates of the store CA required; the server writes
// DATA_DIR/tls/etcd-client.crt (CN root) for etcdctl. The cluster CA signs
// nothing of the store and is not trusted by it: its certificates (node
// agents', the controllers', users') would otherwise read and write every
// key of the store, past RBAC, while etcd auth is off. The certificates are
// checked at start and every storeCertCheck after, and made again as
// pki.EnsureStore says (near their end, or for new names); the member
// reads a changed pair on its next handshake.
//
// --etcd-servers https://...: kube-apiserver's --etcd-cafile,
// --etcd-certfile and --etcd-keyfile (storage.RemoteTLS).

// storeCertCheck is how often a running server checks its store
// certificates (renewal happens RenewBefore, 90 days, before their end).
const storeCertCheck = 12 * time.Hour

// etcdTLSFlags are kube-apiserver's flags of TLS to --etcd-servers.
type etcdTLSFlags struct {
	storage.RemoteTLS
}

func (e *etcdTLSFlags) bind(f *pflag.FlagSet) {
	f.StringVar(&e.CAFile, "etcd-cafile", "", "with https:// --etcd-servers: CA certificate file (PEM) verifying the store's serving certificates (default: the system roots)")
	f.StringVar(&e.CertFile, "etcd-certfile", "", "with https:// --etcd-servers: client certificate file (PEM) presented to the store")
	f.StringVar(&e.KeyFile, "etcd-keyfile", "", "with https:// --etcd-servers: key file (PEM) of --etcd-certfile")
}

// given lists the flags set, as --etcd-cafile.
func (e *etcdTLSFlags) given() []string {
	var out []string
	for _, f := range []struct{ name, v string }{{"--etcd-cafile", e.CAFile}, {"--etcd-certfile", e.CertFile}, {"--etcd-keyfile", e.KeyFile}} {
		if f.v != "" {
			out = append(out, f.name)
		}
	}
	return out
}

// checkEtcdServers checks --etcd-servers with the TLS flags: each endpoint
// (checkEtcdServer), all https:// or none, the TLS flags only with
// https:// endpoints and --etcd-certfile with --etcd-keyfile. Pure.
func checkEtcdServers(servers []string, t etcdTLSFlags) error {
	given := t.given()
	if len(servers) == 0 {
		if len(given) > 0 {
			return usagef("%s: these flags are for TLS to --etcd-servers, and none is given (the server's own member takes --cert-file, --trusted-ca-file and the like)",
				strings.Join(given, ", "))
		}
		return nil
	}
	https := 0
	for _, e := range servers {
		if err := checkEtcdServer(e); err != nil {
			return err
		}
		if strings.HasPrefix(e, "https://") {
			https++
		}
	}
	switch {
	case https > 0 && https < len(servers):
		return usagef("--etcd-servers %s: mixes https:// and plain endpoints; one store is reached one way: make them all https://",
			strings.Join(servers, ","))
	case https == 0 && len(given) > 0:
		return usagef("%s given, but --etcd-servers %s are not https://: use https:// endpoints for TLS, or drop the flags",
			strings.Join(given, ", "), strings.Join(servers, ","))
	case (t.CertFile == "") != (t.KeyFile == ""):
		return usagef("--etcd-certfile and --etcd-keyfile go together: give both, or neither for a store that asks no client certificate")
	}
	return nil
}

// remoteTLS is the client TLS configuration of --etcd-servers: nil for
// http:// endpoints.
func remoteTLS(servers []string, t storage.RemoteTLS) (*tls.Config, error) {
	if len(servers) == 0 || !strings.HasPrefix(servers[0], "https://") {
		return nil, nil
	}
	c, err := t.Config()
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

// remoteStoreHint says what to check when --etcd-servers do not answer:
// the TLS flags for a TLS failure, the store otherwise. Pure.
func remoteStoreHint(err error) string {
	s := strings.ToLower(err.Error())
	for _, w := range []string{"x509", "certificate", "tls:", "handshake", "first record does not look like a tls handshake"} {
		if strings.Contains(s, w) {
			return "the TLS handshake with the store failed: check --etcd-cafile (the CA of the store's serving certificate), " +
				"--etcd-certfile and --etcd-keyfile (a client certificate the store's --trusted-ca-file signed), and that the endpoints are the store's https:// client URLs"
		}
	}
	return "start the store first, or check the endpoints"
}

// storeTLSPlan says which sides of the member take certificates from the
// store CA, and for which names; nil sides keep the flags' settings.
type storeTLSPlan struct {
	Peer, Client *pki.SANs
}

func (p storeTLSPlan) none() bool { return p.Peer == nil && p.Client == nil }

// planStoreTLS decides the member's TLS from its configuration (after the
// flags, before raftnode's defaults): a side gets the store CA's
// certificates when one of its URLs is https:// and no certificate is
// given (--peer-cert-file/--peer-key-file/--peer-auto-tls on the peer
// side, --cert-file/--key-file/--auto-tls on the client side). The names
// are the hosts of that side's URLs (pki.StoreSANs). Pure.
func planStoreTLS(m raftnode.Config) (storeTLSPlan, error) {
	var plan storeTLSPlan
	peerURLs := append(append([]string{}, m.ListenPeerURLs...), m.InitialAdvertisePeerURLs...)
	peerHTTPS := anyHTTPSURL(peerURLs) || initialClusterHTTPS(m.InitialCluster)
	if peerHTTPS && m.PeerTLS.CertFile == "" && m.PeerTLS.KeyFile == "" && !m.PeerTLS.AutoTLS {
		sans, err := pki.StoreSANs(peerURLs)
		if err != nil {
			return plan, usagef("the peer URLs: %v", err)
		}
		plan.Peer = &sans
	}
	clientURLs := append(append(append([]string{}, m.ListenClientURLs...), m.AdvertiseClientURLs...), m.ListenMetricsURLs...)
	if anyHTTPSURL(clientURLs) && m.ClientTLS.CertFile == "" && m.ClientTLS.KeyFile == "" && !m.ClientTLS.AutoTLS {
		sans, err := pki.StoreSANs(clientURLs)
		if err != nil {
			return plan, usagef("the client URLs: %v", err)
		}
		plan.Client = &sans
	}
	return plan, nil
}

func anyHTTPSURL(urls []string) bool {
	for _, u := range urls {
		if strings.HasPrefix(strings.TrimSpace(u), "https://") {
			return true
		}
	}
	return false
}

// initialClusterHTTPS reports whether a member of --initial-cluster
// (name=URL,...) has an https:// peer URL.
func initialClusterHTTPS(s string) bool {
	for _, e := range strings.Split(s, ",") {
		if _, u, ok := strings.Cut(e, "="); ok && strings.HasPrefix(strings.TrimSpace(u), "https://") {
			return true
		}
	}
	return false
}

// applyStoreTLS sets the sides of m that plan chose to the store files:
// the certificate, the store CA as trusted CA (unless one was given) and
// client certificates required. Pure.
func applyStoreTLS(m *raftnode.Config, plan storeTLSPlan, f pki.StoreFiles) {
	if plan.Peer != nil {
		m.PeerTLS.CertFile, m.PeerTLS.KeyFile = f.PeerCert, f.PeerKey
		if m.PeerTLS.TrustedCAFile == "" {
			m.PeerTLS.TrustedCAFile = f.CAFile
		}
		m.PeerTLS.ClientCertAuth = true
	}
	if plan.Client != nil {
		m.ClientTLS.CertFile, m.ClientTLS.KeyFile = f.ServerCert, f.ServerKey
		if m.ClientTLS.TrustedCAFile == "" {
			m.ClientTLS.TrustedCAFile = f.CAFile
		}
		m.ClientTLS.ClientCertAuth = true
	}
}

// memberWithStoreTLS returns the member's configuration with the store
// CA's certificates where planStoreTLS puts them (made or renewed
// in DATA_DIR/tls), and keeps them renewed while ctx lasts. It prints the
// etcdctl command line for https:// client URLs to out.
func memberWithStoreTLS(ctx context.Context, cfg serverConfig, ca *pki.StoreAuthority, out io.Writer, log *slog.Logger) (raftnode.Config, error) {
	m := cfg.Member
	plan, err := planStoreTLS(m)
	if err != nil || plan.none() {
		return m, err
	}
	sc := pki.StoreConfig{Dir: filepath.Join(cfg.DataDir, "tls"), Peer: plan.Peer, Server: plan.Client, Logger: log}
	files, err := ca.EnsureStore(sc)
	if err != nil {
		return m, fmt.Errorf("the store's certificates: %w", err)
	}
	applyStoreTLS(&m, plan, files)
	if plan.Peer != nil {
		log.Info("store peers: TLS with certificates of the store CA, peer certificates of the store CA required", "cert", files.PeerCert, "ca", files.CAFile, "names", plan.Peer.String())
	}
	if plan.Client != nil {
		log.Info("store clients: TLS with certificates of the store CA, client certificates of the store CA required", "cert", files.ServerCert, "ca", files.CAFile, "names", plan.Client.String(),
			"etcdctl_cert", files.ClientCert)
		if out != nil {
			fmt.Fprintf(out, "kelson server: the store's client URLs need a certificate of the store CA (%s); etcdctl:\n  %s\n",
				files.CAFile, etcdctlCommand(storeClientEndpoints(m), files))
		}
	}
	go func() {
		t := time.NewTicker(storeCertCheck)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := ca.EnsureStore(sc); err != nil {
					log.Error("cannot renew the store's certificates; the member keeps the current ones", "err", err)
				}
			}
		}
	}()
	return m, nil
}

// storeClientEndpoints are the URLs etcdctl dials: the advertised client
// URLs, else the listened ones.
func storeClientEndpoints(m raftnode.Config) []string {
	if len(m.AdvertiseClientURLs) > 0 {
		return m.AdvertiseClientURLs
	}
	return m.ListenClientURLs
}

// etcdctlCommand is the etcdctl command line reading the API's keys over
// TLS with the written client certificate. Pure.
func etcdctlCommand(endpoints []string, f pki.StoreFiles) string {
	return fmt.Sprintf("etcdctl --endpoints %s --cacert %s --cert %s --key %s get /registry/ --prefix --keys-only",
		strings.Join(endpoints, ","), f.CAFile, f.ClientCert, f.ClientKey)
}
