package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/internal/pki"
	"k8s.io/client-go/rest"
)

// A running server's certificates are renewed without a restart (issue
// 12: "certificates are rotated before expiry"):
//
//   - a pki.Reloader runs pki.Ensure again every pki.CheckInterval (12 h,
//     sooner when a leaf falls due before) and renews what is within
//     pki.RenewBefore (90 days) of its end;
//   - the API's serving certificate and its client certificate towards the
//     agents (kube-apiserver-kubelet-client) come from the Reloader at
//     every handshake (serverTLSConfig, agentClientTLS: certSource);
//   - the controllers, the scheduler and the join endpoint's admin client
//     read their client certificates from the files in DATA_DIR/tls, which
//     client-go loads again when they change (it looks every 5 minutes and
//     closes its connections on a change, so they reconnect with the new
//     certificate);
//   - the admin kubeconfig is written again with the new admin certificate;
//   - the server's own agent renews its certificates itself (renewLoop) and
//     uses them without a restart.
//
// The CA is never rotated automatically: its end is logged as a warning
// in its last 90 days, and a CA replaced on disk is refused until a
// restart.

// certSource gives the TLS callbacks their certificates at each
// handshake: a *pki.Reloader in a running server (renewed certificates
// from the next handshake on), or a fixed *pki.Bundle (tests).
type certSource interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	GetKubeletClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error)
}

// certFiles is a client certificate and its key, as files.
type certFiles struct{ cert, key string }

// componentCertFiles is a component's client certificate in DATA_DIR/tls
// (pki's file names).
func componentCertFiles(dataDir, certFile, keyFile string) certFiles {
	dir := filepath.Join(dataDir, "tls")
	return certFiles{filepath.Join(dir, certFile), filepath.Join(dir, keyFile)}
}

// clientTLSFromFiles is a client's TLS towards this server: the cluster
// CA and a client certificate from files, which client-go reloads when
// they are renewed.
func clientTLSFromFiles(caPEM []byte, f certFiles) rest.TLSClientConfig {
	return rest.TLSClientConfig{CAData: caPEM, CertFile: f.cert, KeyFile: f.key}
}

// startCertRenewal runs rot's checks (pki.Reloader.Run) until ctx ends or
// the returned stop is called (stop waits for it). A renewed admin
// certificate is written into the kubeconfig at kubeconfigPath.
func startCertRenewal(ctx context.Context, rot *pki.Reloader, interval time.Duration, kubeconfigPath, apiURL string, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rot.Run(ctx, interval, func(b *pki.Bundle, changed []string) {
			renewedKubeconfig(b, changed, kubeconfigPath, apiURL, log)
		})
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// renewedKubeconfig writes the admin kubeconfig again when the admin
// certificate is among the changed ones.
func renewedKubeconfig(b *pki.Bundle, changed []string, path, apiURL string, log *slog.Logger) {
	if !slices.Contains(changed, pki.AdminCertFile) {
		return
	}
	if err := pki.WriteKubeconfig(path, pki.Kubeconfig(apiURL, b.CAPEM, b.AdminCertPEM, b.AdminKeyPEM)); err != nil {
		log.Error("the admin certificate was renewed but the kubeconfig was not written again: the old one works until its certificate ends",
			"kubeconfig", path, "err", err)
		return
	}
	log.Info("wrote the admin kubeconfig with the renewed admin certificate", "kubeconfig", path)
}
