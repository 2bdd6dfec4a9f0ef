package transport

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// accept checks the metadata of an incoming call, counts the call in t.wg
// and answers the handshake. On success the caller must call t.wg.Done.
func (t *Transport) accept(s grpc.ServerStream) (from uint64, err error) {
	defer func() {
		if err != nil {
			t.metrics.streamsRejected.Add(1)
			t.log.Warn("refused a peer stream", "err", err)
		}
	}()
	md, _ := metadata.FromIncomingContext(s.Context())
	if v := md.Get(mdVersion); len(v) != 1 || v[0] != protocolVersion {
		return 0, status.Errorf(codes.FailedPrecondition, "%v: peer protocol version %q, this member speaks %q", ErrProtocol, v, protocolVersion)
	}
	cluster, err := mdUint(md, mdCluster)
	if err != nil {
		return 0, status.Error(codes.InvalidArgument, err.Error())
	}
	if cluster != t.cfg.ClusterID {
		return 0, status.Errorf(codes.FailedPrecondition, "%v: this member (%x) is in cluster %x, the sender in cluster %x",
			ErrClusterMismatch, t.cfg.ID, t.cfg.ClusterID, cluster)
	}
	to, err := mdUint(md, mdTo)
	if err != nil {
		return 0, status.Error(codes.InvalidArgument, err.Error())
	}
	if to != t.cfg.ID {
		return 0, status.Errorf(codes.FailedPrecondition, "%v: the sender meant member %x, this is member %x; check its peer URLs",
			ErrMemberMismatch, to, t.cfg.ID)
	}
	if from, err = mdUint(md, mdFrom); err != nil {
		return 0, status.Error(codes.InvalidArgument, err.Error())
	}
	if t.cfg.IsRemoved != nil && t.cfg.IsRemoved(from) {
		return 0, status.Errorf(codes.PermissionDenied, "%v: member %x", ErrMemberRemoved, from)
	}
	t.mu.Lock()
	stopped := t.mu.stopped
	if !stopped {
		t.wg.Add(1)
	}
	t.mu.Unlock()
	if stopped {
		return 0, status.Error(codes.Unavailable, ErrStopped.Error())
	}
	if err := s.SendHeader(metadata.Pairs(
		mdCluster, strconv.FormatUint(t.cfg.ClusterID, 16),
		mdMember, strconv.FormatUint(t.cfg.ID, 16),
	)); err != nil {
		t.wg.Done()
		return 0, err
	}
	return from, nil
}

// inbound moves frames from a server stream to the handler's goroutine, so
// that the handler stops waiting when the transport stops (a blocked
// RecvMsg cannot be interrupted otherwise).
type inbound struct {
	frames chan inFrame
	stop   <-chan struct{}
}

type inFrame struct {
	b   []byte
	err error
}

// newInbound starts the receiving goroutine; it ends with the call, which
// ends when the handler returns.
func newInbound(s grpc.ServerStream, stop <-chan struct{}) *inbound {
	in := &inbound{frames: make(chan inFrame), stop: stop}
	go func() {
		for {
			var b []byte
			err := s.RecvMsg(&b)
			select {
			case in.frames <- inFrame{b, err}:
			case <-s.Context().Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return in
}

// next returns the next frame; io.EOF when the sender closed the stream.
func (in *inbound) next() ([]byte, error) {
	select { // a stop wins over frames that are ready
	case <-in.stop:
		return nil, ErrStopped
	default:
	}
	select {
	case f := <-in.frames:
		return f.b, f.err
	case <-in.stop:
		return nil, ErrStopped
	}
}

// handlerCtx is cancelled when the call ends or the transport stops.
func (t *Transport) handlerCtx(s grpc.ServerStream) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(s.Context())
	stop := context.AfterFunc(t.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// toStatus maps a receive-side error to a gRPC status for the sender.
func toStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrStopped):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, ErrProtocol):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, ErrMemberMismatch):
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Unknown, err.Error())
}

func (t *Transport) serveMessages(s grpc.ServerStream) error {
	from, err := t.accept(s)
	if err != nil {
		return err
	}
	defer t.wg.Done()
	ctx, cancel := t.handlerCtx(s)
	defer cancel()
	in := newInbound(s, t.ctx.Done())
	rr := recordReader{next: in.next, max: t.cfg.MaxMessageBytes}
	recvBytes := t.metrics.receivedFrom(from)
	for {
		rec, err := rr.read()
		if err == io.EOF {
			return s.SendMsg([]byte{})
		}
		if err != nil {
			t.log.Warn("message stream from peer failed", "peer", fmt.Sprintf("%x", from), "err", err)
			return toStatus(err)
		}
		m := &raftpb.Message{}
		if err := proto.Unmarshal(rec, m); err != nil {
			err = fmt.Errorf("%w: undecodable message from %x: %v", ErrProtocol, from, err)
			t.log.Warn("message stream from peer failed", "err", err)
			return toStatus(err)
		}
		if err := t.checkIncoming(m, from); err != nil {
			t.log.Warn("message stream from peer failed", "err", err)
			return toStatus(err)
		}
		if t.cfg.IsRemoved != nil && t.cfg.IsRemoved(from) {
			// Removed after this stream opened (e.g. while cut off).
			return status.Errorf(codes.PermissionDenied, "%v: member %x", ErrMemberRemoved, from)
		}
		t.metrics.received.Add(1)
		recvBytes.Add(uint64(len(rec)))
		if err := t.h.Process(ctx, m); err != nil {
			return status.Errorf(codes.Unavailable, "transport: member %x did not take %v: %v", t.cfg.ID, m.GetType(), err)
		}
	}
}

// checkIncoming verifies that m is meant for us and comes from the stream's
// sender.
func (t *Transport) checkIncoming(m *raftpb.Message, from uint64) error {
	if m.GetTo() != t.cfg.ID || m.GetFrom() != from {
		return fmt.Errorf("%w: %v from %x to %x on the stream from %x to %x",
			ErrMemberMismatch, m.GetType(), m.GetFrom(), m.GetTo(), from, t.cfg.ID)
	}
	return nil
}

func (t *Transport) serveSnapshot(s grpc.ServerStream) error {
	from, err := t.accept(s)
	if err != nil {
		return err
	}
	defer t.wg.Done()
	ctx, cancel := t.handlerCtx(s)
	defer cancel()
	in := newInbound(s, t.ctx.Done())
	f, err := in.next()
	if err == io.EOF {
		err = fmt.Errorf("%w: snapshot stream without a header", ErrProtocol)
	}
	if err != nil {
		return toStatus(err)
	}
	if len(f) == 0 || f[0] != frameHeader {
		return toStatus(fmt.Errorf("%w: snapshot stream does not start with a header frame", ErrProtocol))
	}
	m := &raftpb.Message{}
	if err := proto.Unmarshal(f[1:], m); err != nil {
		return toStatus(fmt.Errorf("%w: undecodable snapshot message from %x: %v", ErrProtocol, from, err))
	}
	if m.GetType() != raftpb.MsgSnap {
		return toStatus(fmt.Errorf("%w: snapshot stream carries %v, want MsgSnap", ErrProtocol, m.GetType()))
	}
	if err := t.checkIncoming(m, from); err != nil {
		return toStatus(err)
	}
	body := &snapBody{next: in.next}
	if err := t.h.ReceiveSnapshot(ctx, m, body); err != nil {
		t.log.Warn("snapshot from peer not installed", "peer", fmt.Sprintf("%x", from), "err", err)
		if errors.Is(err, ErrProtocol) || errors.Is(err, ErrStopped) {
			return toStatus(err)
		}
		return status.Errorf(codes.Aborted, "transport: member %x did not install the snapshot: %v", t.cfg.ID, err)
	}
	if !body.done {
		err := fmt.Errorf("transport: member %x returned before reading the whole snapshot body", t.cfg.ID)
		t.log.Error("snapshot handler did not consume the body", "err", err)
		return status.Error(codes.Internal, err.Error())
	}
	t.metrics.snapshotsRecvd.Add(1)
	return s.SendMsg([]byte{})
}

// snapBody is the body of an incoming snapshot: the data frames, checked
// against the trailer before io.EOF.
type snapBody struct {
	next func() ([]byte, error)
	cur  []byte
	n    uint64
	crc  uint32
	err  error // sticky; io.EOF after a verified trailer
	done bool  // the trailer was verified and the stream ended
}

func (b *snapBody) Read(p []byte) (int, error) {
	for len(b.cur) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		b.err = b.advance()
	}
	n := copy(p, b.cur)
	b.cur = b.cur[n:]
	return n, nil
}

// advance reads the next frame into cur; it returns io.EOF after the
// trailer verified and the sender closed the stream.
func (b *snapBody) advance() error {
	f, err := b.next()
	if err == io.EOF {
		return fmt.Errorf("%w: snapshot stream ended without a trailer after %d bytes", ErrProtocol, b.n)
	}
	if err != nil {
		return err
	}
	if len(f) == 0 {
		return fmt.Errorf("%w: empty snapshot frame", ErrProtocol)
	}
	switch f[0] {
	case frameData:
		b.cur = f[1:]
		b.n += uint64(len(b.cur))
		b.crc = crc32.Update(b.crc, crcTable, b.cur)
		return nil
	case frameTrailer:
		n, crc, err := parseTrailer(f)
		if err != nil {
			return err
		}
		if n != b.n || crc != b.crc {
			return fmt.Errorf("%w: snapshot body is %d bytes with CRC %08x, the sender sent %d bytes with CRC %08x",
				ErrProtocol, b.n, b.crc, n, crc)
		}
		if _, err := b.next(); err != io.EOF {
			if err == nil {
				err = fmt.Errorf("%w: frames after the snapshot trailer", ErrProtocol)
			}
			return err
		}
		b.done = true
		return io.EOF
	}
	return fmt.Errorf("%w: unknown snapshot frame kind %q", ErrProtocol, f[0])
}
