package node

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes/fake"
)

func TestConfigDefaults(t *testing.T) {
	cfg := Config{Client: fake.NewClientset(), Hostname: "Host-A", NodeIPs: []netip.Addr{netip.MustParseAddr("10.0.0.5")}, HostFS: fstest.MapFS{}}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := n.cfg
	if c.NodeName != "host-a" || c.DaemonPort != 10250 || c.MaxPods != 110 || c.KubeletVersion != "v1.37.2" || c.DataDir != "/" ||
		c.LeaseDuration != 40*time.Second || c.LeaseRenewInterval != 10*time.Second || c.StatusUpdateFrequency != 10*time.Second ||
		c.StatusReportFrequency != 5*time.Minute || c.UsageInterval != 15*time.Second || c.Thresholds != defaultThresholds {
		t.Errorf("defaults: %+v", c)
	}

	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no client", func(c *Config) { c.Client = nil }, "Client is required"},
		{"bad name", func(c *Config) { c.NodeName = "Bad_Name" }, `node name "Bad_Name"`},
		{"bad label", func(c *Config) { c.Labels = map[string]string{"a b": "c"} }, `node label key "a b"`},
		{"bad taint", func(c *Config) { c.Taints = []corev1.Taint{{Key: "k", Effect: "Sometimes"}} }, `effect "Sometimes" unknown`},
		{"bad ip", func(c *Config) { c.NodeIPs = []netip.Addr{netip.IPv4Unspecified()} }, "not a usable address"},
		{"port", func(c *Config) { c.DaemonPort = 70000 }, "not a port"},
		{"reserved", func(c *Config) { c.Reserved = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-1")} }, "negative"},
		{"renew", func(c *Config) { c.LeaseRenewInterval = time.Minute }, "shorter than LeaseDuration"},
		{"usage", func(c *Config) { c.UsageInterval = 2 * time.Minute }, "over a minute"},
		{"pct", func(c *Config) { c.Thresholds.InodesFreePercent = 101 }, "above 100"},
	} {
		c := cfg
		tc.edit(&c)
		_, err := New(c)
		if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New error %v, want ErrBadConfig with %q", tc.name, err, tc.want)
		}
	}
}
