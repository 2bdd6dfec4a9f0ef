package transport

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
)

// Handler is the local raft node, as the transport sees it.
//
// Process and ReceiveSnapshot are called from the goroutine of the incoming
// stream: one at a time per sending peer, in the order the peer sent.
// ReportUnreachable and ReportSnapshot are called from a single transport
// goroutine, never from within Send or SendSnapshot, so they may hand the
// report to the node loop with a (briefly) blocking channel send.
type Handler interface {
	// Process delivers a message received from a peer to the local raft
	// node. An error ends the stream from that peer (it reconnects).
	Process(ctx context.Context, m *raftpb.Message) error
	// ReceiveSnapshot delivers an incoming snapshot: m is the MsgSnap
	// message, body streams the data. It must read body to io.EOF (which
	// body returns only after verifying the length and checksum) before
	// returning nil; the sender's ReportSnapshot succeeds only then. The
	// transport tells raft nothing: the application steps m once it has
	// installed the body. ctx is cancelled if the stream breaks or the
	// transport stops.
	ReceiveSnapshot(ctx context.Context, m *raftpb.Message, body io.Reader) error
	// ReportUnreachable tells raft that messages to peer id were lost
	// (RawNode.ReportUnreachable).
	ReportUnreachable(id uint64)
	// ReportSnapshot tells raft how sending a snapshot to peer id ended
	// (RawNode.ReportSnapshot).
	ReportSnapshot(id uint64, status raft.SnapshotStatus)
}

// RemovedHandler is optionally implemented by a Handler: ReportRemoved is
// called (on a goroutine of its own) when a peer refuses this member because
// it was removed from the cluster.
type RemovedHandler interface {
	ReportRemoved()
}

// Transport carries raft messages between the members of one cluster.
// Create it with New, serve it with Register, and name the peers with
// AddPeer. All methods are safe for concurrent use.
type Transport struct {
	cfg Config
	h   Handler
	log *slog.Logger

	// ctx is cancelled by Stop; every goroutine of the transport watches it.
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts the goroutines of the transport: peer writers, snapshot
	// senders, delayed sends, incoming streams and the reporter.
	wg sync.WaitGroup

	rep     reporter
	metrics counters

	mu struct {
		sync.Mutex
		peers   map[uint64]*peer
		stopped bool
	}
}

// New returns a transport for the member cfg.ID. It starts no connection
// until peers are added.
func New(cfg Config, h Handler) (*Transport, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("%w: nil Handler", ErrInvalidConfig)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		cfg:    cfg,
		h:      h,
		log:    cfg.Logger.With("member_id", fmt.Sprintf("%x", cfg.ID)),
		ctx:    ctx,
		cancel: cancel,
	}
	t.mu.peers = make(map[uint64]*peer)
	t.rep.init()
	t.wg.Add(1)
	go t.runReporter()
	return t, nil
}

// Register adds the peer service to s, which serves the member's peer
// listener. It needs no server option: the raw codec is found by its
// content-subtype. Call it before s.Serve.
func (t *Transport) Register(s *grpc.Server) {
	s.RegisterService(&serviceDesc, t)
}

// AddPeer starts talking to member id at urls (tried in turn on each
// reconnection). It returns ErrPeerExists if id is already a peer.
func (t *Transport) AddPeer(id uint64, urls []string) error {
	addrs, err := checkPeer(t.cfg.ID, id, urls)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.stopped {
		return ErrStopped
	}
	if _, ok := t.mu.peers[id]; ok {
		return fmt.Errorf("%w: %x", ErrPeerExists, id)
	}
	p := newPeer(t, id, urls, addrs)
	t.mu.peers[id] = p
	t.wg.Add(1)
	go p.run()
	return nil
}

// UpdatePeer replaces the URLs of member id. A connection to an address
// that is no longer listed is closed and reopened on the new ones; queued
// messages stay queued.
func (t *Transport) UpdatePeer(id uint64, urls []string) error {
	addrs, err := checkPeer(t.cfg.ID, id, urls)
	if err != nil {
		return err
	}
	t.mu.Lock()
	p, ok := t.mu.peers[id]
	stopped := t.mu.stopped
	t.mu.Unlock()
	if stopped {
		return ErrStopped
	}
	if !ok {
		return fmt.Errorf("%w: %x", ErrUnknownPeer, id)
	}
	p.setURLs(urls, addrs)
	return nil
}

// RemovePeer stops talking to member id: its queue is dropped, its streams
// and any snapshot being sent to it are closed. It returns ErrUnknownPeer if
// id is not a peer.
func (t *Transport) RemovePeer(id uint64) error {
	t.mu.Lock()
	p, ok := t.mu.peers[id]
	delete(t.mu.peers, id)
	t.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %x", ErrUnknownPeer, id)
	}
	p.cancel()
	return nil
}

func checkPeer(self, id uint64, urls []string) ([]string, error) {
	if id == 0 || id == self {
		return nil, fmt.Errorf("%w: peer ID %x (own ID %x)", ErrInvalidConfig, id, self)
	}
	if len(urls) == 0 {
		return nil, fmt.Errorf("%w: peer %x has no URL", ErrInvalidURL, id)
	}
	addrs := make([]string, len(urls))
	for i, u := range urls {
		a, err := dialAddr(u)
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	return addrs, nil
}

// peer returns the peer with the given id, or nil.
func (t *Transport) peer(id uint64) *peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mu.peers[id]
}

// Send queues msgs for their recipients and returns at once. Messages to a
// peer keep their order. A message that does not fit in its peer's queue is
// dropped and the peer reported unreachable; raft retries. A MsgSnap goes to
// SendSnapshot. Messages to unknown peers are dropped. Send takes ownership
// of the messages: the caller must not modify them afterwards.
func (t *Transport) Send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		if m == nil {
			continue
		}
		if m.GetType() == raftpb.MsgSnap {
			t.SendSnapshot(m, nil) // no body: Snapshot.Data travels with the header
			continue
		}
		if t.cfg.Filter != nil {
			drop, delay := t.cfg.Filter(m)
			if drop {
				t.metrics.filtered.Add(1)
				continue
			}
			if delay > 0 {
				t.later(delay, func() { t.enqueue(m) })
				continue
			}
		}
		t.enqueue(m)
	}
}

// enqueue puts m on its peer's queue without blocking.
func (t *Transport) enqueue(m *raftpb.Message) {
	p := t.peer(m.GetTo())
	if p == nil {
		t.metrics.dropped.Add(1)
		if m.GetTo() != t.cfg.ID {
			t.log.Debug("dropping message to unknown peer", "type", m.GetType().String(), "to", fmt.Sprintf("%x", m.GetTo()))
		}
		return
	}
	select {
	case p.queue <- m:
	default:
		p.dropped.Add(1)
		t.metrics.dropped.Add(1)
		t.rep.unreachable(p.id)
	}
}

// later runs f after d, unless the transport stops first.
func (t *Transport) later(d time.Duration, f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.stopped {
		return
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
			f()
		case <-t.ctx.Done():
		}
	}()
}

// SendSnapshot streams a snapshot to m.To in the background: m (a MsgSnap)
// first, then body in chunks, so the body is never held in memory. body is
// closed when done (it may be nil: empty); if the peer is removed or the
// transport stops mid-way, Close is called while a Read may be in progress,
// to unblock it (as io.PipeReader allows). The outcome is reported with
// Handler.ReportSnapshot: SnapshotFinish once the peer's ReceiveSnapshot
// returned nil, SnapshotFailure otherwise (including an unknown peer, a
// snapshot to that peer already in flight, or a stop).
func (t *Transport) SendSnapshot(m *raftpb.Message, body io.ReadCloser) {
	fail := func(reason string, err error) {
		if body != nil {
			_ = body.Close()
		}
		t.metrics.snapshotsFailed.Add(1)
		t.log.Warn("snapshot not sent", "to", fmt.Sprintf("%x", m.GetTo()), "reason", reason, "err", err)
		t.rep.snapshot(m.GetTo(), raft.SnapshotFailure)
	}
	var delay time.Duration
	if t.cfg.Filter != nil {
		var drop bool
		if drop, delay = t.cfg.Filter(m); drop {
			t.metrics.filtered.Add(1)
			fail("dropped by filter", nil)
			return
		}
	}
	p := t.peer(m.GetTo())
	if p == nil {
		fail("unknown peer", fmt.Errorf("%w: %x", ErrUnknownPeer, m.GetTo()))
		return
	}
	if !p.beginSnapshot() {
		fail("busy", ErrSnapshotBusy)
		return
	}
	t.mu.Lock()
	stopped := t.mu.stopped
	if !stopped {
		t.wg.Add(1)
	}
	t.mu.Unlock()
	if stopped {
		p.endSnapshot()
		fail("stopped", ErrStopped)
		return
	}
	go func() {
		defer t.wg.Done()
		if delay > 0 {
			timer := time.NewTimer(delay)
			select {
			case <-timer.C:
			case <-p.ctx.Done():
				timer.Stop()
			}
		}
		err := p.streamSnapshot(m, body)
		// Free the slot before reporting: raft may send the next snapshot
		// as soon as it hears about this one.
		p.endSnapshot()
		if err != nil {
			t.metrics.snapshotsFailed.Add(1)
			t.log.Warn("sending snapshot failed", "to", fmt.Sprintf("%x", p.id),
				"index", m.GetSnapshot().GetMetadata().GetIndex(), "err", err)
			t.rep.snapshot(p.id, raft.SnapshotFailure)
			return
		}
		t.metrics.snapshotsSent.Add(1)
		t.rep.snapshot(p.id, raft.SnapshotFinish)
	}()
}

// Stop closes every stream, waits for the transport's goroutines (including
// Handler calls in progress, whose ctx is cancelled) and delivers the pending
// reports. It does not stop the grpc.Server given to Register; incoming
// calls after Stop are refused. Stop is idempotent.
func (t *Transport) Stop() {
	t.mu.Lock()
	if t.mu.stopped {
		t.mu.Unlock()
		return
	}
	t.mu.stopped = true
	t.mu.peers = map[uint64]*peer{}
	t.mu.Unlock()
	t.cancel()
	t.wg.Wait()
}
