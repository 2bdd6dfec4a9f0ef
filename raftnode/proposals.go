package raftnode

import (
	"go.etcd.io/raft/v3/raftpb"
)

// Proposal batching. Client requests reach the raft loop through propc, not
// one closure each through loopc: the loop takes everything queued and
// steps it as one MsgProp. On the leader that is one raft step for the
// batch; on a follower it is one message forwarded to the leader instead of
// one per request. raft accepts or drops a MsgProp whole, so every proposal
// of a batch gets the same Step error.

const (
	// maxProposalBatch bounds the entries stepped as one MsgProp.
	maxProposalBatch = 512
	// maxProposalBatchBytes bounds their data; the first proposal is always
	// taken, however large (the request size limit bounds it).
	maxProposalBatchBytes = 1 << 20
)

// proposal is one normal entry waiting for the loop.
type proposal struct {
	data []byte
	res  chan<- error // buffered (1): the loop never blocks on it
}

// proposeEntry hands data to the raft loop and returns raft's verdict on
// the proposal (nil when it entered the log or was forwarded to a leader).
func (n *Node) proposeEntry(data []byte) error {
	res := make(chan error, 1)
	select {
	case n.propc <- proposal{data: data, res: res}:
	case <-n.done:
		return n.stopped()
	}
	select {
	case err := <-res:
		return err
	case <-n.done:
		return n.stopped()
	}
}

// stepProposals runs on the loop: it steps first and whatever else is
// queued, within the batch bounds, as one MsgProp.
func (n *Node) stepProposals(first proposal) {
	batch := append(n.propBatch[:0], first)
	size := len(first.data)
	for len(batch) < maxProposalBatch && size < maxProposalBatchBytes {
		select {
		case p := <-n.propc:
			batch = append(batch, p)
			size += len(p.data)
			continue
		default:
		}
		break
	}
	ents := make([]raftpb.Entry, len(batch))
	ptrs := make([]*raftpb.Entry, len(batch))
	for i, p := range batch {
		ents[i].Data = p.data
		ptrs[i] = &ents[i]
	}
	err := n.rn.Step(&raftpb.Message{Type: raftpb.MessageType_MsgProp.Enum(), From: new(n.id), Entries: ptrs})
	for _, p := range batch {
		p.res <- err
	}
	clear(batch) // drop the references to data and channels
	n.propBatch = batch[:0]
}
