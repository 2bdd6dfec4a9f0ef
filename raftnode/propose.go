package raftnode

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kelson-dev/kelson/kvstore"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// initReqIDs seeds request IDs with the member ID and the clock, so IDs
// stay unique on this member across restarts: a replayed entry from before
// a restart never matches a waiter of a new proposal.
func (n *Node) initReqIDs() {
	n.reqID.Store((n.id&0xffff)<<48 | (uint64(time.Now().UnixMilli())&(1<<40-1))<<8)
}

func (n *Node) nextReqID() uint64 { return n.reqID.Add(1) }

// propose replicates req and returns its result once applied on this
// member. The quota is checked here, on the proposing member, so that every
// replica applies the same entries alike.
func (n *Node) propose(ctx context.Context, req *pb.InternalRaftRequest) (proto.Message, error) {
	if err := n.stopped(); err != nil {
		return nil, err
	}
	store := n.store.Load()
	if err := store.Validate(req); err != nil {
		return nil, err
	}
	if kvstore.AddsData(req) && store.QuotaExceeded() {
		return nil, kvstore.ErrNoSpace
	}
	id := n.nextReqID()
	req.Header = &pb.RequestHeader{ID: id}
	data, err := marshalRequest(req)
	if err != nil {
		return nil, err
	}
	if len(data) > n.cfg.MaxRequestBytes {
		return nil, ErrRequestTooLarge
	}
	r, err := n.wait(ctx, id, func() error { return n.rn.Propose(data) })
	if err != nil {
		return nil, err
	}
	return r.Resp, r.Err
}

// proposeConfChange replicates a membership change and waits for it.
func (n *Node) proposeConfChange(ctx context.Context, cc *raftpb.ConfChange) error {
	if err := n.stopped(); err != nil {
		return err
	}
	id := n.nextReqID()
	cc.Id = new(id)
	r, err := n.wait(ctx, id, func() error { return n.rn.ProposeConfChange(cc) })
	if err != nil {
		return err
	}
	return r.Err
}

// wait registers id, runs propose on the raft loop and waits for the
// entry to be applied here.
func (n *Node) wait(ctx context.Context, id uint64, propose func() error) (kvstore.Result, error) {
	ch := n.waits.register(id)
	ok := n.do(func() {
		if err := propose(); err != nil {
			if errors.Is(err, raft.ErrProposalDropped) {
				err = ErrNoLeader
				if n.leader.Load() != 0 {
					err = ErrLeaderChanged
				}
			}
			n.waits.deliver(id, kvstore.Result{Err: err})
		}
	})
	if !ok {
		n.waits.cancel(id)
		return kvstore.Result{}, n.stopped()
	}
	timer := time.NewTimer(n.requestTimout)
	defer timer.Stop()
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		n.waits.cancel(id)
		return kvstore.Result{}, ctx.Err()
	case <-timer.C:
		n.waits.cancel(id)
		return kvstore.Result{}, ErrTimeout
	case <-n.done:
		n.waits.cancel(id)
		return kvstore.Result{}, n.stopped()
	}
}

// linearizable waits until a read started now can be served locally.
func (n *Node) linearizable(ctx context.Context) error {
	if err := n.stopped(); err != nil {
		return err
	}
	return n.reads.wait(ctx)
}

func marshalRequest(req *pb.InternalRaftRequest) ([]byte, error) {
	data, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", kvstore.ErrInvalidRequest, err)
	}
	return data, nil
}
