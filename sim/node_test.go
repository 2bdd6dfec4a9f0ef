package sim

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func validConfig() Config {
	return Config{Client: fake.NewClientset()}.withDefaults()
}

func TestConfigDefaults(t *testing.T) {
	c := validConfig()
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Nodes != 1 || c.NamePrefix != "sim-node" || c.CPU.String() != "8" || c.Memory.String() != "32Gi" || c.Pods != 110 ||
		c.LeaseDuration != 40*time.Second || c.LeaseRenewInterval != 10*time.Second ||
		c.NodeStatusUpdateFrequency != 10*time.Second || c.NodeStatusReportFrequency != 5*time.Minute ||
		c.RestartBackoff != 10*time.Second || c.MaxRestartBackoff != 5*time.Minute || c.Workers != 32 ||
		c.ClusterCIDR.String() != "10.42.0.0/16" || c.NodeCIDRMaskSize != 24 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "Client") {
		t.Errorf("New without a client: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"negative nodes", func(c *Config) { c.Nodes = -1 }, "Nodes"},
		{"bad prefix", func(c *Config) { c.NamePrefix = "Sim_Node" }, "name prefix"},
		{"long prefix", func(c *Config) { c.NamePrefix = strings.Repeat("a", 62) }, "name prefix"},
		{"bad label", func(c *Config) { c.Labels = map[string]string{"a b": "c"} }, "label key"},
		{"bad label value", func(c *Config) { c.Labels = map[string]string{"a": "c d"} }, "label a value"},
		{"bad taint", func(c *Config) { c.Taints = []corev1.Taint{{Key: "k", Effect: "Sometimes"}} }, "effect"},
		{"twice", func(c *Config) {
			c.Taints = []corev1.Taint{{Key: "k", Effect: "NoSchedule"}, {Key: "k", Value: "v", Effect: "NoSchedule"}}
		}, "twice"},
		{"lease", func(c *Config) { c.LeaseRenewInterval = time.Minute }, "LeaseDuration"},
		{"negative cpu", func(c *Config) { c.CPU = resource.MustParse("-1") }, "CPU"},
		{"bad resource", func(c *Config) { c.ExtraResources = corev1.ResourceList{"a/b/c": resource.MustParse("1")} }, "resource name"},
		{"cidr too small", func(c *Config) { c.AssignPodCIDRs, c.Nodes = true, 300 }, "fewer than 300 nodes"},
		{"mask too long", func(c *Config) { c.AssignPodCIDRs, c.NodeCIDRMaskSize = true, 31 }, "mask size"},
		{"host bits", func(c *Config) { c.AssignPodCIDRs, c.ClusterCIDR = true, netip.MustParsePrefix("10.42.0.1/16") }, "did you mean"},
	} {
		cfg := validConfig()
		c.edit(&cfg)
		err := cfg.validate()
		if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrBadConfig naming %q", c.name, err, c.want)
		}
	}
	cfg := validConfig()
	cfg.AssignPodCIDRs, cfg.Nodes, cfg.ClusterCIDR, cfg.NodeCIDRMaskSize = true, 5000, netip.MustParsePrefix("10.0.0.0/8"), 24
	if err := cfg.validate(); err != nil {
		t.Fatalf("5000 nodes in a /8: %v", err)
	}
}

func TestParseTaint(t *testing.T) {
	for in, want := range map[string]corev1.Taint{
		"dedicated=infra:NoSchedule":              {Key: "dedicated", Value: "infra", Effect: corev1.TaintEffectNoSchedule},
		"example.com/gpu:NoExecute":               {Key: "example.com/gpu", Effect: corev1.TaintEffectNoExecute},
		" spot=true:PreferNoSchedule ":            {Key: "spot", Value: "true", Effect: corev1.TaintEffectPreferNoSchedule},
		"node.kubernetes.io/not-ready:NoSchedule": {Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoSchedule},
	} {
		got, err := ParseTaint(in)
		if err != nil || got != want {
			t.Errorf("ParseTaint(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "key", "key=value", "key:Never", "a:b:NoSchedule", "bad key:NoSchedule", "k=bad value:NoSchedule", ":NoSchedule"} {
		if _, err := ParseTaint(bad); err == nil {
			t.Errorf("ParseTaint(%q) accepted", bad)
		}
	}
}

func TestNodeCIDRs(t *testing.T) {
	c := validConfig()
	c.ClusterCIDR, c.NodeCIDRMaskSize = netip.MustParsePrefix("10.0.0.0/8"), 24
	for i, want := range map[int]string{0: "10.0.0.0/24", 1: "10.0.1.0/24", 256: "10.1.0.0/24", 4999: "10.19.135.0/24"} {
		if got := c.nodeCIDR(i); got != want {
			t.Errorf("node %d: %s, want %s", i, got, want)
		}
	}
	c.ClusterCIDR, c.NodeCIDRMaskSize = netip.MustParsePrefix("fd00:1::/48"), 64
	if got := c.nodeCIDR(3); got != "fd00:1:0:3::/64" {
		t.Errorf("v6 node 3: %s", got)
	}
	if nodeIP(0) != "127.240.0.1" || nodeIP(4999) != "127.240.19.136" {
		t.Errorf("node IPs %s %s", nodeIP(0), nodeIP(4999))
	}
}

// TestNodeStatusReport: an unchanged status is reported only when a
// heartbeat is due; a condition someone else changed is put back at once,
// with a new transition time.
func TestNodeStatusReport(t *testing.T) {
	c := validConfig()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := c.newNode(0, t0)
	if _, changed := c.nodeStatus(0, &n.Status, t0.Add(time.Minute), false); changed {
		t.Fatal("an unchanged status reads as changed")
	}
	st, _ := c.nodeStatus(0, &n.Status, t0.Add(time.Minute), true)
	if !lastHeartbeat(&st).Equal(t0.Add(time.Minute)) {
		t.Fatalf("heartbeat not refreshed: %v", lastHeartbeat(&st))
	}
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			n.Status.Conditions[i].Status, n.Status.Conditions[i].Reason = corev1.ConditionUnknown, "NodeStatusUnknown"
		}
	}
	n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: "NetworkUnavailable", Status: corev1.ConditionFalse})
	t1 := t0.Add(2 * time.Minute)
	st, changed := c.nodeStatus(0, &n.Status, t1, false)
	if !changed {
		t.Fatal("Ready=Unknown not seen as a change")
	}
	var ready *corev1.NodeCondition
	for i := range st.Conditions {
		if st.Conditions[i].Type == corev1.NodeReady {
			ready = &st.Conditions[i]
		}
	}
	if ready == nil || ready.Status != corev1.ConditionTrue || !ready.LastTransitionTime.Equal(&metav1.Time{Time: t1}) || len(st.Conditions) != 5 {
		t.Fatalf("conditions %+v", st.Conditions)
	}
}

func TestAdoptNode(t *testing.T) {
	c := validConfig()
	c.Taints = []corev1.Taint{{Key: "k", Value: "new", Effect: corev1.TaintEffectNoSchedule}}
	c.AssignPodCIDRs = true
	cur := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "sim-node-0", Labels: map[string]string{"x": "y"}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "k", Value: "old", Effect: corev1.TaintEffectNoSchedule},
			{Key: "node.kubernetes.io/unreachable", Effect: corev1.TaintEffectNoExecute}}}}
	n := c.adoptNode(0, cur)
	if n == nil || n.Labels["x"] != "y" || n.Labels[LabelSimulated] != "true" || len(n.Spec.Taints) != 2 ||
		n.Spec.Taints[0].Value != "new" || n.Spec.PodCIDR != "10.42.0.0/24" {
		t.Fatalf("adopted %+v", n)
	}
	if again := c.adoptNode(0, n); again != nil {
		t.Fatalf("adopting an adopted node changes it: %+v", again)
	}
}
