package chaos

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/internal/testbin"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ClusterConfig describes the members to start.
type ClusterConfig struct {
	// Binary is the kelson binary, built with -tags chaos.
	Binary string
	// Dir holds the data directories and logs.
	Dir string
	// Size is the number of members. Default 3.
	Size int
	// Extra are more `kelson store` flags for every member.
	Extra []string
	// Logf logs the harness's actions. Default: discard.
	Logf func(format string, args ...any)
	// Disk returns the KELSON_CHAOS_DISK of a member's first run. Default:
	// none.
	Disk func(name string) string
}

// Cluster is a set of members behind a Network of proxies.
type Cluster struct {
	cfg     ClusterConfig
	Members []*Member
	Net     *Network

	mu    sync.Mutex
	ids   map[string]uint64 // member name -> raft ID, once known
	names map[uint64]string // every raft ID seen -> member name
}

// StartCluster starts cfg.Size members on loopback, each advertising its
// proxy as its peer URL, and waits until they agree on a leader.
func StartCluster(cfg ClusterConfig) (*Cluster, error) {
	if cfg.Size == 0 {
		cfg.Size = 3
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	for attempt := 1; ; attempt++ {
		c, err := startCluster(cfg, filepath.Join(cfg.Dir, fmt.Sprintf("try%d", attempt)))
		if err == nil {
			if _, err = c.WaitLeader(nil, 60*time.Second); err == nil {
				return c, nil
			}
		}
		if c != nil {
			c.Close()
		}
		if attempt < 3 && errors.Is(err, errPortTaken) {
			cfg.Logf("attempt %d: %v; retrying with other ports", attempt, err)
			continue
		}
		return nil, err
	}
}

func startCluster(cfg ClusterConfig, dir string) (*Cluster, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, ids: map[string]uint64{}, names: map[uint64]string{}}
	c.Net = NewNetwork(func(remote, local *net.TCPAddr) string { return socketOwner(remote, local, c.pids()) })
	ports, err := testbin.FreePorts(2 * cfg.Size)
	if err != nil {
		return nil, err
	}
	members := make([]*Member, cfg.Size)
	for i := range members {
		name := string(rune('a' + i))
		members[i] = &Member{
			Name:       name,
			ClientURL:  fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			PeerListen: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1]),
			DataDir:    filepath.Join(dir, name+".kelson"),
			LogPath:    filepath.Join(dir, name+".log"),
			bin:        cfg.Binary,
			log:        cfg.Logf,
		}
	}
	// The proxies read c.Members (to identify diallers): set it whole
	// before the first proxy runs.
	c.Members = members
	var initial []string
	for _, m := range members {
		p, err := c.Net.AddProxy(m.Name, m.PeerListen)
		if err != nil {
			c.Net.Close()
			return nil, err
		}
		m.Proxy = p
		initial = append(initial, m.Name+"="+m.PeerURL())
	}
	for _, m := range c.Members {
		m.Args = append([]string{"store",
			"--name", m.Name,
			"--data-dir", m.DataDir,
			"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", "http://" + m.PeerListen, "--initial-advertise-peer-urls", m.PeerURL(),
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--log-format", "text",
		}, cfg.Extra...)
		disk := ""
		if cfg.Disk != nil {
			disk = cfg.Disk(m.Name)
		}
		if err := m.Start(disk); err != nil {
			return c, err
		}
	}
	for _, m := range c.Members {
		if err := m.WaitServing(60 * time.Second); err != nil {
			if strings.Contains(m.LastRunLog(), "address already in use") {
				return c, fmt.Errorf("%w: %v", errPortTaken, err)
			}
			return c, err
		}
	}
	return c, nil
}

// pids maps the running members' names to their process IDs.
func (c *Cluster) pids() map[string]int {
	out := map[string]int{}
	for _, m := range c.Members {
		if pid := m.Pid(); pid != 0 {
			out[m.Name] = pid
		}
	}
	return out
}

// Close kills every member and closes the proxies and clients.
func (c *Cluster) Close() {
	for _, m := range c.Members {
		m.Kill()
		m.closeClient()
	}
	c.Net.Close()
}

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.ClientURL)
	}
	return eps
}

// Member returns the member with the given name.
func (c *Cluster) Member(name string) *Member {
	for _, m := range c.Members {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// Restart starts a stopped member (disk: its KELSON_CHAOS_DISK) and waits
// until it serves. A start that fails because its port is taken for a
// moment (a client's ephemeral port) is retried.
func (c *Cluster) Restart(m *Member, disk string, timeout time.Duration) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = m.Start(disk); err != nil {
			return err
		}
		if err = m.WaitServing(timeout); err == nil {
			return nil
		}
		if !strings.Contains(m.LastRunLog(), "address already in use") {
			return err
		}
		<-m.Done()
		time.Sleep(time.Second)
	}
	return err
}

// ID returns a member's raft ID (asking it once).
func (c *Cluster) ID(m *Member) (uint64, error) {
	c.mu.Lock()
	id, ok := c.ids[m.Name]
	c.mu.Unlock()
	if ok {
		return id, nil
	}
	st, err := m.Status(2 * time.Second)
	if err != nil {
		return 0, err
	}
	c.setID(m.Name, st.Header.MemberId)
	return st.Header.MemberId, nil
}

func (c *Cluster) setID(name string, id uint64) {
	c.mu.Lock()
	c.ids[name] = id
	c.names[id] = name
	c.mu.Unlock()
}

// RestartedBetween reports whether the member with raft ID id exited
// between t1 and t2.
func (c *Cluster) RestartedBetween(id uint64, t1, t2 time.Time) bool {
	c.mu.Lock()
	name, ok := c.names[id]
	c.mu.Unlock()
	if !ok {
		return true // unknown member: assume the worst
	}
	for _, e := range c.Member(name).Exits() {
		if e.At.After(t1) && e.At.Before(t2) {
			return true
		}
	}
	return false
}

func (c *Cluster) forgetID(name string) {
	c.mu.Lock()
	delete(c.ids, name)
	c.mu.Unlock()
}

// ByID returns the member with a raft ID, or nil.
func (c *Cluster) ByID(id uint64) *Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, mid := range c.ids {
		if mid == id {
			return c.Member(name)
		}
	}
	return nil
}

// Leader asks the running, unpaused members who leads and returns that
// member if one of them says so; nil when unknown.
func (c *Cluster) Leader() *Member {
	for _, m := range c.Members {
		if !m.Running() || m.Paused() {
			continue
		}
		st, err := m.Status(time.Second)
		if err != nil || st.Leader == 0 {
			continue
		}
		c.setID(m.Name, st.Header.MemberId)
		if st.Leader == st.Header.MemberId {
			return m
		}
		if l := c.ByID(st.Leader); l != nil {
			return l
		}
	}
	return nil
}

// WaitLeader waits until every member of among (nil: all) answers Status
// naming the same leader, which is one of them.
func (c *Cluster) WaitLeader(among []*Member, timeout time.Duration) (*Member, error) {
	if among == nil {
		among = c.Members
	}
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		var leaderID uint64
		var leader *Member
		ok := true
		for _, m := range among {
			st, err := m.Status(time.Second)
			if err != nil {
				last, ok = fmt.Sprintf("%s: %v", m.Name, err), false
				break
			}
			c.setID(m.Name, st.Header.MemberId)
			if st.Leader == 0 || (leaderID != 0 && st.Leader != leaderID) {
				last, ok = fmt.Sprintf("%s follows %x, another %x", m.Name, st.Leader, leaderID), false
				break
			}
			leaderID = st.Leader
			if st.Leader == st.Header.MemberId {
				leader = m
			}
		}
		if ok && leader != nil {
			return leader, nil
		}
		if ok {
			last = fmt.Sprintf("leader %x is not among the members asked", leaderID)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("no agreed leader after %v: %s", timeout, last)
}

// SettledRevision waits until every member reports the same revision and
// raft index twice in a row, and returns the revision. Call it when no
// client writes.
func (c *Cluster) SettledRevision(timeout time.Duration) (int64, error) {
	deadline := time.Now().Add(timeout)
	last := ""
	prev := ""
	for time.Now().Before(deadline) {
		var revs []string
		var rev int64
		same := true
		for i, m := range c.Members {
			st, err := m.Status(2 * time.Second)
			if err != nil {
				last, same = fmt.Sprintf("%s: %v", m.Name, err), false
				break
			}
			revs = append(revs, fmt.Sprintf("%s:%d/%d", m.Name, st.Header.Revision, st.RaftAppliedIndex))
			if i == 0 {
				rev = st.Header.Revision
			} else if st.Header.Revision != rev {
				same = false
			}
		}
		cur := strings.Join(revs, " ")
		if same && cur == prev {
			return rev, nil
		}
		if same {
			prev = cur
		} else {
			prev = ""
			if len(revs) == len(c.Members) {
				last = cur
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return 0, fmt.Errorf("members do not settle on one revision within %v: %s", timeout, last)
}

// Client returns a client of every member.
func (c *Cluster) Client() (*clientv3.Client, error) { return NewClient(c.Endpoints()...) }
