package v3rpc

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maintenanceServer serves etcdserverpb.Maintenance.
type maintenanceServer struct {
	pb.UnimplementedMaintenanceServer
	*server
}

// Auth, as etcd: Status and listing alarms need a caller; Defragment,
// Hash, HashKV, Snapshot, MoveLeader, Downgrade and changing alarms the
// root role.

func (s *maintenanceServer) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	ctx, err := s.requireCaller(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := s.b.Status(ctx)
	if err != nil {
		return nil, toGRPCError(err)
	}
	if resp == nil {
		resp = &pb.StatusResponse{}
	}
	resp.Header = s.header(resp.Header)
	return resp, nil
}

// Defragment succeeds without doing anything: Pebble reclaims space by
// itself (compactions), there is nothing to defragment.
func (s *maintenanceServer) Defragment(ctx context.Context, _ *pb.DefragmentRequest) (*pb.DefragmentResponse, error) {
	if _, err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	return &pb.DefragmentResponse{Header: s.headerAt(0)}, nil
}

// Hash answers with HashKV's hash of the history at the current revision:
// there is no other "whole backend" hash in Kelson.
func (s *maintenanceServer) Hash(ctx context.Context, _ *pb.HashRequest) (*pb.HashResponse, error) {
	ctx, err := s.requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	h, err := s.b.HashKV(ctx, 0)
	if err != nil {
		return nil, toGRPCError(err)
	}
	if h == nil {
		h = &pb.HashKVResponse{}
	}
	return &pb.HashResponse{Header: s.header(h.Header), Hash: h.Hash}, nil
}

func (s *maintenanceServer) HashKV(ctx context.Context, req *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	ctx, err := s.requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := s.b.HashKV(ctx, req.Revision)
	if err != nil {
		return nil, toGRPCError(err)
	}
	if resp == nil {
		resp = &pb.HashKVResponse{}
	}
	resp.Header = s.header(resp.Header)
	return resp, nil
}

func (s *maintenanceServer) Alarm(ctx context.Context, req *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	var err error
	if req.GetAction() == pb.AlarmRequest_GET {
		ctx, err = s.requireCaller(ctx)
	} else {
		ctx, err = s.requireAdmin(ctx)
	}
	if err != nil {
		return nil, err
	}
	resp, err := s.b.Alarm(ctx, req)
	if err != nil {
		return nil, toGRPCError(err)
	}
	if resp == nil {
		resp = &pb.AlarmResponse{}
	}
	resp.Header = s.header(resp.Header)
	return resp, nil
}

func (s *maintenanceServer) MoveLeader(ctx context.Context, req *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	ctx, err := s.requireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.b.MoveLeader(ctx, req.TargetID); err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.MoveLeaderResponse{Header: s.headerAt(0)}, nil
}

func (s *maintenanceServer) Downgrade(ctx context.Context, _ *pb.DowngradeRequest) (*pb.DowngradeResponse, error) {
	if _, err := s.requireAdmin(ctx); err != nil {
		return nil, err
	}
	return nil, status.Error(codes.Unimplemented, "kelson: cluster downgrade is not supported")
}

// Snapshot stream layout. etcdctl and clientv3's snapshot.Save accept a
// download only if its size is 32 bytes past a multiple of 512 (etcd's
// bbolt file is page-aligned, and a sha256 of it follows), so the stream is
//
//	the store's snapshot (kvstore.Store.Snapshot's format), N bytes
//	zero padding to a multiple of 512 bytes (0..511 bytes)
//	sha256 of everything above, 32 bytes, alone in the last message
//
// kvstore.Restore stops at the end of its own format and ignores what
// follows, so a saved file can be restored directly; a careful restore
// checks the sha256 first (strip the last 32 bytes, hash the rest).
const (
	snapshotChunk     = 64 << 10
	snapshotAlign     = 512
	SnapshotHashBytes = sha256.Size
)

// errSnapshotAbandoned stops the backend's writer when the client is gone.
var errSnapshotAbandoned = errors.New("v3rpc: snapshot stream ended")

// Snapshot streams a consistent copy of the store in chunks of 64 KiB. The
// first message carries the header (its revision is the current one when
// the snapshot starts) and the server version (from Status; clients use it
// to tell which version can restore the file). remaining_bytes is a lower
// bound: the store streams its snapshot without knowing its size up front,
// so each message counts only the bytes already read that follow it, plus
// the checksum; it is 0 on the last message only.
func (s *maintenanceServer) Snapshot(_ *pb.SnapshotRequest, stream pb.Maintenance_SnapshotServer) error {
	ctx, err := s.requireAdmin(stream.Context())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hdr := s.headerAt(0)
	version := ""
	if st, err := s.b.Status(ctx); err == nil && st != nil {
		version = st.Version
	}

	pr, pw := io.Pipe()
	done := make(chan struct{})
	goSafe(s.log, "/etcdserverpb.Maintenance/Snapshot", func(err error) {
		pw.CloseWithError(err)
		close(done)
	}, func() {
		err := s.b.Snapshot(ctx, pw)
		pw.CloseWithError(err) // nil: the reader sees io.EOF
		close(done)
	})
	defer func() {
		pr.CloseWithError(errSnapshotAbandoned)
		<-done
	}()

	h := sha256.New()
	first := true
	send := func(blob []byte, remaining int) error {
		resp := &pb.SnapshotResponse{Header: hdr, RemainingBytes: uint64(remaining), Blob: blob}
		if first {
			resp.Version, first = version, false
		}
		return stream.Send(resp)
	}
	cur, next := make([]byte, snapshotChunk), make([]byte, snapshotChunk)
	n, err := readChunk(pr, cur)
	var total int
	for err == nil {
		// Read ahead one chunk to know whether cur is the last data chunk.
		var m int
		m, err = readChunk(pr, next)
		if err != nil {
			break
		}
		if m == 0 {
			break
		}
		h.Write(cur[:n])
		total += n
		if serr := send(cur[:n], m+SnapshotHashBytes); serr != nil {
			return serr
		}
		cur, next, n = next, cur, m
	}
	if err != nil {
		return toGRPCError(err)
	}
	// cur[:n] is the last data chunk: pad it and send it, then the checksum.
	total += n
	last := cur[:n]
	if pad := (snapshotAlign - total%snapshotAlign) % snapshotAlign; pad > 0 {
		last = append(last, make([]byte, pad)...)
	}
	h.Write(last)
	if err := send(last, SnapshotHashBytes); err != nil {
		return err
	}
	return send(h.Sum(nil), 0)
}

// readChunk fills buf as far as the reader allows; it returns the count
// and a nil error at the end of the data (count < len(buf), maybe 0).
func readChunk(r io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(r, buf)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return n, nil
	}
	return n, err
}
