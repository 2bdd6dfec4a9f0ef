package chaos

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
)

// socketOwner returns which of the given processes (name -> pid) holds the
// TCP socket whose local address is local and whose peer is remote — the
// dialling end of a connection a proxy accepted. It reads /proc/net/tcp for
// the socket's inode, then the processes' file descriptors. "" if none.
func socketOwner(local, remote *net.TCPAddr, pids map[string]int) string {
	inode := tcpInode(local, remote)
	if inode == "" {
		return ""
	}
	want := "socket:[" + inode + "]"
	for name, pid := range pids {
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if l, err := os.Readlink(dir + "/" + e.Name()); err == nil && l == want {
				return name
			}
		}
	}
	return ""
}

// tcpInode finds the inode of the IPv4 socket local<->remote.
func tcpInode(local, remote *net.TCPAddr) string {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return ""
	}
	defer f.Close()
	l, r := procAddr(local), procAddr(remote)
	if l == "" || r == "" {
		return ""
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		if fs[1] == l && fs[2] == r {
			return fs[9]
		}
	}
	return ""
}

// procAddr formats an IPv4 address as /proc/net/tcp does: the address as
// a little-endian 32-bit hex number, the port as big-endian hex.
func procAddr(a *net.TCPAddr) string {
	ip := a.IP.To4()
	if ip == nil {
		return ""
	}
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], a.Port)
}
