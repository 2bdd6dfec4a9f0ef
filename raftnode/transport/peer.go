package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// peer is the outgoing side of the link to one member: a bounded queue and
// one writer goroutine that owns the message stream.
//
//	Send ──▶ queue ──▶ run: connect ─▶ batch ─▶ chunks ─▶ stream.SendMsg
//	                      ▲   │ fail                        │ fail
//	                      └── backoff (queue drained, dropped, reported) ◀┘
type peer struct {
	t     *Transport
	id    uint64
	queue chan *raftpb.Message
	// ctx lives as long as the peer: cancelled by RemovePeer or Stop.
	ctx    context.Context
	cancel context.CancelFunc

	sent, dropped, sentBytes atomic.Uint64

	mu struct {
		sync.Mutex
		urls, addrs []string
		next        int // index of the address to try next
		// connected is the address of the open message stream, or "".
		connected string
		// reconnect cancels the open message stream (UpdatePeer).
		reconnect context.CancelFunc
		// snapshotting is true while a snapshot is being sent.
		snapshotting bool
		lastErr      string
	}
}

func newPeer(t *Transport, id uint64, urls, addrs []string) *peer {
	ctx, cancel := context.WithCancel(t.ctx)
	p := &peer{t: t, id: id, queue: make(chan *raftpb.Message, t.cfg.QueueLen), ctx: ctx, cancel: cancel}
	p.mu.urls, p.mu.addrs = slices.Clone(urls), addrs
	return p
}

func (p *peer) setURLs(urls, addrs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.urls, p.mu.addrs, p.mu.next = slices.Clone(urls), addrs, 0
	if p.mu.connected != "" && !slices.Contains(addrs, p.mu.connected) && p.mu.reconnect != nil {
		p.mu.reconnect()
	}
}

// nextAddr returns the address to try now and moves on to the next one.
func (p *peer) nextAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.mu.addrs[p.mu.next%len(p.mu.addrs)]
	p.mu.next++
	return a
}

func (p *peer) setErr(err error) {
	p.mu.Lock()
	p.mu.lastErr = err.Error()
	p.mu.Unlock()
}

func (p *peer) beginSnapshot() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.snapshotting {
		return false
	}
	p.mu.snapshotting = true
	return true
}

func (p *peer) endSnapshot() {
	p.mu.Lock()
	p.mu.snapshotting = false
	p.mu.Unlock()
}

func (p *peer) metrics() PeerMetrics {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PeerMetrics{
		URLs:      slices.Clone(p.mu.urls),
		Connected: p.mu.connected != "",
		Queued:    len(p.queue),
		Sent:      p.sent.Load(),
		Dropped:   p.dropped.Load(),
		SentBytes: p.sentBytes.Load(),
		LastError: p.mu.lastErr,
	}
}

// run is the writer goroutine: it keeps one message stream open and writes
// batches to it until the peer is removed or the transport stops.
func (p *peer) run() {
	defer p.t.wg.Done()
	log := p.t.log.With("peer", fmt.Sprintf("%x", p.id))
	wait := p.t.cfg.MinBackoff
	failures := 0
	for p.ctx.Err() == nil {
		s, err := p.openMessages()
		if err == nil {
			if failures > 0 {
				log.Info("peer reachable again", "after_failures", failures)
			}
			failures, wait = 0, p.t.cfg.MinBackoff
			err = p.write(s)
			s.close()
			p.mu.Lock()
			p.mu.connected, p.mu.reconnect = "", nil
			p.mu.Unlock()
			if p.ctx.Err() != nil {
				return
			}
			log.Warn("message stream to peer broke", "err", err)
		} else if p.ctx.Err() == nil {
			if failures == 0 {
				log.Warn("cannot reach peer; retrying with backoff", "err", err)
			} else {
				log.Debug("cannot reach peer", "err", err, "failures", failures)
			}
			failures++
		}
		if err != nil {
			p.setErr(err)
			if status.Code(err) == codes.PermissionDenied && strings.Contains(err.Error(), ErrMemberRemoved.Error()) {
				log.Error("a peer says this member was removed from the cluster", "err", err)
				if rh, ok := p.t.h.(RemovedHandler); ok {
					go rh.ReportRemoved()
				}
			}
		}
		p.t.rep.unreachable(p.id)
		if !p.dropFor(wait) {
			return
		}
		wait = min(2*wait, p.t.cfg.MaxBackoff)
	}
}

// dropFor waits d while dropping whatever is queued: raft learns the peer
// is unreachable and retries later. It returns false if the peer is gone.
func (p *peer) dropFor(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	reported := false
	for {
		select {
		case <-p.queue:
			p.dropped.Add(1)
			p.t.metrics.dropped.Add(1)
			if !reported {
				p.t.rep.unreachable(p.id)
				reported = true
			}
		case <-timer.C:
			return true
		case <-p.ctx.Done():
			return false
		}
	}
}

// outStream is an open client stream and what it needs to be closed.
type outStream struct {
	cs     grpc.ClientStream
	cc     *grpc.ClientConn
	cancel context.CancelFunc
	// done is closed when the watcher's RecvMsg returned (nil without a
	// watcher); recvErr is its result, readable after done.
	done    chan struct{}
	recvErr error
}

// watch starts a goroutine waiting for the server to end the call, so that
// a broken stream is noticed while there is nothing to send.
func (s *outStream) watch() {
	s.done = make(chan struct{})
	go func() {
		var b []byte
		s.recvErr = s.cs.RecvMsg(&b)
		close(s.done)
	}()
}

// serverErr returns the status the server ended the call with.
func (s *outStream) serverErr() error {
	if s.done != nil {
		<-s.done
		return s.recvErr
	}
	var b []byte
	return s.cs.RecvMsg(&b)
}

func (s *outStream) close() {
	s.cancel()
	if s.done != nil {
		<-s.done
	}
	_ = s.cc.Close()
}

// open dials addr and opens method with the handshake: the server must
// answer with a header naming our cluster and the member we meant. Both are
// bounded by DialTimeout.
func (p *peer) open(parent context.Context, addr, method string) (*outStream, error) {
	t := p.t
	target, secure := strings.CutPrefix(addr, tlsPrefix)
	creds := insecure.NewCredentials()
	if secure {
		// grpc sets ServerName from the address: the peer's certificate
		// must name the host of its URL.
		cfg := t.cfg.TLS
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		creds = credentials.NewTLS(cfg)
	}
	cc, err := grpc.NewClient("passthrough:///"+target,
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			d := net.Dialer{Timeout: t.cfg.DialTimeout}
			return d.DialContext(ctx, "tcp", a)
		}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: t.cfg.MinBackoff, Multiplier: 2, Jitter: 0.2, MaxDelay: t.cfg.MaxBackoff},
			MinConnectTimeout: t.cfg.DialTimeout,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("transport: dial %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(metadata.NewOutgoingContext(parent, t.requestMD(p.id)))
	fail := func(err error) (*outStream, error) {
		cancel()
		_ = cc.Close()
		return nil, err
	}
	timedOut := atomic.Bool{}
	timer := time.AfterFunc(t.cfg.DialTimeout, func() { timedOut.Store(true); cancel() })
	defer timer.Stop()
	desc := &serviceDesc.Streams[0]
	if method == methodSnapshot {
		desc = &serviceDesc.Streams[1]
	}
	cs, err := cc.NewStream(ctx, desc, method, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		return fail(p.streamErr(addr, err, timedOut.Load()))
	}
	md, err := cs.Header()
	if err == nil && md == nil {
		// The server ended the call without a header: it refused it.
		var b []byte
		err = cs.RecvMsg(&b)
		if err == nil || err == io.EOF {
			err = fmt.Errorf("%w: server closed the call without a handshake", ErrProtocol)
		}
	}
	if err != nil {
		return fail(p.streamErr(addr, err, timedOut.Load()))
	}
	if err := t.checkServerMD(md, p.id); err != nil {
		return fail(fmt.Errorf("transport: %s: %w", addr, err))
	}
	if !timer.Stop() {
		return fail(fmt.Errorf("transport: %s: handshake timed out after %v", addr, t.cfg.DialTimeout))
	}
	return &outStream{cs: cs, cc: cc, cancel: cancel}, nil
}

func (p *peer) streamErr(addr string, err error, timedOut bool) error {
	if timedOut {
		return fmt.Errorf("transport: %s: no connection within %v: %w", addr, p.t.cfg.DialTimeout, err)
	}
	return fmt.Errorf("transport: %s: %w", addr, err)
}

// checkServerMD verifies the handshake header of member want.
func (t *Transport) checkServerMD(md metadata.MD, want uint64) error {
	cluster, err := mdUint(md, mdCluster)
	if err != nil {
		return err
	}
	if cluster != t.cfg.ClusterID {
		return fmt.Errorf("%w: peer %x is in cluster %x, this member in %x", ErrClusterMismatch, want, cluster, t.cfg.ClusterID)
	}
	member, err := mdUint(md, mdMember)
	if err != nil {
		return err
	}
	if member != want {
		return fmt.Errorf("%w: dialled member %x but member %x answered; check the peer URLs", ErrMemberMismatch, want, member)
	}
	return nil
}

// openMessages opens the message stream on the next address.
func (p *peer) openMessages() (*outStream, error) {
	addr := p.nextAddr()
	s, err := p.open(p.ctx, addr, methodMessages)
	if err != nil {
		return nil, err
	}
	s.watch()
	p.mu.Lock()
	p.mu.connected, p.mu.reconnect = addr, s.cancel
	p.mu.lastErr = ""
	p.mu.Unlock()
	return s, nil
}

// write sends batches until the stream fails or the peer is gone. Each
// batch is everything queued (up to about ChunkBytes), encoded once and cut
// into chunks.
func (p *peer) write(s *outStream) error {
	chunk := p.t.cfg.ChunkBytes
	for {
		var m *raftpb.Message
		select {
		case m = <-p.queue:
		case <-s.done:
			if s.recvErr == nil || s.recvErr == io.EOF {
				return fmt.Errorf("transport: peer %x ended the stream", p.id)
			}
			return fmt.Errorf("transport: stream to %x: %w", p.id, s.recvErr)
		}
		var buf []byte
		n := 0
		for {
			var err error
			if buf, err = appendRecord(buf, m); err != nil {
				// Cannot happen for a valid message; skip it rather than
				// break the stream for the others.
				p.t.log.Error("dropping unencodable message", "err", err)
				p.dropped.Add(1)
			} else {
				n++
			}
			if len(buf) >= chunk {
				break
			}
			select {
			case m = <-p.queue:
				continue
			default:
			}
			break
		}
		for off := 0; off < len(buf); off += chunk {
			if err := s.cs.SendMsg(buf[off:min(off+chunk, len(buf))]); err != nil {
				p.dropped.Add(uint64(n))
				p.t.metrics.dropped.Add(uint64(n))
				return p.sendErr(s, err)
			}
		}
		p.sent.Add(uint64(n))
		p.sentBytes.Add(uint64(len(buf)))
		p.t.metrics.sent.Add(uint64(n))
	}
}

// sendErr turns a failed send into the server's reason, if it gave one.
func (p *peer) sendErr(s *outStream, err error) error {
	if errors.Is(err, io.EOF) {
		// The server ended the call: its status says why.
		if rerr := s.serverErr(); rerr != nil && rerr != io.EOF {
			return fmt.Errorf("transport: peer %x closed the stream: %w", p.id, rerr)
		}
	}
	return fmt.Errorf("transport: stream to %x: %w", p.id, err)
}

// streamSnapshot sends m and body on a new Snapshot call and waits for the
// peer's answer. body is always closed.
func (p *peer) streamSnapshot(m *raftpb.Message, body io.ReadCloser) (err error) {
	if body == nil {
		body = io.NopCloser(eofReader{})
	}
	// Close the body once: when done, or at once if the peer goes away, so
	// that a Read blocked on the application (a pipe) returns.
	var closeOnce sync.Once
	var closeErr error
	closeBody := func() { closeOnce.Do(func() { closeErr = body.Close() }) }
	stopClose := context.AfterFunc(p.ctx, closeBody)
	defer func() {
		stopClose()
		closeBody()
		if closeErr != nil && err == nil {
			err = fmt.Errorf("transport: close snapshot body: %w", closeErr)
		}
	}()
	hdr, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("transport: encode snapshot message: %w", err)
	}
	if len(hdr)+1 > p.t.cfg.ChunkBytes {
		return fmt.Errorf("transport: snapshot message is %d bytes; keep Snapshot.Data small and stream the body", len(hdr))
	}
	s, err := p.open(p.ctx, p.nextAddr(), methodSnapshot)
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.cs.SendMsg(append([]byte{frameHeader}, hdr...)); err != nil {
		return p.sendErr(s, err)
	}
	var (
		total uint64
		crc   uint32
	)
	for {
		// A fresh buffer per chunk: gRPC may hold a sent message for a
		// while, and chunks are what bounds memory, not the body.
		buf := make([]byte, 1+p.t.cfg.ChunkBytes)
		buf[0] = frameData
		n, rerr := io.ReadFull(body, buf[1:])
		if n > 0 {
			crc = crc32.Update(crc, crcTable, buf[1:1+n])
			total += uint64(n)
			if err := s.cs.SendMsg(buf[:1+n]); err != nil {
				return p.sendErr(s, err)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("transport: read snapshot body: %w", rerr)
		}
	}
	if err := s.cs.SendMsg(trailer(total, crc)); err != nil {
		return p.sendErr(s, err)
	}
	if err := s.cs.CloseSend(); err != nil {
		return p.sendErr(s, err)
	}
	var resp []byte
	if err := s.cs.RecvMsg(&resp); err != nil {
		return fmt.Errorf("transport: peer %x did not accept the snapshot: %w", p.id, err)
	}
	return nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
