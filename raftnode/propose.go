package raftnode

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kelson-dev/kelson/kvstore"
	authpkg "github.com/kelson-dev/kelson/raftnode/auth"
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
	if ai, ok := authpkg.FromContext(ctx); ok {
		ai.SetHeader(req.Header) // checked where every member applies it
	}
	data, err := marshalRequest(req)
	if err != nil {
		return nil, err
	}
	if len(data) > n.cfg.MaxRequestBytes {
		return nil, ErrRequestTooLarge
	}
	r, err := n.wait(ctx, id, func() error { return n.proposeEntry(data) })
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
	r, err := n.wait(ctx, id, func() error {
		return n.onLoop(func() error { return n.rn.ProposeConfChange(cc) })
	})
	if err != nil {
		return err
	}
	return r.Err
}

// wait registers id, calls propose (which hands the entry to the raft loop
// and returns raft's verdict) and waits for the entry to be applied here. A
// proposal raft drops (no leader known yet, or a leadership transfer)
// entered no log, so it is retried once a leader is known, until the
// request timeout.
func (n *Node) wait(ctx context.Context, id uint64, propose func() error) (r kvstore.Result, err error) {
	n.inst.proposalsPending.Add(1)
	defer func() {
		n.inst.proposalsPending.Add(-1)
		if err != nil {
			n.inst.proposalsFailed.Add(1)
		}
	}()
	ch := n.waits.register(id)
	if err := n.proposeUntilAccepted(ctx, propose); err != nil {
		n.waits.cancel(id)
		return kvstore.Result{}, err
	}
	timer := time.NewTimer(n.requestTimeout)
	defer timer.Stop()
	leaderChanged := n.leaderChangeC()
	var grace <-chan time.Time
	for {
		select {
		case r := <-ch:
			return r, nil
		case <-leaderChanged:
			// The entry may still commit under the new leader (it usually
			// does within an election); past that, it was most likely lost
			// with the old leader.
			leaderChanged = nil
			g := time.NewTimer(2 * n.cfg.ElectionTimeout)
			defer g.Stop()
			grace = g.C
		case <-grace:
			n.waits.cancel(id)
			return kvstore.Result{}, ErrLeaderChanged
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
}

// appliedCommitted waits until this member has applied everything
// committed when it is called: the leader serves lease renewals and
// time-to-live from its own store, which may lag what a follower already
// applied and acknowledged (the leader sends commits before applying them).
func (n *Node) appliedCommitted(ctx context.Context) error {
	var commit uint64
	if err := n.onLoop(func() error { commit = n.rn.BasicStatus().GetCommit(); return nil }); err != nil {
		return err
	}
	select {
	case <-n.appliedWait.wait(commit):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return n.stopped()
	}
}

// linearizable waits until a read started now can be served locally.
func (n *Node) linearizable(ctx context.Context) error {
	if err := n.stopped(); err != nil {
		return err
	}
	return n.reads.wait(ctx)
}

// onLoop runs fn on the raft loop and returns its error.
func (n *Node) onLoop(fn func() error) error {
	res := make(chan error, 1)
	if !n.do(func() { res <- fn() }) {
		return n.stopped()
	}
	select {
	case err := <-res:
		return err
	case <-n.done:
		return n.stopped()
	}
}

func marshalRequest(req *pb.InternalRaftRequest) ([]byte, error) {
	data, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", kvstore.ErrInvalidRequest, err)
	}
	return data, nil
}

func (n *Node) proposeUntilAccepted(ctx context.Context, propose func() error) error {
	err := propose()
	if !errors.Is(err, raft.ErrProposalDropped) {
		return err // the common case: no timers needed
	}
	deadline := time.NewTimer(n.requestTimeout)
	defer deadline.Stop()
	retry := time.NewTicker(n.cfg.HeartbeatInterval)
	defer retry.Stop()
	for {
		select {
		case <-retry.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			if n.leader.Load() == 0 {
				return ErrNoLeader
			}
			return ErrLeaderChanged
		case <-n.done:
			return n.stopped()
		}
		if err := propose(); !errors.Is(err, raft.ErrProposalDropped) {
			return err
		}
	}
}
