package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// ErrListen is returned when the server cannot bind its address.
var ErrListen = errors.New("dns: listen")

// Config configures a Server; the zero value of each field means its
// default.
type Config struct {
	// Informers, when set, is the agent's shared factory the Services and
	// EndpointSlices are watched through (its owner stops it); nil: the
	// Server's own.
	Informers informers.SharedInformerFactory
	// Listen is the host:port answered on, UDP and TCP. Default
	// "127.0.0.1:53". Port 0 picks a free port (see Server.Addr).
	Listen string
	// Domain is the cluster domain. Default "cluster.local".
	Domain string
	// Upstreams is a resolv.conf whose nameservers get the names outside
	// the cluster domain. Default "": no forwarding, such names get
	// REFUSED.
	Upstreams string
	// UpstreamPort is the upstream servers' port. Default "53".
	UpstreamPort string
	// UpstreamTimeout bounds one upstream exchange. Default 2s.
	UpstreamTimeout time.Duration
	// TTL of the cluster's answers, in seconds. Default 5.
	TTL uint32
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) ensureDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:53"
	}
	if c.Domain == "" {
		c.Domain = "cluster.local"
	}
	if c.UpstreamPort == "" {
		c.UpstreamPort = "53"
	}
	if c.UpstreamTimeout <= 0 {
		c.UpstreamTimeout = 2 * time.Second
	}
	if c.TTL == 0 {
		c.TTL = 5
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server answers DNS from the current Table and forwards the rest. Its
// table follows the API through informers while Run runs.
type Server struct {
	cfg    Config
	client kubernetes.Interface
	table  atomic.Pointer[Table]
	kick   chan struct{}

	mu struct {
		sync.Mutex
		udp      net.PacketConn
		tcp      net.Listener
		upstream []string // host:port of the upstream servers
	}
}

// New returns a Server over client (nil: no informers; the table stays
// empty unless SetTable is called).
func New(client kubernetes.Interface, cfg Config) *Server {
	cfg.ensureDefaults()
	s := &Server{cfg: cfg, client: client, kick: make(chan struct{}, 1)}
	s.table.Store(Build(cfg.Domain, cfg.TTL, nil, nil))
	return s
}

// SetTable replaces the table answered from.
func (s *Server) SetTable(t *Table) { s.table.Store(t) }

// Listen binds the UDP and TCP sockets (Run calls it if needed). With port
// 0 both get the same free port.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.udp != nil {
		return nil
	}
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		pc, err := net.ListenPacket("udp", s.cfg.Listen)
		if err != nil {
			return fmt.Errorf("%w: udp %s: %w", ErrListen, s.cfg.Listen, err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			lastErr = err
			continue // the free UDP port was taken on TCP: try another
		}
		s.mu.udp, s.mu.tcp = pc, l
		break
	}
	if s.mu.udp == nil {
		return fmt.Errorf("%w: tcp %s: %w", ErrListen, s.cfg.Listen, lastErr)
	}
	if s.cfg.Upstreams != "" {
		cc, err := mdns.ClientConfigFromFile(s.cfg.Upstreams)
		if err != nil {
			s.cfg.Logger.Warn("dns: cannot read upstreams; names outside the cluster will be refused", "file", s.cfg.Upstreams, "err", err)
		} else {
			for _, srv := range cc.Servers {
				s.mu.upstream = append(s.mu.upstream, net.JoinHostPort(srv, s.cfg.UpstreamPort))
			}
		}
	}
	return nil
}

// Addr is the bound address (after Listen), e.g. 127.0.0.1:40123.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.udp == nil {
		return ""
	}
	return s.mu.udp.LocalAddr().String()
}

// Run serves until ctx ends, and keeps the table in step with the
// Services and EndpointSlices of the API when the Server has a client.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	udp := &mdns.Server{PacketConn: s.mu.udp, Handler: s}
	tcp := &mdns.Server{Listener: s.mu.tcp, Handler: s}
	s.mu.Unlock()
	errc := make(chan error, 2)
	go func() { errc <- udp.ActivateAndServe() }()
	go func() { errc <- tcp.ActivateAndServe() }()
	defer func() {
		udp.Shutdown()
		tcp.Shutdown()
	}()
	if s.client != nil {
		go s.follow(ctx)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-errc:
		return fmt.Errorf("dns: serve %s: %w", s.Addr(), err)
	}
}

// follow rebuilds the table after changes, at most every 50 ms.
func (s *Server) follow(ctx context.Context) {
	factory := s.cfg.Informers
	if factory == nil {
		factory = informers.NewSharedInformerFactory(s.client, 0)
		defer factory.Shutdown()
	}
	svcInf := factory.Core().V1().Services()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	kick := func() {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	h := cache.ResourceEventHandlerFuncs{AddFunc: func(any) { kick() }, UpdateFunc: func(any, any) { kick() }, DeleteFunc: func(any) { kick() }}
	svcInf.Informer().AddEventHandler(h)
	sliceInf.Informer().AddEventHandler(h)
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
		svcs, err1 := svcInf.Lister().List(labels.Everything())
		slices, err2 := sliceInf.Lister().List(labels.Everything())
		if err := errors.Join(err1, err2); err != nil {
			s.cfg.Logger.Error("dns: list from cache", "err", err)
			kick()
		} else {
			s.table.Store(Build(s.cfg.Domain, s.cfg.TTL, svcs, slices))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ServeDNS answers one query: from the table inside the cluster domain
// (and ClusterIPs' reverse names), upstream otherwise.
func (s *Server) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	m := new(mdns.Msg)
	m.SetReply(r)
	if r.Opcode != mdns.OpcodeQuery || len(r.Question) != 1 {
		m.Rcode = mdns.RcodeNotImplemented
		if len(r.Question) != 1 {
			m.Rcode = mdns.RcodeFormatError
		}
		w.WriteMsg(m)
		return
	}
	res := s.table.Load().Lookup(r.Question[0])
	if !res.InZone {
		s.forward(w, r, m)
		return
	}
	m.Authoritative = true
	m.RecursionAvailable = true
	m.Rcode = res.Rcode
	m.Answer = res.Answer
	m.Extra = res.Extra
	if _, isUDP := w.RemoteAddr().(*net.UDPAddr); isUDP {
		m.Truncate(udpSize(r))
	}
	w.WriteMsg(m)
}

func udpSize(r *mdns.Msg) int {
	if o := r.IsEdns0(); o != nil && o.UDPSize() > mdns.MinMsgSize {
		return int(o.UDPSize())
	}
	return mdns.MinMsgSize
}

func (s *Server) forward(w mdns.ResponseWriter, r, m *mdns.Msg) {
	s.mu.Lock()
	upstream := s.mu.upstream
	s.mu.Unlock()
	if len(upstream) == 0 {
		m.Rcode = mdns.RcodeRefused
		w.WriteMsg(m)
		return
	}
	network := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	c := &mdns.Client{Net: network, Timeout: s.cfg.UpstreamTimeout}
	for _, up := range upstream {
		resp, _, err := c.Exchange(r, up)
		if err != nil {
			s.cfg.Logger.Debug("dns: upstream failed", "upstream", up, "err", err)
			continue
		}
		resp.Id = r.Id
		w.WriteMsg(resp)
		return
	}
	m.Rcode = mdns.RcodeServerFailure
	w.WriteMsg(m)
}
