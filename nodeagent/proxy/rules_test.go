package proxy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/yaml"
)

// TestRules runs testdata/rules: each "rules" case gives the node's
// settings as arguments and Services and EndpointSlices as YAML documents,
// and expects the rendered table. Regenerate with -rewrite.
//
//	rules node-ips=(IP,IP...) cluster-cidr=P service-cidr=P dns=(SVCIP,TARGET:PORT)
func TestRules(t *testing.T) {
	datadriven.RunTest(t, "testdata/rules", func(t *testing.T, d *datadriven.TestData) string {
		if d.Cmd != "rules" {
			t.Fatalf("unknown command %q", d.Cmd)
		}
		snap, err := parseSnapshot(d)
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		rs := Rules(snap)
		// Determinism: the order of the inputs does not matter.
		rev := snap
		rev.Services = reversed(snap.Services)
		rev.Slices = reversed(snap.Slices)
		if again := Rules(rev).String(); again != rs.String() {
			t.Fatalf("rules depend on input order:\n%s\nvs\n%s", rs, again)
		}
		return rs.String()
	})
}

func reversed[T any](in []T) []T {
	out := make([]T, len(in))
	for i, v := range in {
		out[len(in)-1-i] = v
	}
	return out
}

func parseSnapshot(d *datadriven.TestData) (Snapshot, error) {
	var s Snapshot
	for _, a := range d.CmdArgs {
		v := strings.Join(a.Vals, ",")
		var err error
		switch a.Key {
		case "node-ips":
			for _, ip := range a.Vals {
				addr, perr := netip.ParseAddr(ip)
				if perr != nil {
					return s, perr
				}
				s.NodeIPs = append(s.NodeIPs, addr)
			}
		case "cluster-cidr":
			s.ClusterCIDR, err = netip.ParsePrefix(v)
		case "service-cidr":
			s.ServiceCIDR, err = netip.ParsePrefix(v)
		case "dns":
			if len(a.Vals) != 2 {
				return s, fmt.Errorf("dns=(SVCIP,TARGET:PORT)")
			}
			if s.DNS.ServiceIP, err = netip.ParseAddr(a.Vals[0]); err == nil {
				s.DNS.Target, err = netip.ParseAddrPort(a.Vals[1])
			}
		default:
			return s, fmt.Errorf("unknown argument %q", a.Key)
		}
		if err != nil {
			return s, err
		}
	}
	for _, doc := range strings.Split(d.Input, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			return s, err
		}
		switch meta.Kind {
		case "Service":
			var o corev1.Service
			if err := yaml.UnmarshalStrict([]byte(doc), &o); err != nil {
				return s, err
			}
			s.Services = append(s.Services, &o)
		case "EndpointSlice":
			var o discoveryv1.EndpointSlice
			if err := yaml.UnmarshalStrict([]byte(doc), &o); err != nil {
				return s, err
			}
			s.Slices = append(s.Slices, &o)
		default:
			return s, fmt.Errorf("unknown kind %q", meta.Kind)
		}
	}
	return s, nil
}
