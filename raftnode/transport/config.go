package transport

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// Config configures a Transport. The zero value of every optional field
// means its documented default; New calls EnsureDefaults and Validate.
type Config struct {
	// ID is the local member's raft ID. Required (non-zero).
	ID uint64
	// ClusterID identifies the cluster. Streams from members of another
	// cluster are refused with ErrClusterMismatch. Required (non-zero).
	ClusterID uint64
	// Logger receives the transport's logs. Default: slog.Default().
	Logger *slog.Logger
	// DialTimeout bounds connecting to a peer and the handshake that opens
	// a stream. Default: 1s.
	DialTimeout time.Duration
	// QueueLen is the number of messages queued per peer. When a peer's
	// queue is full, Send drops the message and reports the peer
	// unreachable. Default: 4096.
	QueueLen int
	// ChunkBytes is the largest gRPC message the transport sends: a batch
	// of raft messages is cut into chunks of at most this size, and so is
	// a snapshot body. It must stay below the receiving gRPC server's
	// receive limit (4 MiB unless raised). Default: 1 MiB. Max: 3 MiB.
	ChunkBytes int
	// MaxMessageBytes is the largest single raft message accepted from a
	// peer; a larger length prefix is a protocol error. It bounds the memory
	// a bad peer can make this member allocate. Default: 64 MiB.
	MaxMessageBytes int
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts to a peer; the wait doubles from MinBackoff after each failed
	// attempt. Defaults: 50ms and 2s.
	MinBackoff, MaxBackoff time.Duration
	// Filter, if set, is called by Send and SendSnapshot for every message
	// before it is queued; it exists for fault injection in tests. drop
	// discards the message silently (as a lossy network would; a dropped
	// MsgSnap is reported as a failed snapshot). delay > 0 queues the
	// message after that long, so it can overtake or be overtaken by
	// others: delays reorder. Filter must be safe for concurrent use and
	// must not block. Default: nil (deliver everything at once).
	Filter func(m *raftpb.Message) (drop bool, delay time.Duration)
	// TLS is the client configuration for peers whose URL is https://:
	// the certificate this member presents and the CAs it verifies peers
	// against (grpc sets ServerName to the host of the URL). Cloned per
	// connection; not modified. Default nil: verify against the system
	// roots, present no certificate. http:// peers are dialled in plain
	// text whatever this says, as etcd does.
	TLS *tls.Config
	// IsRemoved, if set, tells whether a member ID was removed from the
	// cluster: streams from it are refused with ErrMemberRemoved, so that a
	// member removed while cut off learns it when it reconnects. Default:
	// nil (refuse no one).
	IsRemoved func(id uint64) bool
}

const maxChunkBytes = 3 << 20

// EnsureDefaults fills zero fields with their defaults and returns c.
func (c *Config) EnsureDefaults() *Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = time.Second
	}
	if c.QueueLen == 0 {
		c.QueueLen = 4096
	}
	if c.ChunkBytes == 0 {
		c.ChunkBytes = 1 << 20
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 64 << 20
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = 50 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 2 * time.Second
	}
	return c
}

// Validate reports a field that cannot work. Call it after EnsureDefaults.
func (c *Config) Validate() error {
	switch {
	case c.ID == 0:
		return fmt.Errorf("%w: ID must be non-zero", ErrInvalidConfig)
	case c.ClusterID == 0:
		return fmt.Errorf("%w: ClusterID must be non-zero", ErrInvalidConfig)
	case c.Logger == nil:
		return fmt.Errorf("%w: Logger is nil (call EnsureDefaults)", ErrInvalidConfig)
	case c.DialTimeout < 0:
		return fmt.Errorf("%w: DialTimeout %v is negative", ErrInvalidConfig, c.DialTimeout)
	case c.QueueLen < 1:
		return fmt.Errorf("%w: QueueLen %d, want >= 1", ErrInvalidConfig, c.QueueLen)
	case c.ChunkBytes < 1 || c.ChunkBytes > maxChunkBytes:
		return fmt.Errorf("%w: ChunkBytes %d, want 1..%d", ErrInvalidConfig, c.ChunkBytes, maxChunkBytes)
	case c.MaxMessageBytes < 1:
		return fmt.Errorf("%w: MaxMessageBytes %d, want >= 1", ErrInvalidConfig, c.MaxMessageBytes)
	case c.MinBackoff < 0 || c.MaxBackoff < c.MinBackoff:
		return fmt.Errorf("%w: backoff [%v, %v] is not a valid range", ErrInvalidConfig, c.MinBackoff, c.MaxBackoff)
	}
	return nil
}
