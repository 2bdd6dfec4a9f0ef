package testbin

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreePorts returns n distinct loopback ports that are free now, chosen
// below the kernel's ephemeral range, so that no outgoing connection takes
// a member's port while the member is down (a restarted member must get
// its port back).
func FreePorts(n int) ([]int, error) {
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				lo = v
			}
		}
	}
	if lo < 12000 {
		lo = 65000 // unusual range: pick high ports and hope
	}
	seen := map[int]bool{}
	var ports []int
	for tries := 0; len(ports) < n && tries < 10000; tries++ {
		p := 10000 + rand.IntN(lo-10000)
		if seen[p] {
			continue
		}
		seen[p] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		l.Close()
		ports = append(ports, p)
	}
	if len(ports) < n {
		return nil, fmt.Errorf("found only %d free ports of %d", len(ports), n)
	}
	return ports, nil
}
