package portmux

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// preface is the HTTP/2 client connection preface (RFC 9113 §3.4).
var preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// Kind is where a connection goes.
type Kind int

const (
	// Undecided: the bytes so far are a prefix of the preface.
	Undecided Kind = iota
	// GRPC: the connection opened with the HTTP/2 preface.
	GRPC
	// HTTP: anything else.
	HTTP
)

// Classify decides from the first bytes of a connection: GRPC once they
// hold the whole preface, HTTP as soon as they differ from it, Undecided
// while they are a strict prefix of it (read more).
func Classify(first []byte) Kind {
	n := min(len(first), len(preface))
	if !bytes.Equal(first[:n], preface[:n]) {
		return HTTP
	}
	if n == len(preface) {
		return GRPC
	}
	return Undecided
}

// Options configures a Mux. The zero value means the defaults.
type Options struct {
	// SniffTimeout: how long a new connection may take to send enough
	// bytes to be classified. Default 10s.
	SniffTimeout time.Duration
}

// Mux splits one listener into a gRPC and an HTTP listener.
type Mux struct {
	ln   net.Listener
	opts Options
	grpc *chanListener
	http *chanListener

	closeOnce sync.Once
	done      chan struct{}
}

// New returns a Mux over ln; call Serve to start accepting.
func New(ln net.Listener, opts Options) *Mux {
	if opts.SniffTimeout <= 0 {
		opts.SniffTimeout = 10 * time.Second
	}
	done := make(chan struct{})
	return &Mux{
		ln:   ln,
		opts: opts,
		grpc: newChanListener(ln.Addr(), done),
		http: newChanListener(ln.Addr(), done),
		done: done,
	}
}

// GRPC is the listener of connections that speak HTTP/2 (gRPC).
func (m *Mux) GRPC() net.Listener { return m.grpc }

// HTTP is the listener of all other connections.
func (m *Mux) HTTP() net.Listener { return m.http }

// Serve accepts connections until the underlying listener is closed (by
// Close or by the caller); it then returns nil after Close, or the accept
// error otherwise.
func (m *Mux) Serve() error {
	var backoff time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and the like: wait, as net/http.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			m.Close()
			return err
		}
		backoff = 0
		go m.sniff(c)
	}
}

// Close closes the underlying listener and both split listeners; conns
// already handed to a server stay that server's.
func (m *Mux) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.done)
		err = m.ln.Close()
	})
	return err
}

// sniff reads until the connection is classified and hands it on.
func (m *Mux) sniff(c net.Conn) {
	buf := make([]byte, len(preface))
	n := 0
	_ = c.SetReadDeadline(time.Now().Add(m.opts.SniffTimeout))
	kind := Undecided
	for kind == Undecided {
		k, err := c.Read(buf[n:])
		n += k
		kind = Classify(buf[:n])
		if kind == Undecided && err != nil {
			if n == 0 || errors.Is(err, io.EOF) {
				c.Close() // went away, or never spoke
				return
			}
			kind = HTTP // a short HTTP/1 request, then silence
			break
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	pc := &prefixConn{Conn: c, prefix: buf[:n]}
	target := m.http
	if kind == GRPC {
		target = m.grpc
	}
	if !target.deliver(pc) {
		c.Close()
	}
}

// prefixConn replays the sniffed bytes before reading the connection.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// chanListener is a net.Listener fed by the Mux.
type chanListener struct {
	addr      net.Addr
	conns     chan net.Conn
	muxDone   <-chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

func newChanListener(addr net.Addr, muxDone <-chan struct{}) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), muxDone: muxDone, closed: make(chan struct{})}
}

// deliver hands c to Accept; false when the listener or the mux closed.
func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.closed:
		return false
	case <-l.muxDone:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.muxDone:
		return nil, net.ErrClosed
	}
}

// Close stops this listener only (a server's Stop closes its listener);
// the port stays open for the other until Mux.Close.
func (l *chanListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
