package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kelson-dev/kelson/raftnode"
	"github.com/spf13/pflag"
)

// runServerCapture runs the command line with a server runner that records
// the serverConfig instead of starting a server.
func runServerCapture(t *testing.T, args ...string) (code int, cfg serverConfig, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	r := runners{server: func(_ context.Context, c serverConfig) error {
		cfg = c
		return nil
	}}
	code = execute(context.Background(), args, &out, &errOut, r)
	return code, cfg, errOut.String()
}

func TestServerDefaults(t *testing.T) {
	code, cfg, stderr := runServerCapture(t, "server")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	abs, _ := filepath.Abs("default.kelson/admin.kubeconfig")
	if cfg.DataDir != "default.kelson" || cfg.Member.DataDir != filepath.Join("default.kelson", "store") ||
		cfg.KubeconfigPath != abs || cfg.HTTPSPort != 6443 || !cfg.BindAddress.Equal(net.IPv4(127, 0, 0, 1)) ||
		cfg.ServiceCIDR.String() != "10.43.0.0/16" || cfg.ClusterCIDR.String() != "10.42.0.0/16" ||
		cfg.NodePortMin != 30000 || cfg.NodePortMax != 32767 || len(cfg.EtcdServers) != 0 || len(cfg.TLSSANs) != 0 {
		t.Fatalf("defaults: %+v", cfg)
	}
	if cfg.Logger == nil || cfg.Member.Logger == nil || cfg.Out == nil {
		t.Fatal("logger or output missing")
	}
	// The member's other settings are raftnode's defaults.
	cfg.Member.Logger, cfg.Member.DataDir = nil, ""
	if cfg.Member.Name != "" || cfg.Member.ListenClientURLs != nil || cfg.Member.HeartbeatInterval != 0 {
		t.Fatalf("member defaults: %+v", cfg.Member)
	}
}

func TestServerFlags(t *testing.T) {
	code, cfg, stderr := runServerCapture(t, "server",
		"--name", "b", "--data-dir", "/var/lib/kelson", "--https-listen-port", "7443", "--bind-address", "0.0.0.0",
		"--write-kubeconfig", "/etc/kelson/kc.yaml", "--tls-san", "api.example.com,10.0.0.9", "--tls-san", "other.example",
		"--service-cidr", "10.96.0.0/12", "--cluster-cidr", "10.244.0.0/16", "--service-node-port-range", "31000-31999",
		"--listen-client-urls", "http://127.0.0.1:22379", "--listen-peer-urls", "http://127.0.0.1:22380",
		"--initial-cluster", "a=http://127.0.0.1:2380,b=http://127.0.0.1:22380", "--initial-cluster-state", "existing",
		"--heartbeat-interval", "50", "--election-timeout", "500", "--log-format", "json",
		"--disable-admission-plugins", "PodSecurity,ResourceQuota")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if cfg.DataDir != "/var/lib/kelson" || cfg.Member.DataDir != "/var/lib/kelson/store" || cfg.HTTPSPort != 7443 ||
		!cfg.BindAddress.Equal(net.IPv4zero) || cfg.KubeconfigPath != "/etc/kelson/kc.yaml" ||
		strings.Join(cfg.TLSSANs, " ") != "api.example.com 10.0.0.9 other.example" ||
		cfg.ServiceCIDR.String() != "10.96.0.0/12" || cfg.ClusterCIDR.String() != "10.244.0.0/16" ||
		cfg.NodePortMin != 31000 || cfg.NodePortMax != 31999 ||
		strings.Join(cfg.DisableAdmissionPlugins, " ") != "PodSecurity ResourceQuota" {
		t.Fatalf("server config: %+v", cfg)
	}
	m := cfg.Member
	if m.Name != "b" || m.ListenClientURLs[0] != "http://127.0.0.1:22379" || m.ListenPeerURLs[0] != "http://127.0.0.1:22380" ||
		m.InitialCluster != "a=http://127.0.0.1:2380,b=http://127.0.0.1:22380" || m.InitialClusterState != "existing" ||
		m.HeartbeatInterval != 50*time.Millisecond || m.ElectionTimeout != 500*time.Millisecond {
		t.Fatalf("member config: %+v", m)
	}

	// The data dir follows --name, as `kelson store`'s does.
	if _, cfg, _ := runServerCapture(t, "server", "--name", "c"); cfg.DataDir != "c.kelson" {
		t.Errorf("--name c: data dir %q", cfg.DataDir)
	}
	code, cfg, stderr = runServerCapture(t, "server", "--disable", "scheduler", "--disable", "controller-manager")
	if code != 0 || strings.Join(cfg.Disabled, ",") != "scheduler,controller-manager" {
		t.Fatalf("--disable: exit %d, %v: %s", code, cfg.Disabled, stderr)
	}
	code, cfg, stderr = runServerCapture(t, "server", "--etcd-servers", "http://127.0.0.1:2379,127.0.0.1:22379")
	if code != 0 || len(cfg.EtcdServers) != 2 {
		t.Fatalf("--etcd-servers: exit %d, %v: %s", code, cfg.EtcdServers, stderr)
	}
}

// TestStoreAndServerShareMemberFlags: every etcd flag of `kelson store`
// but --data-dir is a flag of `kelson server` with the same usage.
func TestStoreAndServerShareMemberFlags(t *testing.T) {
	store := newStoreCommand(raftnode.Run).Flags()
	server := newServerCommand(runServer).Flags()
	var m memberFlags
	m.bind(pflag.NewFlagSet("names", pflag.ContinueOnError), true) // only to list the names
	for _, name := range append(m.names, "log-format", "log-level", "enable-pprof", "listen-metrics-urls") {
		sf, vf := store.Lookup(name), server.Lookup(name)
		if name == "data-dir" {
			if vf == nil || vf.Usage == sf.Usage {
				t.Errorf("server --data-dir should have its own meaning: %+v", vf)
			}
			continue
		}
		if sf == nil || vf == nil || sf.Usage != vf.Usage {
			t.Errorf("--%s: store %v, server %v", name, sf, vf)
		}
	}
}

func TestServerUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--service-cidr", "10.43.0.0"}, "--service-cidr"},
		{[]string{"--service-cidr", "10.43.0.1/16"}, "did you mean 10.43.0.0/16"},
		{[]string{"--service-cidr", "10.43.0.0/32"}, "too small"},
		{[]string{"--cluster-cidr", "nope"}, "--cluster-cidr"},
		{[]string{"--cluster-cidr", "10.43.0.0/24"}, "overlap"},
		{[]string{"--service-node-port-range", "32767-30000"}, "--service-node-port-range"},
		{[]string{"--service-node-port-range", "30000"}, "MIN-MAX"},
		{[]string{"--service-node-port-range", "0-100"}, "--service-node-port-range"},
		{[]string{"--https-listen-port", "70000"}, "--https-listen-port"},
		{[]string{"--bind-address", "localhost"}, "--bind-address"},
		{[]string{"--tls-san", "not a name"}, "--tls-san"},
		{[]string{"--etcd-servers", "http://127.0.0.1:2379", "--name", "a", "--listen-client-urls", "http://127.0.0.1:1"}, "--name, --listen-client-urls"},
		{[]string{"--etcd-servers", "ftp://127.0.0.1:2379"}, "want http://host:port or https://host:port"},
		{[]string{"--etcd-servers", "http://127.0.0.1:2379", "--etcd-cafile", "ca.crt"}, "--etcd-cafile given, but --etcd-servers http://127.0.0.1:2379 are not https://"},
		{[]string{"--etcd-servers", "127.0.0.1"}, "port"},
		{[]string{"--max-txn-ops", "99999999999"}, "--max-txn-ops"},
		{[]string{"--log-format", "xml"}, "--log-format"},
		{[]string{"--no-such-flag"}, "--no-such-flag"},
		{[]string{"--disable", "scheduler,kubelet"}, `--disable "kubelet": not a component`},
		{[]string{"extra"}, "no arguments"},
	} {
		code, _, stderr := runServerCapture(t, append([]string{"server"}, c.args...)...)
		if code != 2 || !strings.HasPrefix(stderr, "kelson: ") || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message naming %q", c.args, code, stderr, c.want)
		}
	}
}

func TestParsePortRange(t *testing.T) {
	lo, hi, err := parsePortRange(" 30000 - 32767 ")
	if err != nil || lo != 30000 || hi != 32767 {
		t.Fatalf("got %d-%d, %v", lo, hi, err)
	}
	for _, bad := range []string{"", "-", "a-b", "1-65536", "5-4", "30000-"} {
		if _, _, err := parsePortRange(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
