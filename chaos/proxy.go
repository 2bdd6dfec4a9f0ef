package chaos

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Network is the set of proxies in front of the members' peer ports and
// the faults on the links between members.
//
// A raft message from member A to member B travels on a TCP connection
// that A dialled to B's advertised peer URL, which is B's proxy; the proxy
// forwards it to B's real peer listener. So the link A->B is "connections
// accepted by B's proxy whose dialler is A". The proxy learns the dialler
// of each connection it accepts from the kernel (SourceOf: which member
// process owns the other end of the socket); a connection whose dialler it
// cannot tell is treated as coming from nobody in particular (only faults
// on every link into B apply to it).
//
// Faults per link (from, to):
//   - blocked: the link's connections stall in both directions (bytes are
//     held, not lost, and TCP back-pressure reaches the sender; the
//     sender's raft transport then drops messages and reconnects), like a
//     network that silently loses packets. New connections are accepted and
//     stall too.
//   - delay: each chunk read from the dialler is forwarded no earlier than
//     delay after it was read (order kept).
//
// Cut closes the link's current connections at once (a reset).
//
// Network is safe for concurrent use.
type Network struct {
	mu      sync.Mutex
	proxies map[string]*Proxy // by member name (the "to" end)
	blocked map[link]bool
	delay   map[link]time.Duration
	changed chan struct{} // closed and replaced whenever a fault changes
	// sourceOf names the member process at the other end of a connection
	// accepted by a proxy ("" if unknown).
	sourceOf func(remote, local *net.TCPAddr) string
}

// link is a direction between two members; "*" means any member.
type link struct{ from, to string }

// NewNetwork returns a network without faults. sourceOf identifies the
// dialler of an accepted connection (nil: never known).
func NewNetwork(sourceOf func(remote, local *net.TCPAddr) string) *Network {
	if sourceOf == nil {
		sourceOf = func(_, _ *net.TCPAddr) string { return "" }
	}
	return &Network{proxies: map[string]*Proxy{}, blocked: map[link]bool{}, delay: map[link]time.Duration{},
		changed: make(chan struct{}), sourceOf: sourceOf}
}

// Proxy listens on a loopback port for member `to` and forwards to its
// real peer address.
type Proxy struct {
	net    *Network
	to     string
	target string
	ln     net.Listener

	mu    sync.Mutex
	conns map[*proxyConn]bool
	stats ProxyStats
}

// ProxyStats counts a proxy's connections and bytes.
type ProxyStats struct {
	Accepted, UnknownSource, Cut int
	BytesForwarded               int64
}

type proxyConn struct {
	from      string
	down, up  net.Conn // down: the dialler; up: the member
	closeOnce sync.Once
	closed    chan struct{}
}

func (c *proxyConn) close() {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.down.Close()
		if c.up != nil {
			c.up.Close()
		}
	})
}

// AddProxy starts a proxy for member `to` on a free loopback port; target
// is the member's real peer address (host:port). The proxy keeps its port
// for the life of the network.
func (n *Network) AddProxy(to, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{net: n, to: to, target: target, ln: ln, conns: map[*proxyConn]bool{}}
	n.mu.Lock()
	n.proxies[to] = p
	n.mu.Unlock()
	go p.serve()
	return p, nil
}

// Addr is the proxy's host:port (the member's advertised peer address).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Stats returns the proxy's counters.
func (p *Proxy) Stats() ProxyStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	conns := p.conns
	p.conns = map[*proxyConn]bool{}
	p.mu.Unlock()
	for c := range conns {
		c.close()
	}
}

// Close closes every proxy.
func (n *Network) Close() {
	n.mu.Lock()
	ps := n.proxies
	n.proxies = map[string]*Proxy{}
	n.mu.Unlock()
	for _, p := range ps {
		p.Close()
	}
}

func (p *Proxy) serve() {
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(down)
	}
}

func (p *Proxy) handle(down net.Conn) {
	from := ""
	if ra, ok := down.RemoteAddr().(*net.TCPAddr); ok {
		if la, ok := down.LocalAddr().(*net.TCPAddr); ok {
			from = p.net.sourceOf(ra, la)
		}
	}
	c := &proxyConn{from: from, down: down, closed: make(chan struct{})}
	p.mu.Lock()
	p.conns[c] = true
	p.stats.Accepted++
	if from == "" {
		p.stats.UnknownSource++
	}
	p.mu.Unlock()
	defer func() {
		c.close()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()
	// A blocked link stalls before the member sees the connection, as a
	// lost SYN would.
	if !p.net.waitOpen(link{from, p.to}, c.closed) {
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		return
	}
	c.up = up
	select {
	case <-c.closed: // cut while dialling
		up.Close()
		return
	default:
	}
	done := make(chan struct{}, 2)
	go func() { p.pipe(c, link{from, p.to}, down, up, true); done <- struct{}{} }()
	go func() { p.pipe(c, link{from, p.to}, up, down, false); done <- struct{}{} }()
	<-done
	c.close()
	<-done
}

type chunk struct {
	b  []byte
	at time.Time
}

// pipe copies src to dst, obeying the faults of l. Delays apply to the
// dialler->member direction (the raft messages); blocks to both.
func (p *Proxy) pipe(c *proxyConn, l link, src, dst net.Conn, forward bool) {
	q := make(chan chunk, 64)
	go func() {
		defer close(q)
		for {
			b := make([]byte, 32<<10)
			k, err := src.Read(b)
			if k > 0 {
				select {
				case q <- chunk{b[:k], time.Now()}:
				case <-c.closed:
					return
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					c.close()
				}
				return
			}
		}
	}()
	for ch := range q {
		if !p.net.waitOpen(l, c.closed) {
			return
		}
		if forward {
			if d := p.net.delayOf(l); d > 0 {
				if wait := time.Until(ch.at.Add(d)); wait > 0 {
					select {
					case <-time.After(wait):
					case <-c.closed:
						return
					}
				}
			}
		}
		if _, err := dst.Write(ch.b); err != nil {
			c.close()
			return
		}
		p.mu.Lock()
		p.stats.BytesForwarded += int64(len(ch.b))
		p.mu.Unlock()
	}
	c.close()
}

// isBlockedLocked reports whether link l is blocked by a fault on it, on
// every link into l.to, or on every link out of l.from.
func (n *Network) isBlockedLocked(l link) bool {
	return n.blocked[l] || n.blocked[link{"*", l.to}] || (l.from != "" && n.blocked[link{l.from, "*"}])
}

// waitOpen waits until link l is not blocked; false if closed first.
func (n *Network) waitOpen(l link, closed <-chan struct{}) bool {
	for {
		n.mu.Lock()
		blocked, changed := n.isBlockedLocked(l), n.changed
		n.mu.Unlock()
		if !blocked {
			return true
		}
		select {
		case <-changed:
		case <-closed:
			return false
		}
	}
}

func (n *Network) delayOf(l link) time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	d := n.delay[l]
	if d2 := n.delay[link{"*", l.to}]; d2 > d {
		d = d2
	}
	if l.from != "" {
		if d2 := n.delay[link{l.from, "*"}]; d2 > d {
			d = d2
		}
	}
	return d
}

func (n *Network) notifyLocked() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// Block blocks messages from `from` to `to` ("*" for any member).
func (n *Network) Block(from, to string) {
	n.mu.Lock()
	n.blocked[link{from, to}] = true
	n.notifyLocked()
	n.mu.Unlock()
}

// Isolate blocks every link into and out of member m.
func (n *Network) Isolate(m string) {
	n.mu.Lock()
	n.blocked[link{"*", m}] = true
	n.blocked[link{m, "*"}] = true
	n.notifyLocked()
	n.mu.Unlock()
}

// Delay delays messages from `from` to `to` ("*" for any member) by d.
func (n *Network) Delay(from, to string, d time.Duration) {
	n.mu.Lock()
	n.delay[link{from, to}] = d
	n.notifyLocked()
	n.mu.Unlock()
}

// Cut closes the current connections of the links matching (from, to)
// ("*" for any member): connections into `to` dialled by `from`.
func (n *Network) Cut(from, to string) int {
	n.mu.Lock()
	var ps []*Proxy
	for name, p := range n.proxies {
		if to == "*" || to == name {
			ps = append(ps, p)
		}
	}
	n.mu.Unlock()
	cut := 0
	for _, p := range ps {
		p.mu.Lock()
		var victims []*proxyConn
		for c := range p.conns {
			if from == "*" || c.from == from {
				victims = append(victims, c)
			}
		}
		p.stats.Cut += len(victims)
		p.mu.Unlock()
		for _, c := range victims {
			c.close()
		}
		cut += len(victims)
	}
	return cut
}

// Heal removes every fault (connections that were stalled resume).
func (n *Network) Heal() {
	n.mu.Lock()
	n.blocked = map[link]bool{}
	n.delay = map[link]time.Duration{}
	n.notifyLocked()
	n.mu.Unlock()
}

// String describes the current faults.
func (n *Network) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := ""
	for l := range n.blocked {
		s += fmt.Sprintf(" block %s->%s", l.from, l.to)
	}
	for l, d := range n.delay {
		s += fmt.Sprintf(" delay %s->%s %v", l.from, l.to, d)
	}
	if s == "" {
		return "healthy"
	}
	return s[1:]
}
