package transport

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// The wire protocol. There is no .proto file: the service is declared by
// hand and every gRPC message is raw bytes (codec "kelson-raw").
//
//	service kelson.raft.Peer {
//	  // A byte stream of records: uvarint length, proto-encoded raftpb.Message.
//	  // A record may span gRPC messages. The server replies once, at the end.
//	  rpc Messages(stream bytes) returns (bytes);
//	  // Frames, each starting with a kind byte:
//	  //   'H' proto-encoded MsgSnap message (first frame, once)
//	  //   'D' body bytes (any number of frames)
//	  //   'T' trailer: body length (8 bytes BE), CRC-32C of the body (4 bytes BE)
//	  // The server replies with one empty message once the application has
//	  // consumed the body.
//	  rpc Snapshot(stream bytes) returns (bytes);
//	}
//
// Both calls carry request metadata naming the protocol version, the
// cluster, the sender and the intended recipient; the server checks them
// and answers with its own cluster and member ID in the response header
// before reading anything.
const (
	serviceName    = "kelson.raft.Peer"
	methodMessages = "/" + serviceName + "/Messages"
	methodSnapshot = "/" + serviceName + "/Snapshot"
	codecName      = "kelson-raw"

	mdVersion = "kelson-peer-version"
	mdCluster = "kelson-cluster-id"
	mdFrom    = "kelson-from"
	mdTo      = "kelson-to"
	mdMember  = "kelson-member-id"

	protocolVersion = "1"

	frameHeader  = 'H'
	frameData    = 'D'
	frameTrailer = 'T'
)

func init() {
	// A codec is looked up by content-subtype on the server, so it must be
	// registered; the registration is immutable and touches no other codec.
	encoding.RegisterCodecV2(rawCodec{})
}

// rawCodec passes bytes through: Marshal takes []byte, Unmarshal fills a
// *[]byte with a copy the caller owns.
type rawCodec struct{}

func (rawCodec) Name() string { return codecName }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch b := v.(type) {
	case []byte:
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	case *[]byte:
		return mem.BufferSlice{mem.SliceBuffer(*b)}, nil
	}
	return nil, fmt.Errorf("%w: codec %s cannot marshal %T", ErrProtocol, codecName, v)
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("%w: codec %s cannot unmarshal into %T", ErrProtocol, codecName, v)
	}
	*p = data.Materialize()
	return nil
}

// peerService is what serviceDesc needs from its implementation.
type peerService interface {
	serveMessages(grpc.ServerStream) error
	serveSnapshot(grpc.ServerStream) error
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*peerService)(nil),
	Streams: []grpc.StreamDesc{
		{
			StreamName:    "Messages",
			Handler:       func(srv any, s grpc.ServerStream) error { return srv.(peerService).serveMessages(s) },
			ClientStreams: true,
		},
		{
			StreamName:    "Snapshot",
			Handler:       func(srv any, s grpc.ServerStream) error { return srv.(peerService).serveSnapshot(s) },
			ClientStreams: true,
		},
	},
	Metadata: "kelson/raftnode/transport",
}

// requestMD is the metadata of a call from this member to member to.
func (t *Transport) requestMD(to uint64) metadata.MD {
	return metadata.Pairs(
		mdVersion, protocolVersion,
		mdCluster, strconv.FormatUint(t.cfg.ClusterID, 16),
		mdFrom, strconv.FormatUint(t.cfg.ID, 16),
		mdTo, strconv.FormatUint(to, 16),
	)
}

// mdUint reads a hex ID from metadata.
func mdUint(md metadata.MD, key string) (uint64, error) {
	v := md.Get(key)
	if len(v) != 1 {
		return 0, fmt.Errorf("%w: metadata %q missing", ErrProtocol, key)
	}
	n, err := strconv.ParseUint(v[0], 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: metadata %q=%q is not a hex ID", ErrProtocol, key, v[0])
	}
	return n, nil
}

// tlsPrefix marks an address dialled with TLS (an https:// peer URL).
const tlsPrefix = "https://"

// dialAddr turns a peer URL ("http://host:port", or a bare "host:port")
// into the address to dial; an https:// URL keeps its scheme
// ("https://host:port"), which open strips and dials with TLS.
func dialAddr(raw string) (string, error) {
	hostport := raw
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			return "", fmt.Errorf("%w: %q: %v", ErrInvalidURL, raw, err)
		}
		switch u.Scheme {
		case "http", "https":
		default:
			return "", fmt.Errorf("%w: %q: scheme %q, want http or https", ErrInvalidURL, raw, u.Scheme)
		}
		if u.Path != "" && u.Path != "/" {
			return "", fmt.Errorf("%w: %q: a peer URL has no path", ErrInvalidURL, raw)
		}
		hostport = u.Host
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || host == "" || port == "" {
		return "", fmt.Errorf("%w: %q: want http://host:port", ErrInvalidURL, raw)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("%w: %q: bad port %q", ErrInvalidURL, raw, port)
	}
	if strings.HasPrefix(raw, "https://") {
		return tlsPrefix + hostport, nil
	}
	return hostport, nil
}

// appendRecord appends m as one record (uvarint length, then the message).
func appendRecord(buf []byte, m *raftpb.Message) ([]byte, error) {
	n := proto.Size(m)
	buf = binary.AppendUvarint(buf, uint64(n))
	start := len(buf)
	buf, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(buf, m)
	if err != nil {
		return nil, fmt.Errorf("transport: encode %v to %x: %w", m.GetType(), m.GetTo(), err)
	}
	if len(buf)-start != n {
		return nil, fmt.Errorf("transport: encode %v to %x: size changed while encoding (message modified after Send?)", m.GetType(), m.GetTo())
	}
	return buf, nil
}

// recordReader splits the byte stream carried by a sequence of frames into
// records. A record may span frames; a frame may hold many records.
type recordReader struct {
	next func() ([]byte, error) // the next frame; io.EOF at a clean end
	max  int                    // largest record accepted
	cur  []byte                 // unread part of the current frame
}

// fill makes cur non-empty, or returns next's error.
func (r *recordReader) fill() error {
	for len(r.cur) == 0 {
		f, err := r.next()
		if err != nil {
			return err
		}
		r.cur = f
	}
	return nil
}

// read returns the next record. It returns io.EOF only at a record boundary;
// a stream that ends inside a record is ErrProtocol. The returned slice may
// alias a frame and is valid until the next call.
func (r *recordReader) read() ([]byte, error) {
	// Length: a uvarint of at most 10 bytes, possibly split across frames.
	var length uint64
	for shift, i := uint(0), 0; ; shift, i = shift+7, i+1 {
		if err := r.fill(); err != nil {
			if err == io.EOF && i > 0 {
				return nil, fmt.Errorf("%w: stream ended inside a length prefix", ErrProtocol)
			}
			return nil, err
		}
		b := r.cur[0]
		r.cur = r.cur[1:]
		if i == 9 && b > 1 {
			return nil, fmt.Errorf("%w: length prefix overflows", ErrProtocol)
		}
		length |= uint64(b&0x7f) << shift
		if b < 0x80 {
			break
		}
	}
	if length > uint64(r.max) {
		return nil, fmt.Errorf("%w: message of %d bytes exceeds the limit of %d (Config.MaxMessageBytes)", ErrProtocol, length, r.max)
	}
	n := int(length)
	if err := r.fill(); err != nil && n > 0 {
		if err == io.EOF {
			err = fmt.Errorf("%w: stream ended inside a message", ErrProtocol)
		}
		return nil, err
	}
	if len(r.cur) >= n { // the common case: the record is within the frame
		rec := r.cur[:n:n]
		r.cur = r.cur[n:]
		return rec, nil
	}
	// Spanning frames: grow as bytes arrive, never trusting the prefix for
	// the allocation.
	rec := make([]byte, 0, min(n, 1<<20))
	for len(rec) < n {
		if err := r.fill(); err != nil {
			if err == io.EOF {
				err = fmt.Errorf("%w: stream ended inside a message", ErrProtocol)
			}
			return nil, err
		}
		k := min(n-len(rec), len(r.cur))
		rec = append(rec, r.cur[:k]...)
		r.cur = r.cur[k:]
	}
	return rec, nil
}

// trailer is the last frame of a snapshot stream.
func trailer(n uint64, crc uint32) []byte {
	b := make([]byte, 13)
	b[0] = frameTrailer
	binary.BigEndian.PutUint64(b[1:], n)
	binary.BigEndian.PutUint32(b[9:], crc)
	return b
}

func parseTrailer(f []byte) (n uint64, crc uint32, err error) {
	if len(f) != 13 || f[0] != frameTrailer {
		return 0, 0, fmt.Errorf("%w: malformed snapshot trailer (%d bytes)", ErrProtocol, len(f))
	}
	return binary.BigEndian.Uint64(f[1:]), binary.BigEndian.Uint32(f[9:]), nil
}
