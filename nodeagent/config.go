package nodeagent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
)

// Config is what an agent runs with; `kelson agent` and `kelson server`
// build it from their flags.
type Config struct {
	// NodeName names the Node (required).
	NodeName string
	// NodeIPs are the node's InternalIPs [--node-ip]; empty = detected (the
	// default route's interface).
	NodeIPs []netip.Addr
	// Labels and Taints of the Node [--node-label, --node-taint].
	Labels map[string]string
	Taints []corev1.Taint
	// DataDir holds the agent's state: containerd's root and state, the
	// pods' network namespaces and IP allocations, volumes and logs.
	DataDir string
	// API reaches the Kubernetes API (required).
	API *rest.Config
	// ContainerdAddress is an existing containerd's socket
	// [--containerd-address]; empty = the agent starts its own under
	// DataDir/containerd.
	ContainerdAddress string
	// LogDriver is the kelson binary the containerd shims run to write
	// container logs (default: this executable).
	LogDriver string
	// Port and BindAddress: the agent's HTTPS port (logs, exec) [--agent-port];
	// default 10250 on every address.
	Port        int
	BindAddress netip.Addr
	// ClusterCIDR (pod addresses) and ServiceCIDR (ClusterIPs): the
	// server's --cluster-cidr and --service-cidr.
	ClusterCIDR, ServiceCIDR netip.Prefix
	// ClusterDNS is the DNS Service's ClusterIP pods' resolv.conf names
	// [--cluster-dns]; default the 10th address of ServiceCIDR
	// (10.43.0.10). ClusterDomain [--cluster-domain], default cluster.local.
	ClusterDNS    netip.Addr
	ClusterDomain string
	// ResolvConf is the host's resolver file, the upstream of cluster DNS
	// and the resolv.conf of dnsPolicy Default pods [--resolv-conf];
	// default /etc/resolv.conf.
	ResolvConf string
	// KubeletVersion the Node reports; default the API's release.
	KubeletVersion string
	Logger         *slog.Logger
	// ServingCert is the certificate the agent's port (logs, exec)
	// presents: signed by the cluster CA for the node's names and
	// addresses. nil: a self-signed one (tests).
	ServingCert *tls.Certificate
	// GetServingCert, when set instead of ServingCert, is asked at every
	// handshake on the agent's port: a renewed serving certificate is
	// served without a restart (stream.CertFiles.Get reads the files the
	// renewal replaces).
	GetServingCert func() (*tls.Certificate, error)
	// ClientCAs verifies the callers of the agent's port: only a client
	// certificate from them with CN kube-apiserver-kubelet-client (the API
	// server) or in group system:masters is served. nil: callers are not
	// authenticated (tests).
	ClientCAs *x509.CertPool
}

// ErrConfig marks a Config that cannot run.
var ErrConfig = errors.New("nodeagent: bad config")

// withDefaults checks c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if c.NodeName == "" {
		return c, fmt.Errorf("%w: no node name (--node-name)", ErrConfig)
	}
	if c.API == nil {
		return c, fmt.Errorf("%w: no API to reach (--server and --token, or --kubeconfig)", ErrConfig)
	}
	if c.DataDir == "" {
		return c, fmt.Errorf("%w: no data dir (--data-dir)", ErrConfig)
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return c, fmt.Errorf("%w: data dir %s: %v", ErrConfig, c.DataDir, err)
	}
	c.DataDir = abs
	if c.Port == 0 {
		c.Port = 10250
	}
	if c.Port < 1 || c.Port > 65535 {
		return c, fmt.Errorf("%w: agent port %d: want 1-65535", ErrConfig, c.Port)
	}
	if !c.BindAddress.IsValid() {
		c.BindAddress = netip.IPv4Unspecified()
	}
	if !c.ClusterCIDR.IsValid() {
		c.ClusterCIDR = netip.MustParsePrefix("10.42.0.0/16")
	}
	if !c.ServiceCIDR.IsValid() {
		c.ServiceCIDR = netip.MustParsePrefix("10.43.0.0/16")
	}
	if !c.ClusterDNS.IsValid() {
		c.ClusterDNS = DefaultClusterDNS(c.ServiceCIDR)
	}
	if !c.ServiceCIDR.Contains(c.ClusterDNS) {
		return c, fmt.Errorf("%w: cluster DNS %s is outside the service CIDR %s", ErrConfig, c.ClusterDNS, c.ServiceCIDR)
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.ResolvConf == "" {
		c.ResolvConf = "/etc/resolv.conf"
	}
	if c.ServingCert != nil && (len(c.ServingCert.Certificate) == 0 || c.ServingCert.PrivateKey == nil) {
		return c, fmt.Errorf("%w: the agent port's serving certificate has no certificate or no key", ErrConfig)
	}
	if c.ServingCert != nil && c.GetServingCert != nil {
		return c, fmt.Errorf("%w: both ServingCert and GetServingCert are set: set one", ErrConfig)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// DefaultClusterDNS is the 10th address of the service CIDR, the DNS
// Service's ClusterIP as k3s and kubeadm choose it (10.43.0.10); the 2nd
// in a range too small for it. The API server's default is the same.
func DefaultClusterDNS(serviceCIDR netip.Prefix) netip.Addr {
	base := serviceCIDR.Masked().Addr()
	a := base
	for range 10 {
		a = a.Next()
	}
	if !serviceCIDR.Contains(a) {
		a = base.Next().Next()
	}
	return a
}

// Preflight says why the agent cannot run on this machine (nil when it
// can): it needs root (network namespaces, mounts, cgroups), runc, and
// containerd unless ContainerdAddress names a running one.
func (c Config) Preflight() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: the node agent needs root (it makes network namespaces, mounts and cgroups)", ErrConfig)
	}
	need := []string{"runc"}
	if c.ContainerdAddress == "" {
		need = append(need, "containerd")
	}
	for _, b := range need {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("%w: %s is not installed (Debian: apt-get install containerd runc)", ErrConfig, b)
		}
	}
	return nil
}
