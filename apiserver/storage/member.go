package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/kelson-dev/kelson/kvstore"
	"github.com/kelson-dev/kelson/raftnode"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// Member is a Store over a store member of this process. It does not own
// the member: Close does nothing to it.
type Member struct {
	Node *raftnode.Node
}

var _ Store = (*Member)(nil)

func (m *Member) Range(ctx context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	resp, err := m.Node.Range(ctx, req)
	if errors.Is(err, kvstore.ErrCompacted) {
		return nil, fmt.Errorf("%w: %v", ErrCompacted, err)
	}
	return resp, err
}

func (m *Member) Txn(ctx context.Context, req *pb.TxnRequest) (*pb.TxnResponse, error) {
	return m.Node.Txn(ctx, req)
}

func (m *Member) Compact(ctx context.Context, rev int64) error {
	_, err := m.Node.Compact(ctx, &pb.CompactionRequest{Revision: rev})
	return err
}

func (m *Member) Close() error { return nil }

// Watch runs one watcher on a stream of its own. The stream is closed
// when ctx is done or Close is called.
func (m *Member) Watch(ctx context.Context, key, end []byte, rev int64) Watch {
	ws := m.Node.NewWatchStream()
	w := &memberWatch{ws: ws, out: make(chan WatchResponse, 16), stop: make(chan struct{})}
	if _, err := ws.Watch(1, kvstore.WatchRequest{Key: key, End: end, StartRev: rev}); err != nil {
		ws.Close()
		w.out <- WatchResponse{Err: fmt.Errorf("%w: %v", ErrWatchEnded, err)}
		close(w.out)
		return w
	}
	go w.pump(ctx)
	return w
}

type memberWatch struct {
	ws   *kvstore.WatchStream
	out  chan WatchResponse
	stop chan struct{}
	once sync.Once
}

func (w *memberWatch) Chan() <-chan WatchResponse { return w.out }
func (w *memberWatch) RequestProgress()           { w.ws.RequestProgress() }
func (w *memberWatch) Close()                     { w.once.Do(func() { close(w.stop) }) }

// pump copies the stream's responses to out until the stream, ctx or
// Close ends it; it owns closing the stream and out.
func (w *memberWatch) pump(ctx context.Context) {
	defer close(w.out)
	defer w.ws.Close()
	send := func(r WatchResponse) bool {
		select {
		case w.out <- r:
			return true
		case <-ctx.Done():
		case <-w.stop:
		}
		return false
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.stop:
			return
		case r, ok := <-w.ws.Chan():
			if !ok {
				send(WatchResponse{Err: fmt.Errorf("%w: the member's store closed", ErrWatchEnded)})
				return
			}
			switch {
			case r.Canceled && r.CompactRevision > 0:
				send(WatchResponse{Err: ErrCompacted, CompactRevision: r.CompactRevision})
				return
			case r.Canceled:
				send(WatchResponse{Err: fmt.Errorf("%w: %s", ErrWatchEnded, r.CancelReason)})
				return
			case r.Created && len(r.Events) == 0:
				continue
			}
			if !send(WatchResponse{Events: r.Events, Revision: r.Revision}) {
				return
			}
		}
	}
}

// ProgressConsistent: a Kelson member's progress reports are exact.
func (m *Member) ProgressConsistent(context.Context) bool { return true }
