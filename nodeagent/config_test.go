package nodeagent

import (
	"crypto/tls"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

func TestConfigDefaultsAndErrors(t *testing.T) {
	ok := Config{NodeName: "n", API: &rest.Config{}, DataDir: "agent.kelson"}
	c, err := ok.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 10250 || c.ClusterDNS.String() != "10.43.0.10" || c.ClusterDomain != "cluster.local" ||
		c.ResolvConf != "/etc/resolv.conf" || !strings.HasPrefix(c.DataDir, "/") || c.BindAddress.String() != "0.0.0.0" {
		t.Fatalf("defaults: %+v", c)
	}
	for name, mutate := range map[string]func(*Config){
		"no node name": func(c *Config) { c.NodeName = "" },
		"no API":       func(c *Config) { c.API = nil },
		"no data dir":  func(c *Config) { c.DataDir = "" },
		"bad port":     func(c *Config) { c.Port = 70000 },
		"DNS outside":  func(c *Config) { c.ClusterDNS = netip.MustParseAddr("10.44.0.10") },
		"empty cert":   func(c *Config) { c.ServingCert = &tls.Certificate{} },
	} {
		c := ok
		mutate(&c)
		if _, err := c.withDefaults(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err %v, want ErrConfig", name, err)
		}
	}
}
