//go:build linux

package node

import "syscall"

// statfs reads the size and use of the filesystem holding path.
func statfs(path string) (fsStats, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return fsStats{}, err
	}
	bs := uint64(st.Bsize)
	return fsStats{
		Total:     st.Blocks * bs,
		Available: st.Bavail * bs,
		Inodes:    st.Files,
		Free:      st.Ffree,
	}, nil
}
