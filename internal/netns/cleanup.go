package netns

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/kelson-dev/kelson/internal/mountinfo"
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
// that a directory holding a runtime's state (overlay snapshots, tmpfs
// volumes, netns bind mounts) can be removed.
func UnmountUnder(dir string) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return
	}
	points, err := mountinfo.Points()
	if err != nil {
		return
	}
	for _, mp := range mountinfo.Under(points, dir) {
		_ = unix.Unmount(mp, unix.MNT_DETACH)
	}
}
