package netns

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// KillNetNS kills (SIGKILL) every process whose network namespace is one
// of the namespace files given (bind mounts such as /var/run/netns/NAME or
// a pod's netns file), and returns how many it killed. Whoever runs
// containers calls it at the end for the pods' namespaces, whose processes
// `ip netns delete` of the node's does not reach.
func KillNetNS(nsFiles ...string) int {
	want := map[uint64]bool{}
	for _, f := range nsFiles {
		var st syscall.Stat_t
		if err := syscall.Stat(f, &st); err == nil {
			want[st.Ino] = true
		}
	}
	if len(want) == 0 {
		return 0
	}
	procs, _ := os.ReadDir("/proc")
	killed := 0
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid <= 1 || pid == os.Getpid() {
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Stat("/proc/"+p.Name()+"/ns/net", &st); err != nil {
			continue
		}
		if want[st.Ino] {
			if unix.Kill(pid, unix.SIGKILL) == nil {
				killed++
			}
		}
	}
	return killed
}

// UnmountUnder detaches every mount at or below dir (deepest first), so
// that a directory holding a runtime's state (overlay snapshots,
// tmpfs volumes, netns bind mounts) can be removed.
func UnmountUnder(dir string) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			points = append(points, mp)
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	for _, mp := range points {
		_ = unix.Unmount(mp, unix.MNT_DETACH)
	}
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
