package transport

import "errors"

// Sentinel errors. Callers test them with errors.Is; the transport wraps them
// with context using %w. Errors that cross the wire arrive as gRPC statuses
// whose message starts with the sentinel's text.
var (
	// ErrInvalidConfig: Config.Validate rejected a field.
	ErrInvalidConfig = errors.New("transport: invalid config")
	// ErrInvalidURL: a peer URL is not "http://host:port" (or "host:port").
	ErrInvalidURL = errors.New("transport: invalid peer URL")
	// ErrPeerExists: AddPeer for an ID that is already a peer; use UpdatePeer.
	ErrPeerExists = errors.New("transport: peer already exists")
	// ErrUnknownPeer: UpdatePeer or RemovePeer for an ID that is not a peer.
	ErrUnknownPeer = errors.New("transport: unknown peer")
	// ErrStopped: the transport has been stopped.
	ErrStopped = errors.New("transport: stopped")
	// ErrClusterMismatch: a peer belongs to another cluster. Check that every
	// member was started with the same initial cluster, or that this member's
	// data directory is not left over from another cluster.
	ErrClusterMismatch = errors.New("transport: cluster ID mismatch")
	// ErrMemberMismatch: a peer sent to a member ID that is not ours, or a
	// message whose sender is not the stream's sender. Check the peer URLs.
	ErrMemberMismatch = errors.New("transport: member ID mismatch")
	// ErrMemberRemoved: the sender was removed from the cluster; its peers
	// refuse it, and it learns so from them (Handler's ReportRemoved).
	ErrMemberRemoved = errors.New("transport: the member has been permanently removed from the cluster")
	// ErrProtocol: a peer sent bytes that are not a valid stream: malformed
	// framing or message, an oversized message, a missing or wrong snapshot
	// trailer.
	ErrProtocol = errors.New("transport: protocol error")
	// ErrSnapshotBusy: a snapshot to the same peer is already being sent.
	ErrSnapshotBusy = errors.New("transport: a snapshot to this peer is in flight")
)
