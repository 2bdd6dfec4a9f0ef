package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The fault kinds of the nemesis. One fault is active at a time (plus a
// lease watched across the kill of the leader); after each, the network is
// healed, paused members continue, slow disks recover, dead members are
// restarted, and the cluster must elect a leader.
const (
	FaultKill           = "kill"              // SIGKILL a member (the leader more often), restart it after 0-3s
	FaultKillAll        = "kill-all"          // SIGKILL every member, restart them
	FaultPartition      = "partition"         // cut a member off from the others, both directions
	FaultOneWay         = "oneway"            // drop the messages of one direction (one link, or all out of / into a member)
	FaultLatency        = "latency"           // delay the messages into a member, or on every link
	FaultPause          = "pause"             // SIGSTOP a member for 1-4s, then SIGCONT
	FaultDiskSlow       = "disk-slow"         // slow writes and syncs of a running member
	FaultDiskFail       = "disk-fail"         // restart a member on a disk whose writes and syncs fail now and then
	FaultLeaseLeader    = "lease-leader-kill" // a lease with a key and no keep-alive while its leader is killed
	FaultMemberReplace  = "member-replace"    // remove a follower, wipe it, add it back under load
	FaultMoveLeader     = "move-leader"       // transfer the leadership to a follower (often one with a slow disk)
	FaultSnapshot       = "snapshot-catchup"  // keep a follower down until the leader's log no longer has what it needs; it catches up from a streamed snapshot (killed again during it, sometimes)
	defaultFaultWeights = "kill=3,kill-all=1,partition=3,oneway=2,latency=2,pause=2,disk-slow=2,disk-fail=1,lease-leader-kill=1,member-replace=1,move-leader=1,snapshot-catchup=1"
	// ShortFaultWeights: every kind once per deck, for short runs.
	ShortFaultWeights = "kill=1,kill-all=1,partition=1,oneway=1,latency=1,pause=1,disk-slow=1,disk-fail=1,lease-leader-kill=1,member-replace=1,move-leader=1"
)

// ParseFaultWeights parses "kind=weight,...". Unknown kinds are an error.
func ParseFaultWeights(s string) (map[string]int, error) {
	known := map[string]bool{FaultKill: true, FaultKillAll: true, FaultPartition: true, FaultOneWay: true, FaultLatency: true,
		FaultPause: true, FaultDiskSlow: true, FaultDiskFail: true, FaultLeaseLeader: true, FaultMemberReplace: true, FaultMoveLeader: true, FaultSnapshot: true}
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			val = "1"
		}
		if !known[k] {
			return nil, fmt.Errorf("chaos: unknown fault %q", k)
		}
		var w int
		if _, err := fmt.Sscanf(val, "%d", &w); err != nil || w < 0 {
			return nil, fmt.Errorf("chaos: fault %s: weight %q", k, val)
		}
		out[k] = w
	}
	return out, nil
}

// Nemesis injects faults into a cluster under a workload.
type Nemesis struct {
	c       *Cluster
	w       *Workload
	rng     *rand.Rand
	logf    func(string, ...any)
	v       *Violations
	dir     string
	weights map[string]int
	deck    []string
	cli     *clientv3.Client

	mu       sync.Mutex
	counts   map[string]int
	timeline []string
	leaseN   int
	leaseWG  sync.WaitGroup
	start    time.Time
}

func newNemesis(c *Cluster, w *Workload, seed uint64, weights map[string]int, dir string, v *Violations, logf func(string, ...any)) (*Nemesis, error) {
	cli, err := c.Client()
	if err != nil {
		return nil, err
	}
	return &Nemesis{c: c, w: w, rng: rand.New(rand.NewPCG(seed, 0xfa17)), logf: logf, v: v, dir: dir, weights: weights,
		cli: cli, counts: map[string]int{}, start: time.Now()}, nil
}

// ctlPath is the disk control file of a member (see faultfs_chaos.go).
func ctlPath(dir, name string) string { return filepath.Join(dir, name+".disk") }

// normalDisk is the KELSON_CHAOS_DISK of a member's ordinary runs: a
// healthy disk that the control file can slow down.
func normalDisk(dir, name string) string { return "ctl=" + ctlPath(dir, name) }

func (n *Nemesis) count(kind string) {
	n.mu.Lock()
	n.counts[kind]++
	n.mu.Unlock()
}

func (n *Nemesis) note(format string, args ...any) {
	s := fmt.Sprintf("%8.3fs ", time.Since(n.start).Seconds()) + fmt.Sprintf(format, args...)
	n.mu.Lock()
	n.timeline = append(n.timeline, s)
	n.mu.Unlock()
	n.logf("%s", s)
}

// Counts returns the faults injected, by kind (and sub-kind).
func (n *Nemesis) Counts() map[string]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]int{}
	for k, c := range n.counts {
		out[k] = c
	}
	return out
}

// Timeline returns the faults in order, with their times.
func (n *Nemesis) Timeline() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.timeline...)
}

func (n *Nemesis) dur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(n.rng.Int64N(int64(hi-lo)+1))
}

// pick returns a member: the leader with probability leaderBias (if one
// is known), else any.
func (n *Nemesis) pick(leaderBias float64) (*Member, bool) {
	if n.rng.Float64() < leaderBias {
		if l := n.c.Leader(); l != nil {
			return l, true
		}
	}
	m := n.c.Members[n.rng.IntN(len(n.c.Members))]
	return m, m == n.c.Leader()
}

// choose draws the next fault from a shuffled deck holding each kind as
// many times as its weight, so that every enabled kind comes up once per
// deck (a short run still sees each kind).
func (n *Nemesis) choose() string {
	if len(n.deck) == 0 {
		var kinds []string
		for k := range n.weights {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			for i := 0; i < n.weights[k]; i++ {
				n.deck = append(n.deck, k)
			}
		}
		n.rng.Shuffle(len(n.deck), func(i, j int) { n.deck[i], n.deck[j] = n.deck[j], n.deck[i] })
	}
	if len(n.deck) == 0 {
		return ""
	}
	k := n.deck[0]
	n.deck = n.deck[1:]
	return k
}

// Run injects faults until the deadline.
func (n *Nemesis) Run(until time.Time) {
	for time.Now().Before(until) {
		kind := n.choose()
		if kind == "" {
			time.Sleep(time.Until(until))
			return
		}
		n.inject(kind)
		n.heal()
		time.Sleep(n.dur(300*time.Millisecond, 1500*time.Millisecond))
	}
}

func (n *Nemesis) inject(kind string) {
	n.count(kind)
	switch kind {
	case FaultKill:
		m, lead := n.pick(0.6)
		role := "follower"
		if lead {
			role = "leader"
		}
		n.count("kill-" + role)
		n.note("kill %s (%s)", m.Name, role)
		m.Kill()
		time.Sleep(n.dur(0, 2*time.Second))
		n.restart(m, normalDisk(n.dir, m.Name))
	case FaultKillAll:
		n.note("kill all members")
		for _, i := range n.rng.Perm(len(n.c.Members)) {
			n.c.Members[i].Kill()
		}
		time.Sleep(n.dur(200*time.Millisecond, 2*time.Second))
		var wg sync.WaitGroup
		for _, m := range n.c.Members {
			wg.Add(1)
			go func() { defer wg.Done(); n.restart(m, normalDisk(n.dir, m.Name)) }()
		}
		wg.Wait()
	case FaultPartition:
		m, _ := n.pick(0.5)
		cut := n.rng.IntN(2) == 0
		n.note("isolate %s (reset connections: %v)", m.Name, cut)
		n.c.Net.Isolate(m.Name)
		if cut {
			n.c.Net.Cut("*", m.Name)
			n.c.Net.Cut(m.Name, "*")
		}
		time.Sleep(n.dur(2*time.Second, 5*time.Second))
	case FaultOneWay:
		a, _ := n.pick(0.5)
		switch n.rng.IntN(3) {
		case 0:
			b := n.other(a)
			n.note("drop messages %s -> %s", a.Name, b.Name)
			n.c.Net.Block(a.Name, b.Name)
		case 1:
			n.note("drop every message from %s", a.Name)
			n.c.Net.Block(a.Name, "*")
		default:
			n.note("drop every message to %s", a.Name)
			n.c.Net.Block("*", a.Name)
		}
		time.Sleep(n.dur(2*time.Second, 5*time.Second))
	case FaultLatency:
		if n.rng.IntN(2) == 0 {
			m, _ := n.pick(0.5)
			d := n.dur(50*time.Millisecond, 400*time.Millisecond)
			n.note("delay messages to %s by %v", m.Name, d)
			n.c.Net.Delay("*", m.Name, d)
		} else {
			d := n.dur(20*time.Millisecond, 150*time.Millisecond)
			n.note("delay every message by %v", d)
			n.c.Net.Delay("*", "*", d)
		}
		time.Sleep(n.dur(2*time.Second, 5*time.Second))
	case FaultPause:
		m, lead := n.pick(0.5)
		d := n.dur(time.Second, 3*time.Second)
		n.note("pause %s (leader %v) for %v", m.Name, lead, d)
		m.Pause()
		time.Sleep(d)
		m.Resume()
	case FaultDiskSlow:
		m, lead := n.pick(0.6)
		spec := fmt.Sprintf("latency=%v,sync-latency=%v", n.dur(0, 2*time.Millisecond).Round(100*time.Microsecond),
			n.dur(10*time.Millisecond, 100*time.Millisecond).Round(time.Millisecond))
		n.note("slow disk on %s (leader %v): %s", m.Name, lead, spec)
		n.setDisk(m, spec)
		time.Sleep(n.dur(2*time.Second, 6*time.Second))
		n.setDisk(m, "")
	case FaultDiskFail:
		m, lead := n.pick(0.5)
		spec := fmt.Sprintf("err-prob=%g,seed=%d,%s", []float64{0.0005, 0.001, 0.003}[n.rng.IntN(3)], n.rng.Uint64()>>1, normalDisk(n.dir, m.Name))
		n.note("restart %s (leader %v) on a failing disk: %s", m.Name, lead, spec)
		m.Kill()
		if err := m.Start(spec); err != nil {
			n.v.Add("harness", "start %s on a failing disk: %v", m.Name, err)
			return
		}
		select {
		case <-m.Done():
			n.count("disk-fail-stopped")
			n.note("%s stopped on its failing disk", m.Name)
		case <-time.After(n.dur(5*time.Second, 10*time.Second)):
			n.count("disk-fail-survived")
			n.note("%s still running on its failing disk; killing it", m.Name)
			m.Kill()
		}
		n.restart(m, normalDisk(n.dir, m.Name))
	case FaultLeaseLeader:
		n.leaseAcrossLeaderKill()
	case FaultMemberReplace:
		n.replaceMember()
	case FaultMoveLeader:
		n.moveLeader()
	case FaultSnapshot:
		n.snapshotCatchUp()
	}
}

func (n *Nemesis) other(m *Member) *Member {
	for {
		o := n.c.Members[n.rng.IntN(len(n.c.Members))]
		if o != m {
			return o
		}
	}
}

func (n *Nemesis) setDisk(m *Member, spec string) {
	if err := os.WriteFile(ctlPath(n.dir, m.Name), []byte(spec), 0o644); err != nil {
		n.v.Add("harness", "write disk control of %s: %v", m.Name, err)
	}
}

func (n *Nemesis) restart(m *Member, disk string) {
	if err := n.c.Restart(m, disk, 60*time.Second); err != nil {
		if errors.Is(err, ErrWorkDirGone) {
			n.v.Add("harness", "%v", err)
			return
		}
		n.v.Add("liveness", "restart %s: %v\n%s", m.Name, err, m.Tail(20))
	}
}

// heal removes every fault and waits for a leader that every member
// follows.
func (n *Nemesis) heal() {
	n.c.Net.Heal()
	for _, m := range n.c.Members {
		if m.Paused() {
			m.Resume()
		}
		n.setDisk(m, "")
	}
	for _, m := range n.c.Members {
		if !m.Running() {
			n.note("%s is not running; restarting it", m.Name)
			n.restart(m, normalDisk(n.dir, m.Name))
		}
	}
	if _, err := n.c.WaitLeader(nil, 60*time.Second); err != nil {
		n.v.Add("liveness", "60s after healing every fault: %v", err)
	}
}

// leaseAcrossLeaderKill grants a lease with a short TTL, attaches a key,
// and kills the leader at once; the key must outlive the TTL and then go.
func (n *Nemesis) leaseAcrossLeaderKill() {
	n.mu.Lock()
	n.leaseN++
	id := n.leaseN
	n.mu.Unlock()
	rec := &LeaseRec{Key: fmt.Sprintf("%sf%03d", leasePrefix, id), Value: fmt.Sprintf("f%d", id), Source: "fault"}
	rng := rand.New(rand.NewPCG(n.rng.Uint64(), 1))
	ttl := int64(2 + n.rng.IntN(4))
	put := make(chan struct{}, 1)
	n.leaseWG.Add(1)
	go func() {
		defer n.leaseWG.Done()
		n.w.runLease(n.cli, rec, ttl, 2, rng, nil, put)
	}()
	select {
	case <-put:
	case <-time.After(10 * time.Second):
	}
	m := n.c.Leader()
	if m == nil {
		n.note("lease %s: no leader known; not killing", rec.Key)
		return
	}
	n.note("lease %s (TTL %ds) granted; kill leader %s", rec.Key, ttl, m.Name)
	m.Kill()
	time.Sleep(n.dur(500*time.Millisecond, 2*time.Second))
	n.restart(m, normalDisk(n.dir, m.Name))
}

// moveLeader transfers the leadership to a follower; half the time the
// follower first gets a slow disk, which it keeps while it leads.
func (n *Nemesis) moveLeader() {
	lead := n.c.Leader()
	if lead == nil {
		n.note("move-leader: no leader; skipped")
		return
	}
	to := n.other(lead)
	id, err := n.c.ID(to)
	if err != nil {
		n.note("move-leader: ID of %s: %v; skipped", to.Name, err)
		return
	}
	slow := n.rng.IntN(2) == 0
	if slow {
		n.setDisk(to, fmt.Sprintf("sync-latency=%v", n.dur(10*time.Millisecond, 60*time.Millisecond).Round(time.Millisecond)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = lead.Client().MoveLeader(ctx, id)
	n.note("move-leader: %s -> %s (slow disk %v): %v", lead.Name, to.Name, slow, err)
	if slow {
		time.Sleep(n.dur(time.Second, 4*time.Second))
	}
}

// snapshotCatchUp kills a follower and keeps it down until the leader's
// raft index is past what the leader keeps in its log for it (5000
// catch-up entries after a snapshot, plus --snapshot-count), or 90s; the
// restarted follower must catch up from a streamed snapshot. Half the
// time it is killed again while it does.
func (n *Nemesis) snapshotCatchUp() {
	lead := n.c.Leader()
	if lead == nil {
		n.note("snapshot-catchup: no leader; skipped")
		return
	}
	m := n.other(lead)
	st, err := lead.Status(2 * time.Second)
	if err != nil {
		n.note("snapshot-catchup: status of %s: %v; skipped", lead.Name, err)
		return
	}
	target := st.RaftIndex + 5000 + 2*500 + 500
	n.note("snapshot-catchup: kill %s until the leader's raft index passes %d", m.Name, target)
	m.Kill()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		l := n.c.Leader()
		if l != nil {
			if st, err := l.Status(2 * time.Second); err == nil && st.RaftIndex >= target {
				break
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	n.restart(m, normalDisk(n.dir, m.Name))
	if n.rng.IntN(2) == 0 {
		time.Sleep(n.dur(0, 1500*time.Millisecond))
		installed := strings.Contains(m.LastRunLog(), "installed snapshot")
		n.note("snapshot-catchup: kill %s again (snapshot installed yet: %v)", m.Name, installed)
		m.Kill()
		n.restart(m, normalDisk(n.dir, m.Name))
	}
	n.count("snapshot-catchup-done")
}

// Wait waits for the lease goroutines of FaultLeaseLeader.
func (n *Nemesis) Wait() { n.leaseWG.Wait() }

// replaceMember removes a follower, wipes its data and adds it back as a
// new member (a new ID, same name and peer URL) while the workload runs.
func (n *Nemesis) replaceMember() {
	lead := n.c.Leader()
	if lead == nil {
		n.note("member-replace: no leader; skipped")
		return
	}
	m := n.other(lead)
	id, err := n.c.ID(m)
	if err != nil {
		n.note("member-replace: ID of %s: %v; skipped", m.Name, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m.ExpectExit(true) // a removed member may stop by itself
	if _, err := n.cli.MemberRemove(ctx, id); err != nil {
		// The removal may have happened all the same.
		still := true
		for i := 0; i < 20; i++ {
			lctx, lcancel := context.WithTimeout(context.Background(), 3*time.Second)
			ml, lerr := n.cli.MemberList(lctx)
			lcancel()
			if lerr == nil {
				still = false
				for _, mem := range ml.Members {
					still = still || mem.ID == id
				}
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		n.note("member-replace: remove %s (%x): %v (still a member: %v)", m.Name, id, err, still)
		if still {
			m.ExpectExit(false)
			n.count("member-replace-failed")
			return
		}
	}
	n.note("member-replace: removed %s (%x)", m.Name, id)
	m.Kill()
	if err := m.Wipe(); err != nil {
		n.v.Add("harness", "wipe %s: %v", m.DataDir, err)
	}
	var add *clientv3.MemberAddResponse
	deadline := time.Now().Add(30 * time.Second)
	for {
		actx, acancel := context.WithTimeout(context.Background(), 5*time.Second)
		add, err = n.cli.MemberAdd(actx, []string{m.PeerURL()})
		acancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		n.v.Add("membership", "member-replace: add %s back with peer URL %s (as etcd allows after a removal): %v", m.Name, m.PeerURL(), err)
		return
	}
	n.c.forgetID(m.Name)
	n.note("member-replace: added %s back as %x", m.Name, add.Member.ID)
	var initial []string
	for _, o := range n.c.Members {
		initial = append(initial, o.Name+"="+o.PeerURL())
	}
	m.Args = setFlag(m.Args, "--initial-cluster-state", "existing")
	m.Args = setFlag(m.Args, "--initial-cluster", strings.Join(initial, ","))
	n.restart(m, normalDisk(n.dir, m.Name))
}

// setFlag replaces the value of a flag in args (or appends it).
func setFlag(args []string, flag, value string) []string {
	out := append([]string(nil), args...)
	for i := 0; i+1 < len(out); i++ {
		if out[i] == flag {
			out[i+1] = value
			return out
		}
	}
	return append(out, flag, value)
}
