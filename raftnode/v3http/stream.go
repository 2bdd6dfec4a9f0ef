package v3http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"

	"github.com/kelson-dev/kelson/raftnode/v3rpc"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// streamFunc runs a streaming method over ss.
type streamFunc func(ss grpc.ServerStream) error

// streamRoutes are the gateway's streaming paths. Each runs the service's
// handler on a jsonStream: the same code as a gRPC stream, in process.
func streamRoutes(s *v3rpc.Services) map[string]streamFunc {
	return map[string]streamFunc{
		"/v3/watch": func(ss grpc.ServerStream) error {
			return s.Watch.Watch(&grpc.GenericServerStream[pb.WatchRequest, pb.WatchResponse]{ServerStream: ss})
		},
		"/v3/lease/keepalive": func(ss grpc.ServerStream) error {
			return s.Lease.LeaseKeepAlive(&grpc.GenericServerStream[pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse]{ServerStream: ss})
		},
		"/v3/maintenance/snapshot": func(ss grpc.ServerStream) error {
			req := &pb.SnapshotRequest{}
			if err := ss.RecvMsg(req); err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			return s.Maintenance.Snapshot(req, &grpc.GenericServerStream[pb.SnapshotRequest, pb.SnapshotResponse]{ServerStream: ss})
		},
	}
}

// serveStream runs a streaming method for one HTTP request.
func (g *gateway) serveStream(w http.ResponseWriter, r *http.Request, path string, run streamFunc) {
	rc := http.NewResponseController(w)
	// Read requests (cancels) while writing events: without this, an
	// HTTP/1 body cannot be read once the response began.
	_ = rc.EnableFullDuplex()
	ss := &jsonStream{
		ctx: withToken(r),
		dec: json.NewDecoder(http.MaxBytesReader(w, r.Body, g.maxBody)),
		w:   w,
		rc:  rc,
		log: g.log,
	}
	err := g.runStream(path, run, ss)
	if err == nil || errors.Is(err, errClientGone) {
		return
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if !ss.wrote {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(httpStatus(toStatus(err).Code()))
	}
	_, _ = w.Write(streamErrorChunk(err))
	_ = rc.Flush()
}

func (g *gateway) runStream(path string, run streamFunc, ss *jsonStream) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = recovered(g.log, path, p)
		}
	}()
	return run(ss)
}

// errClientGone: writing to the client failed; nothing more to tell it.
var errClientGone = errors.New("v3http: the client went away")

// jsonStream is a grpc.ServerStream over one HTTP request: RecvMsg decodes
// the next JSON object of the body, SendMsg writes {"result":MSG} and a
// newline, then flushes. The services call RecvMsg from one goroutine and
// SendMsg from one other, as gRPC allows; mu guards the writer anyway.
type jsonStream struct {
	ctx context.Context
	dec *json.Decoder
	w   http.ResponseWriter
	rc  *http.ResponseController
	log *slog.Logger

	recvDone bool // owned by the receiving goroutine

	mu    sync.Mutex
	wrote bool
}

func (s *jsonStream) SetHeader(metadata.MD) error  { return nil }
func (s *jsonStream) SendHeader(metadata.MD) error { return nil }
func (s *jsonStream) SetTrailer(metadata.MD)       {}
func (s *jsonStream) Context() context.Context     { return s.ctx }

// RecvMsg decodes the next request. The end of the body, a body that does
// not decode or a read error end the requests (io.EOF), as the gateway
// half-closes the stream then: the responses go on.
func (s *jsonStream) RecvMsg(m any) error {
	if s.recvDone {
		return io.EOF
	}
	msg, ok := m.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "v3http: %T is not a message", m)
	}
	var raw json.RawMessage
	if err := s.dec.Decode(&raw); err != nil {
		s.recvDone = true
		if !errors.Is(err, io.EOF) {
			s.log.Debug("v3http: stream request does not decode; no more requests", "err", err)
		}
		return io.EOF
	}
	if err := unmarshal(raw, msg); err != nil {
		s.recvDone = true
		s.log.Debug("v3http: stream request does not decode; no more requests", "err", err)
		return io.EOF
	}
	return nil
}

func (s *jsonStream) SendMsg(m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "v3http: %T is not a message", m)
	}
	b, err := marshal(msg)
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	line := make([]byte, 0, len(b)+12)
	line = append(line, `{"result":`...)
	line = append(line, b...)
	line = append(line, "}\n"...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.wrote {
		s.w.Header().Set("Content-Type", "application/json")
		s.wrote = true
	}
	if _, err := s.w.Write(line); err != nil {
		return fmt.Errorf("%w: %v", errClientGone, err)
	}
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("%w: %v", errClientGone, err)
	}
	return nil
}

// recovered logs a panic in a handler and returns the client's error.
func recovered(log *slog.Logger, path string, p any) error {
	log.Error("v3http: recovered from a panic in a handler; this is a bug",
		"path", path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	return status.Errorf(codes.Internal, "kelson: internal error in %s (logged on the server)", path)
}
