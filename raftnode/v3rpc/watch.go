package v3rpc

import (
	"context"
	"errors"
	"github.com/kelson-dev/kelson/raftnode/auth"
	"io"
	"sync"

	"github.com/kelson-dev/kelson/kvstore"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// invalidWatchID is the watch_id of a response that belongs to no watcher:
// the answer to a progress request (clientv3 broadcasts it to every watcher
// of the stream) and the answer to a create request that failed.
const invalidWatchID = -1

// watchServer serves etcdserverpb.Watch: one bidirectional stream per
// client connection (clientv3 multiplexes every watch of a context on one),
// backed by one kvstore.WatchStream.
type watchServer struct {
	pb.UnimplementedWatchServer
	*server
}

// watchSession is the state of one Watch RPC. Two goroutines: the receive
// loop (client requests -> kvstore stream) and the handler's goroutine,
// the only one that calls stream.Send. Lock order: mu only.
type watchSession struct {
	*server
	ws   *kvstore.WatchStream
	ctx  context.Context
	ctrl chan *pb.WatchResponse // responses made here (failed creates)
	errc chan error             // first fatal error of the receive loop

	mu   sync.Mutex
	cond *sync.Cond // signalled when created gains an entry or recvDone
	// created queues, per watch ID, the fragment flag of each successful
	// Watch call in call order; the send loop pops one per Created response
	// (kvstore sends exactly one per successful Watch, in order per ID).
	created map[int64][]bool
	// fragment holds the IDs of live watchers that asked for fragmented
	// responses; owned by the send loop.
	fragment map[int64]bool
	recvDone bool
}

func (s *watchServer) Watch(stream pb.Watch_WatchServer) error {
	ws := s.b.NewWatchStream()
	defer ws.Close()
	ws.SetProgressInterval(s.opts.WatchProgressInterval)
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	w := &watchSession{
		server:   s.server,
		ws:       ws,
		ctx:      ctx,
		ctrl:     make(chan *pb.WatchResponse, 16),
		errc:     make(chan error, 1),
		created:  make(map[int64][]bool),
		fragment: make(map[int64]bool),
	}
	w.cond = sync.NewCond(&w.mu)
	goSafe(s.log, "/etcdserverpb.Watch/Watch", w.fail, func() { w.recvLoop(stream) })
	return w.sendLoop(stream)
}

// fail records the receive loop's fatal error; the first one wins.
func (w *watchSession) fail(err error) {
	w.mu.Lock()
	w.recvDone = true
	w.cond.Broadcast()
	w.mu.Unlock()
	select {
	case w.errc <- err:
	default:
	}
}

func (w *watchSession) recvLoop(stream pb.Watch_WatchServer) {
	defer func() {
		w.mu.Lock()
		w.recvDone = true
		w.cond.Broadcast()
		w.mu.Unlock()
	}()
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			// The client closed its side; keep sending until it goes away.
			return
		}
		if err != nil {
			w.fail(err)
			return
		}
		switch r := req.GetRequestUnion().(type) {
		case *pb.WatchRequest_CreateRequest:
			if r.CreateRequest != nil && !w.create(r.CreateRequest) {
				return
			}
		case *pb.WatchRequest_CancelRequest:
			if r.CancelRequest != nil {
				// An unknown ID is ignored, as etcd does: the watcher may
				// have been canceled by the server (compaction) already.
				// The kvstore stream sends the Canceled response.
				_ = w.ws.Cancel(r.CancelRequest.WatchId)
			}
		case *pb.WatchRequest_ProgressRequest:
			w.ws.RequestProgress()
		}
		// Unknown request kinds are ignored, as etcd does.
	}
}

// create starts a watcher. A request the store refuses (bad range,
// duplicate ID, negative revision) gets one response that is both created
// and canceled, with watch_id -1 and the reason, as etcd sends: clientv3
// reports the reason as the watch channel's error. It returns false when
// the session is over.
func (w *watchSession) create(c *pb.WatchCreateRequest) bool {
	req := kvstore.WatchRequest{
		Key:            c.Key,
		End:            c.RangeEnd,
		StartRev:       c.StartRevision,
		PrevKV:         c.PrevKv,
		ProgressNotify: c.ProgressNotify,
	}
	for _, f := range c.Filters {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			req.NoPut = true
		case pb.WatchCreateRequest_NODELETE:
			req.NoDelete = true
		}
	}
	var id int64
	err := w.permitted(c)
	if err == nil {
		id, err = w.ws.Watch(c.WatchId, req)
	}
	if errors.Is(err, kvstore.ErrClosed) {
		return false
	}
	if err == nil {
		w.mu.Lock()
		w.created[id] = append(w.created[id], c.Fragment)
		w.cond.Broadcast()
		w.mu.Unlock()
		return true
	}
	resp := &pb.WatchResponse{
		Header:       w.headerAt(0),
		WatchId:      invalidWatchID,
		Created:      true,
		Canceled:     true,
		CancelReason: cancelReason(err),
	}
	select {
	case w.ctrl <- resp:
		return true
	case <-w.ctx.Done():
		return false
	}
}

// sendLoop forwards the kvstore stream's responses and the session's own
// until the client goes away, the receive side fails, the store closes or
// the server shuts down.
func (w *watchSession) sendLoop(stream pb.Watch_WatchServer) error {
	for {
		select {
		case r, ok := <-w.ws.Chan():
			if !ok {
				// The store is closing: tell the client to go elsewhere.
				return rpctypes.ErrGRPCStopped
			}
			if err := w.send(stream, r); err != nil {
				return err
			}
		case resp := <-w.ctrl:
			if err := stream.Send(resp); err != nil {
				return err
			}
		case err := <-w.errc:
			return err
		case <-w.opts.Shutdown:
			return rpctypes.ErrGRPCStopped
		case <-w.ctx.Done():
			return rpctypes.ErrGRPCWatchCanceled
		}
	}
}

// send translates one kvstore response and sends it, in fragments when the
// watcher asked for that and it exceeds MaxRequestBytes.
func (w *watchSession) send(stream pb.Watch_WatchServer, r kvstore.WatchResponse) error {
	frag := false
	switch {
	case r.Created:
		frag = w.takeCreated(r.WatchID)
		if frag {
			w.fragment[r.WatchID] = true
		}
	case r.Canceled:
		delete(w.fragment, r.WatchID)
	default:
		frag = w.fragment[r.WatchID]
	}
	resp := &pb.WatchResponse{
		Header:          w.headerAt(r.Revision),
		WatchId:         r.WatchID,
		Created:         r.Created,
		Canceled:        r.Canceled,
		CompactRevision: r.CompactRevision,
		CancelReason:    r.CancelReason,
		Events:          r.Events,
	}
	if !frag || len(r.Events) < 2 {
		return stream.Send(resp)
	}
	for _, part := range fragmentResponse(resp, w.opts.MaxRequestBytes) {
		if err := stream.Send(part); err != nil {
			return err
		}
	}
	return nil
}

// takeCreated pops the fragment flag of the Watch call that created id. The
// Created response may overtake the receive loop's bookkeeping by a few
// instructions (the store sends it as soon as Watch has queued it), so it
// waits for it; the receive loop is then inside that Watch call, which
// does not block.
func (w *watchSession) takeCreated(id int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.created[id]) == 0 && !w.recvDone {
		w.cond.Wait()
	}
	q := w.created[id]
	if len(q) == 0 {
		return false
	}
	frag := q[0]
	if len(q) == 1 {
		delete(w.created, id)
	} else {
		w.created[id] = q[1:]
	}
	return frag
}

// watchEventsField is WatchResponse.events' field number.
const watchEventsField = 11

// fragmentResponse splits resp's events over responses of at most limit
// bytes each where possible (a single event larger than limit travels
// alone). Every part but the last has Fragment set; clientv3 joins them.
// Parts share resp's header and events (read-only).
func fragmentResponse(resp *pb.WatchResponse, limit int) []*pb.WatchResponse {
	if len(resp.Events) < 2 || proto.Size(resp) <= limit {
		return []*pb.WatchResponse{resp}
	}
	part := func(from, to int, more bool) *pb.WatchResponse {
		return &pb.WatchResponse{
			Header:          resp.Header,
			WatchId:         resp.WatchId,
			Created:         resp.Created,
			Canceled:        resp.Canceled,
			CompactRevision: resp.CompactRevision,
			CancelReason:    resp.CancelReason,
			Fragment:        more,
			Events:          resp.Events[from:to:to],
		}
	}
	base := proto.Size(part(0, 0, true))
	var out []*pb.WatchResponse
	start, size := 0, base
	for i, ev := range resp.Events {
		sz := protowire.SizeTag(watchEventsField) + protowire.SizeBytes(proto.Size(ev))
		if i > start && size+sz > limit {
			out = append(out, part(start, i, true))
			start, size = i, base
		}
		size += sz
	}
	return append(out, part(start, len(resp.Events), false))
}

// permitted checks a watch's range when it is created (as etcd: events are
// not checked one by one afterwards), with the stream's credentials.
func (w *watchSession) permitted(c *pb.WatchCreateRequest) error {
	ai, st, err := w.caller(w.ctx)
	if err != nil {
		return err
	}
	return st.CheckRange(ai, c.Key, c.RangeEnd)
}

// cancelReason words a refused create as etcd does: auth failures by their
// etcd error message (any other permission problem is "permission
// denied"), the store's refusals by their own message.
func cancelReason(err error) string {
	var ae *auth.Error
	if !errors.As(err, &ae) {
		return err.Error()
	}
	switch {
	case errors.Is(err, auth.ErrInvalidAuthToken):
		return rpctypes.ErrGRPCInvalidAuthToken.Error()
	case errors.Is(err, auth.ErrAuthOldRevision):
		return rpctypes.ErrGRPCAuthOldRevision.Error()
	case errors.Is(err, auth.ErrUserEmpty):
		return rpctypes.ErrGRPCUserEmpty.Error()
	}
	return rpctypes.ErrGRPCPermissionDenied.Error()
}
