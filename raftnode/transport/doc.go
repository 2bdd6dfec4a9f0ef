// Package transport carries raft messages and snapshots between the members
// of a Kelson cluster over gRPC (plain TCP for now).
//
// # Model
//
// Every member serves the hand-declared gRPC service kelson.raft.Peer
// (Register) on its peer listener and dials every peer it knows (AddPeer).
// Messages travel on one long-lived client stream per peer ("Messages");
// each snapshot travels on a call of its own ("Snapshot"). All gRPC messages
// are raw bytes (codec "kelson-raw"); wire.go documents the format.
//
//	node loop ─ Send(msgs) ─▶ per-peer queue ─▶ writer goroutine ─▶ Messages stream ─▶ peer: Handler.Process
//	          └ SendSnapshot(m, body) ──────▶ snapshot goroutine ─▶ Snapshot call   ─▶ peer: Handler.ReceiveSnapshot(m, body)
//	Handler.ReportUnreachable / ReportSnapshot ◀─ reporter goroutine ◀─ drops, failures, snapshot outcomes
//
// Outgoing, per peer: Send never blocks. It puts each message on the peer's
// bounded queue (Config.QueueLen); when the queue is full the message is
// dropped and the peer reported unreachable. One writer goroutine owns the
// peer's stream: it takes everything queued, encodes it as one batch of
// length-prefixed messages and writes it in chunks of at most
// Config.ChunkBytes. When the stream cannot be opened or breaks, the writer
// waits with exponential backoff (Config.MinBackoff..MaxBackoff), dropping
// and reporting what is queued meanwhile, and reconnects, trying the peer's
// URLs in turn. raft retransmits what was lost.
//
// Snapshots: SendSnapshot streams the MsgSnap message, then the body read
// from an io.Reader in chunks, then a trailer with the body's length and
// CRC-32C. Neither side holds the body in memory: the receiver hands it to
// Handler.ReceiveSnapshot as an io.Reader that yields io.EOF only once the
// trailer matched. The sender reports SnapshotFinish once the receiver's
// handler returned nil, and SnapshotFailure otherwise. After a successful
// ReceiveSnapshot the transport tells raft nothing: the application installs
// the body and steps m itself.
//
// Every call opens with a handshake: the caller names the protocol version,
// cluster, sender and recipient in request metadata; the server refuses a
// call from another cluster (ErrClusterMismatch) or meant for another member
// (ErrMemberMismatch) before reading anything, and otherwise answers with
// its own cluster and member ID, which the caller checks in turn.
//
// # Invariants
//
//   - Messages to one peer arrive in the order they were given to Send,
//     or not at all (unless Config.Filter delays some, to test reordering).
//   - Send and SendSnapshot never block and never call the Handler; the
//     report callbacks run on one transport goroutine, in order.
//   - Every SendSnapshot ends in exactly one ReportSnapshot (unless the
//     transport stops first) and closes its body.
//   - Nothing a peer sends can make this member panic or allocate more than
//     Config.MaxMessageBytes for one message: malformed input ends the
//     stream with ErrProtocol (gRPC code InvalidArgument).
//   - After Stop returns, no goroutine of the transport runs and no Handler
//     method is called.
//
// # Fault injection
//
// Config.Filter sees every outgoing message and may drop it or delay it;
// delayed messages are queued later, so they reorder. A test network that
// partitions members is a Filter that drops by m.To / m.From.
//
// # Lock order
//
// Transport.mu, peer.mu and reporter.mu are never held together. No lock is
// held while sending on a channel that can block, calling the Handler or
// doing IO.
//
// # Example
//
//	tr, err := transport.New(transport.Config{ID: id, ClusterID: cid}, node)
//	if err != nil { ... }
//	srv := grpc.NewServer()
//	tr.Register(srv)
//	go srv.Serve(peerListener)
//	tr.AddPeer(2, []string{"http://10.0.0.2:2380"})
//	tr.AddPeer(3, []string{"http://10.0.0.3:2380"})
//	...
//	// in the raft loop, after persisting the Ready:
//	tr.Send(rd.Messages)                  // MsgSnap: tr.SendSnapshot(m, storeSnapshotReader)
//	...
//	srv.Stop()
//	tr.Stop()
package transport
