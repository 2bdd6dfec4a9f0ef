package portmux

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
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
	// TLS, if set, makes the port a TLS port: each connection completes
	// its TLS handshake (within SniffTimeout too) before it is sniffed,
	// and the servers get the decrypted connection. Default nil: plain.
	TLS *tls.Config
	// Logger receives failed TLS handshakes at debug level (a client
	// without the CA, a plain-text client). Default: discard.
	Logger *slog.Logger
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
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
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

// sniff reads until the connection is classified and hands it on; on a
// TLS port it first completes the handshake.
func (m *Mux) sniff(c net.Conn) {
	deadline := time.Now().Add(m.opts.SniffTimeout)
	if m.opts.TLS != nil {
		raw := c
		_ = raw.SetDeadline(deadline)
		tc := tls.Server(raw, m.opts.TLS)
		if err := tc.HandshakeContext(context.Background()); err != nil {
			m.handshakeFailed(raw, err)
			raw.Close()
			return
		}
		_ = raw.SetDeadline(time.Time{})
		c = tc
	}
	buf := make([]byte, len(preface))
	n := 0
	_ = c.SetReadDeadline(deadline)
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

// plainHTTPReply is what net/http answers a plain HTTP request on a TLS
// port: curl and browsers show it instead of a reset connection.
const plainHTTPReply = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"

// handshakeFailed logs a failed handshake and, to a client that spoke
// plain HTTP/1, answers so in plain text. A plain gRPC client (HTTP/2
// preface) just sees the connection close.
func (m *Mux) handshakeFailed(c net.Conn, err error) {
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) && rh.Conn != nil && LooksLikeHTTP1(rh.RecordHeader[:]) {
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(c, plainHTTPReply)
	}
	m.opts.Logger.Debug("TLS handshake failed", "remote", c.RemoteAddr().String(), "err", err)
}

// LooksLikeHTTP1 reports whether the first five bytes of a connection are
// the start of an HTTP/1 request (as net/http tells it on a TLS port).
func LooksLikeHTTP1(hdr []byte) bool {
	switch string(hdr) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH":
		return true
	}
	return false
}

// prefixConn replays the sniffed bytes before reading the connection.
type prefixConn struct {
	net.Conn
	prefix []byte
}

// NetConn returns the connection read after the replayed bytes (the
// *tls.Conn on a TLS port), as tls.Conn.NetConn does.
func (c *prefixConn) NetConn() net.Conn { return c.Conn }

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
