package node

import (
	"errors"
	"os"
	"reflect"
	goruntime "runtime"
	"strings"
	"testing"
	"testing/fstest"
)

const meminfoFixture = `MemTotal:       24683568 kB
MemFree:        17471876 kB
MemAvailable:   24070052 kB
Buffers:          123456 kB
Cached:          2345678 kB
SwapTotal:       1048576 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
`

func TestParseMeminfo(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     memInfo
		wantErr  bool
	}{
		{"debian", meminfoFixture, memInfo{Total: 24683568 << 10, Available: 24070052 << 10, SwapTotal: 1 << 30}, false},
		{"no MemAvailable (old kernel)", "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 20 kB\n", memInfo{Total: 1000 << 10, Available: 130 << 10}, false},
		{"available capped at total", "MemTotal: 10 kB\nMemAvailable: 20 kB\n", memInfo{Total: 10 << 10, Available: 10 << 10}, false},
		{"no MemTotal", "MemFree: 1 kB\n", memInfo{}, true},
		{"junk", "garbage\n:\nMemTotal: x kB\n", memInfo{}, true},
		{"empty", "", memInfo{}, true},
	} {
		got, err := parseMeminfo(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: parseMeminfo = %+v, %v; want %+v, error %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

const procStatFixture = `cpu  1803329 64132 455153 2258900 175270 0 20957 33478 0 0
cpu0 901664 32066 227576 1129450 87635 0 10478 16739 0 0
cpu1 901665 32066 227577 1129450 87635 0 10479 16739 0 0
intr 12345 0 0
ctxt 999
btime 1700000000
`

func TestParseProcStat(t *testing.T) {
	got, err := parseProcStat(procStatFixture)
	busy := uint64(1803329 + 64132 + 455153 + 0 + 20957 + 33478)
	want := cpuTimes{Busy: busy, Total: busy + 2258900 + 175270, CPUs: 2}
	if err != nil || got != want {
		t.Errorf("parseProcStat = %+v, %v; want %+v", got, err, want)
	}
	// Old kernels have 4 to 7 numbers: the missing ones are zero.
	got, err = parseProcStat("cpu 10 0 5 85\ncpu0 10 0 5 85\n")
	if want := (cpuTimes{Busy: 15, Total: 100, CPUs: 1}); err != nil || got != want {
		t.Errorf("parseProcStat(short) = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"", "intr 1\n", "cpu 1 2\n", "cpu a b c d e\n"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q) = nil error", bad)
		}
	}
}

func TestNodeMilliCPU(t *testing.T) {
	for _, tc := range []struct {
		prev, cur cpuTimes
		want      int64
		ok        bool
	}{
		{cpuTimes{Busy: 100, Total: 1000, CPUs: 2}, cpuTimes{Busy: 400, Total: 2500, CPUs: 2}, 400, true}, // 300/1500 * 2 cores
		{cpuTimes{Busy: 0, Total: 0, CPUs: 4}, cpuTimes{Busy: 400, Total: 400, CPUs: 4}, 4000, true},
		{cpuTimes{Busy: 100, Total: 1000, CPUs: 2}, cpuTimes{Busy: 100, Total: 1000, CPUs: 2}, 0, false}, // no time passed
		{cpuTimes{Busy: 500, Total: 1000, CPUs: 2}, cpuTimes{Busy: 100, Total: 2000, CPUs: 2}, 0, false}, // went back
		{cpuTimes{Busy: 0, Total: 0}, cpuTimes{Busy: 10, Total: 20}, 0, false},                           // no cpuN lines
	} {
		got, ok := nodeMilliCPU(tc.prev, tc.cur)
		if got != tc.want || ok != tc.ok {
			t.Errorf("nodeMilliCPU(%+v, %+v) = %d, %v; want %d, %v", tc.prev, tc.cur, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseCgroupPaths(t *testing.T) {
	got := parseCgroupPaths("12:cpu,cpuacct:/kubepods/pod1\n4:memory:/process_api/7fd6\n1:name=systemd:/\n0::/\njunk\n")
	want := map[string]string{"cpu": "/kubepods/pod1", "cpuacct": "/kubepods/pod1", "memory": "/process_api/7fd6", "name=systemd": "/"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseCgroupPaths = %v, want %v", got, want)
	}
	if got, want := cgroupDirs("sys/fs/cgroup/memory", "/a/b"), []string{"sys/fs/cgroup/memory/a/b", "sys/fs/cgroup/memory/a", "sys/fs/cgroup/memory"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cgroupDirs = %v, want %v", got, want)
	}
	if got, want := cgroupDirs("m", ""), []string{"m"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cgroupDirs(root) = %v, want %v", got, want)
	}
	if got, want := cgroupDirs("m", "/../../etc"), []string{"m/etc", "m"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cgroupDirs(dots) = %v, want %v (never above the mount)", got, want)
	}
}

func TestParseCgroupLimits(t *testing.T) {
	for _, tc := range []struct {
		quota, period string
		milli         int64
		limited, err  bool
	}{
		{"-1\n", "100000\n", 0, false, false},
		{"150000\n", "100000\n", 1500, true, false},
		{"50000", "100000", 500, true, false},
		{"x", "100000", 0, false, true},
		{"1000", "0", 0, false, true},
	} {
		m, l, err := parseCFSQuota(tc.quota, tc.period)
		if m != tc.milli || l != tc.limited || (err != nil) != tc.err {
			t.Errorf("parseCFSQuota(%q, %q) = %d, %v, %v", tc.quota, tc.period, m, l, err)
		}
	}
	for _, tc := range []struct {
		in           string
		v            int64
		limited, err bool
	}{
		{"9223372036854771712\n", 0, false, false},
		{"18446744073709551615", 0, false, false},
		{"2147483648\n", 2 << 30, true, false},
		{"lots", 0, false, true},
	} {
		v, l, err := parseMemoryLimit(tc.in)
		if v != tc.v || l != tc.limited || (err != nil) != tc.err {
			t.Errorf("parseMemoryLimit(%q) = %d, %v, %v", tc.in, v, l, err)
		}
	}
}

func TestParseOSReleaseAndLoadavg(t *testing.T) {
	for in, want := range map[string]string{
		"NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n": "Debian GNU/Linux 12 (bookworm)",
		"PRETTY_NAME='Alpine Linux v3.19'\n":                                "Alpine Linux v3.19",
		"PRETTY_NAME=Plain\n":                                               "Plain",
		"NAME=x\n":                                                          "Linux",
		"":                                                                  "Linux",
	} {
		if got := parseOSRelease(in); got != want {
			t.Errorf("parseOSRelease(%q) = %q, want %q", in, got, want)
		}
	}
	if n, err := parseLoadavgThreads("0.09 0.92 1.68 1/108 24681\n"); n != 108 || err != nil {
		t.Errorf("parseLoadavgThreads = %d, %v; want 108", n, err)
	}
	for _, bad := range []string{"", "0.1 0.2 0.3", "0.1 0.2 0.3 12 5", "0.1 0.2 0.3 1/x 5"} {
		if _, err := parseLoadavgThreads(bad); err == nil {
			t.Errorf("parseLoadavgThreads(%q) = nil error", bad)
		}
	}
}

// hostFixture is a host with 4 CPUs and 24 GiB of memory whose process
// runs in cgroups with a CPU quota of 1.5 and a 2 GiB memory limit on an
// ancestor.
func hostFixture() fstest.MapFS {
	f := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	return fstest.MapFS{
		"proc/meminfo":            f(meminfoFixture),
		"proc/stat":               f(procStatFixture),
		"proc/loadavg":            f("0.1 0.2 0.3 2/300 1234\n"),
		"proc/sys/kernel/pid_max": f("32768\n"),
		"proc/self/cgroup":        f("5:memory:/agent/x\n3:cpu,cpuacct:/agent\n0::/\n"),
		"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us":         f("-1\n"),
		"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us":        f("100000\n"),
		"sys/fs/cgroup/cpu,cpuacct/agent/cpu.cfs_quota_us":   f("150000\n"),
		"sys/fs/cgroup/cpu,cpuacct/agent/cpu.cfs_period_us":  f("100000\n"),
		"sys/fs/cgroup/memory/memory.limit_in_bytes":         f("9223372036854771712\n"),
		"sys/fs/cgroup/memory/agent/memory.limit_in_bytes":   f("2147483648\n"),
		"sys/fs/cgroup/memory/agent/x/memory.limit_in_bytes": f("9223372036854771712\n"),
		"etc/machine-id":                 f("0123456789abcdef0123456789abcdef\n"),
		"proc/sys/kernel/random/boot_id": f("b0d1e2f3-0000-4000-8000-000000000001\n"),
		"proc/sys/kernel/osrelease":      f("6.1.0-18-amd64\n"),
		"etc/os-release":                 f("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
		"sys/class/dmi/id/product_uuid":  f("EC2A1B2C-0000-0000-0000-000000000000\n"),
	}
}

func fixedStatfs(st fsStats, err error) func(string) (fsStats, error) {
	return func(string) (fsStats, error) { return st, err }
}

func TestHostFacts(t *testing.T) {
	h := &host{fs: hostFixture(), dataDir: "/data", numCPU: 4, statfs: fixedStatfs(fsStats{Total: 100 << 30, Available: 50 << 30, Inodes: 1000, Free: 500}, nil)}
	got, err := h.facts()
	want := hostFacts{
		MilliCPU: 1500, Memory: 2 << 30, Ephemeral: 100 << 30, Swap: 1 << 30,
		MachineID: "0123456789abcdef0123456789abcdef", SystemUUID: "ec2a1b2c-0000-0000-0000-000000000000",
		BootID: "b0d1e2f3-0000-4000-8000-000000000001", KernelVersion: "6.1.0-18-amd64", OSImage: "Debian GNU/Linux 12 (bookworm)",
	}
	if err != nil || got != want {
		t.Errorf("facts = %+v, %v\nwant %+v", got, err, want)
	}
	// No cgroup limits: NumCPU and MemTotal.
	fs := hostFixture()
	delete(fs, "proc/self/cgroup")
	fs["sys/fs/cgroup/memory/memory.limit_in_bytes"] = &fstest.MapFile{Data: []byte("9223372036854771712\n")}
	h.fs = fs
	if got, err := h.facts(); err != nil || got.MilliCPU != 4000 || got.Memory != 24683568<<10 {
		t.Errorf("facts without cgroup limits = %+v, %v; want 4000m and MemTotal", got, err)
	}
	// A quota above NumCPU does not raise capacity.
	fs = hostFixture()
	fs["sys/fs/cgroup/cpu,cpuacct/agent/cpu.cfs_quota_us"] = &fstest.MapFile{Data: []byte("800000\n")}
	h.fs = fs
	if got, _ := h.facts(); got.MilliCPU != 4000 {
		t.Errorf("facts with a quota of 8 on 4 CPUs: cpu %dm, want 4000m", got.MilliCPU)
	}
	// Missing identity files leave fields empty; missing meminfo or statfs is an error.
	h.fs = fstest.MapFS{"proc/meminfo": hostFixture()["proc/meminfo"]}
	if got, err := h.facts(); err != nil || got.MachineID != "" || got.OSImage != "Linux" {
		t.Errorf("facts of a bare host = %+v, %v", got, err)
	}
	h.fs = fstest.MapFS{}
	if _, err := h.facts(); err == nil || !strings.Contains(err.Error(), "memory size") {
		t.Errorf("facts without meminfo: err %v", err)
	}
	h.fs, h.statfs = hostFixture(), fixedStatfs(fsStats{}, errors.New("no such file"))
	if _, err := h.facts(); err == nil || !strings.Contains(err.Error(), "statfs the data dir /data") {
		t.Errorf("facts without a data dir: err %v", err)
	}
}

func TestHostObserve(t *testing.T) {
	disk := fsStats{Total: 100 << 30, Available: 50 << 30, Inodes: 1000, Free: 500}
	h := &host{fs: hostFixture(), dataDir: "/data", numCPU: 4, statfs: fixedStatfs(disk, nil)}
	o, errs := h.observe()
	want := observation{MemAvailable: 24070052 << 10, MemKnown: true, Disk: disk, DiskKnown: true, Threads: 300, PIDMax: 32768, PIDKnown: true}
	if len(errs) != 0 || o != want {
		t.Errorf("observe = %+v, %v\nwant %+v", o, errs, want)
	}
	h.fs, h.statfs = fstest.MapFS{}, fixedStatfs(fsStats{}, errors.New("gone"))
	o, errs = h.observe()
	if o != (observation{}) || len(errs) != 3 {
		t.Errorf("observe of nothing = %+v, %v; want all unknown and 3 errors", o, errs)
	}
}

// TestHostOnThisMachine reads the machine running the test: the parsers
// must accept what this kernel writes.
func TestHostOnThisMachine(t *testing.T) {
	if goruntime.GOOS != "linux" {
		t.Skip("the node agent reads Linux's /proc")
	}
	h := &host{fs: os.DirFS("/"), dataDir: t.TempDir(), numCPU: goruntime.NumCPU(), statfs: statfs}
	f, err := h.facts()
	if err != nil {
		t.Fatal(err)
	}
	if f.MilliCPU <= 0 || f.MilliCPU > int64(goruntime.NumCPU())*1000 || f.Memory <= 0 || f.Ephemeral <= 0 || f.KernelVersion == "" || f.BootID == "" {
		t.Errorf("facts of this machine: %+v", f)
	}
	o, errs := h.observe()
	if len(errs) > 0 || !o.MemKnown || !o.DiskKnown || !o.PIDKnown || o.Threads <= 0 {
		t.Errorf("observe on this machine: %+v %v", o, errs)
	}
	c1, err := h.sampleCPU()
	if err != nil || c1.CPUs <= 0 || c1.Total == 0 {
		t.Errorf("sampleCPU = %+v, %v", c1, err)
	}
	if used, err := h.memUsage(); err != nil || used <= 0 {
		t.Errorf("memUsage = %d, %v", used, err)
	}
}
