// Package mountinfo reads the mount points of this process's mount
// namespace (/proc/self/mountinfo), for code that must unmount what it
// mounted below a directory before removing it: the node agent's volumes
// and the tests' clean-up.
//
//	points, _ := mountinfo.Points()
//	for _, p := range mountinfo.Under(points, "/var/lib/kelson/pods/UID") {
//		unix.Unmount(p, unix.MNT_DETACH) // deepest first
//	}
package mountinfo
