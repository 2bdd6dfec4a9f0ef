package bench

import (
	"errors"
	"testing"
)

func TestClassifyProc(t *testing.T) {
	const dir = "/tmp/kbp-1"
	for _, tc := range []struct {
		name string
		pid  int
		argv []string
		want procKind
	}{
		{"agent by pid", 10, []string{"/usr/bin/kelson", "agent"}, kindAgent},
		{"server by pid", 11, []string{"/usr/bin/kelson", "server"}, kindServer},
		{"shim of our containerd", 20, []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "kelson", "-id", "abc", "-address", dir + "/a/containerd/containerd.sock"}, kindShim},
		{"shim of another containerd", 21, []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "kelson", "-id", "abc", "-address", "/tmp/kbp-10/a/containerd/containerd.sock"}, ""},
		{"our containerd", 22, []string{"containerd", "--config", dir + "/a/containerd/config.toml"}, kindContainerd},
		{"system containerd", 23, []string{"/usr/bin/containerd"}, ""},
		{"log driver", 24, []string{"/usr/local/bin/kelson", "container-log-driver", dir + "/a/logs/ns_pod_uid/httpd/0.log"}, kindLogDriver},
		{"log driver of another run", 25, []string{"/usr/local/bin/kelson", "container-log-driver", "/var/lib/kelson/logs/x/0.log"}, ""},
		{"a container's process naming the dir", 26, []string{"httpd", "-h", dir}, ""},
		{"the dir only as a prefix of another", 27, []string{"containerd", "--config", dir + "0/config.toml"}, ""},
		{"no argv (a kernel thread)", 28, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyProc(tc.pid, tc.argv, dir, 10, 11); got != tc.want {
				t.Fatalf("classifyProc(%d, %q) = %q, want %q", tc.pid, tc.argv, got, tc.want)
			}
		})
	}
}

func TestParseSmapsRollup(t *testing.T) {
	const rollup = `55d0c0a00000-7ffd1e5fe000 ---p 00000000 00:00 0                          [rollup]
Rss:               12345 kB
Pss:                5000 kB
Pss_Anon:           3000 kB
Shared_Clean:       7000 kB
Shared_Dirty:        100 kB
Private_Clean:      1000 kB
Private_Dirty:      2000 kB
Referenced:        12345 kB
Swap:                  0 kB
`
	pss, private, err := parseSmapsRollup(rollup)
	if err != nil || pss != 5000<<10 || private != 3000<<10 {
		t.Fatalf("parseSmapsRollup = %d, %d, %v; want %d, %d", pss, private, err, 5000<<10, 3000<<10)
	}
	if _, _, err := parseSmapsRollup("Rss: 1 kB\n"); err == nil {
		t.Fatal("no Pss line: want an error")
	}
	if _, _, err := parseSmapsRollup("Pss: lots kB\n"); err == nil {
		t.Fatal("a size that is not a number: want an error")
	}
	if got := statusKB("Name:\tkelson\nVmRSS:\t  2048 kB\nRssAnon:\t  1024 kB\n", "RssAnon"); got != 1024<<10 {
		t.Fatalf("statusKB(RssAnon) = %d, want %d", got, 1024<<10)
	}
	if got := statusKB("VmRSS:\t 2048 kB\n", "RssAnon"); got != 0 {
		t.Fatalf("statusKB of a missing field = %d, want 0", got)
	}
}

func TestPodsConfigDefaults(t *testing.T) {
	c, err := PodsConfig{Binary: "/bin/true"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Pods != 20 || c.Burst != 30 || c.ServiceRounds != 10 || c.Clients != 30 || c.WorkDir != "/tmp" {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = PodsConfig{Binary: "/bin/true", Pods: -1, ServiceRounds: -1}.withDefaults()
	if err != nil || c.Pods != 0 || c.ServiceRounds != 0 || c.Burst != 30 {
		t.Fatalf("negative counts mean none: %+v, %v", c, err)
	}
	if _, err := (PodsConfig{Binary: "/bin/true", Pods: -1, Burst: -1, ServiceRounds: -1}).withDefaults(); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("nothing to measure: %v, want ErrBadConfig", err)
	}
}
