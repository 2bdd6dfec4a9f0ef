package raftnode

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kelson-dev/kelson/kvstore"
	authpkg "github.com/kelson-dev/kelson/raftnode/auth"
	"github.com/kelson-dev/kelson/raftnode/transport"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// applyEntries applies committed entries in order. Normal entries go to the
// store in runs (one kvstore.Apply — one Pebble batch, not synced: the raft
// log is the durable truth — per run); conf changes and member attributes
// are applied between runs. Entries the store already holds (index <= its
// applied index, after a restart or a snapshot) are not given to it again.
func (n *Node) applyEntries(ents []*raftpb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	store := n.store.Load()
	storeApplied := store.AppliedIndex()
	var (
		reqs  []*pb.InternalRaftRequest
		ids   []uint64
		runTo uint64
	)
	flush := func() {
		if runTo == 0 {
			return
		}
		start := time.Now()
		results := store.Apply(runTo, reqs, false)
		n.inst.backendCommit.ObserveDuration(time.Since(start))
		for i, r := range results {
			if ids[i] != 0 {
				n.waits.deliver(ids[i], r)
			}
		}
		reqs, ids, runTo = reqs[:0], ids[:0], 0
	}
	for _, e := range ents {
		idx := e.GetIndex()
		switch e.GetType() {
		case raftpb.EntryType_EntryNormal:
			if len(e.GetData()) == 0 {
				if idx > storeApplied {
					runTo = idx // a new leader's empty entry
				}
				break
			}
			req := &pb.InternalRaftRequest{}
			if err := proto.Unmarshal(e.GetData(), req); err != nil {
				// Entries are written by members of this cluster only;
				// skipping one would fork the replicas, so stop.
				return fmt.Errorf("entry %d does not decode: %w", idx, err)
			}
			if req.ClusterMemberAttrSet != nil {
				// Member attributes live in the membership, not the store:
				// re-apply them even when the store is past this entry
				// (after a restart or a snapshot the membership may be
				// older than the store). Setting them is idempotent.
				flush()
				n.applyMemberAttr(req.ClusterMemberAttrSet)
				if idx > storeApplied {
					runTo = idx
				}
				if req.Header != nil {
					n.waits.deliver(req.Header.ID, kvstore.Result{Resp: &pb.MemberListResponse{}})
				}
				continue
			}
			if idx <= storeApplied {
				break // the store has it already
			}
			if authpkg.IsAuthRequest(req) {
				// Auth changes are applied between runs, at their place in
				// the log, and persisted with their index.
				flush()
				res, err := n.auth.Apply(idx, req, func(w []kvstore.AuxWrite) error {
					_, err := store.ApplyAux(idx, w, false)
					return err
				})
				if err != nil {
					return err
				}
				runTo = idx // records the index when nothing was written
				n.waits.deliver(req.GetHeader().GetID(), res)
				continue
			}
			if st := n.auth.State(); st.Enabled {
				// Writes are checked here, on every member alike, with the
				// identity and auth revision the proposal carries. Lease
				// checks read the lease's keys: apply the run first.
				if st.NeedsLeaseKeys(req) {
					flush()
				}
				if err := st.CheckRequest(req, leaseKeysOf(store)); err != nil {
					runTo = idx
					n.waits.deliver(req.GetHeader().GetID(), kvstore.Result{Err: err})
					continue
				}
			}
			runTo = idx
			reqs = append(reqs, req)
			ids = append(ids, req.GetHeader().GetID())
		case raftpb.EntryType_EntryConfChange:
			flush()
			cc := &raftpb.ConfChange{}
			if err := proto.Unmarshal(e.GetData(), cc); err != nil {
				return fmt.Errorf("conf change entry %d does not decode: %w", idx, err)
			}
			if err := n.applyConfChange(idx, cc); err != nil {
				return err
			}
			if idx > storeApplied {
				runTo = idx // record the applied index in the store
			}
		default:
			return fmt.Errorf("entry %d has unsupported type %v", idx, e.GetType())
		}
	}
	flush()
	last := ents[len(ents)-1].GetIndex()
	n.applied.Store(last)
	n.appliedWait.advance(last)
	return nil
}

// applyConfChange applies a membership change to raft, the member list and
// the transport, and persists the member list.
func (n *Node) applyConfChange(index uint64, cc *raftpb.ConfChange) error {
	var m Member
	if len(cc.GetContext()) > 0 {
		if err := json.Unmarshal(cc.GetContext(), &m); err != nil {
			return fmt.Errorf("conf change %d context: %w", index, err)
		}
	}
	id := cc.GetNodeId()
	n.mu.RLock()
	ms := n.members.clone()
	n.mu.RUnlock()
	reject := ""
	switch cc.GetType() {
	case raftpb.ConfChangeType_ConfChangeAddNode, raftpb.ConfChangeType_ConfChangeAddLearnerNode:
		if ms.Removed[id] {
			reject = "member was removed before"
		}
	case raftpb.ConfChangeType_ConfChangeRemoveNode, raftpb.ConfChangeType_ConfChangeUpdateNode:
		if _, ok := ms.Members[id]; !ok {
			reject = "member not found"
		}
	}
	if reject != "" {
		// Keep raft's configuration in step with the member list: apply
		// nothing, and tell the proposer why.
		n.confSt = n.rn.ApplyConfChange(&raftpb.ConfChange{})
		n.waits.deliver(cc.GetId(), kvstore.Result{Err: fmt.Errorf("%w: %s", ErrMemberNotFound, reject)})
		return nil
	}
	n.confSt = n.rn.ApplyConfChange(cc)
	switch cc.GetType() {
	case raftpb.ConfChangeType_ConfChangeAddNode, raftpb.ConfChangeType_ConfChangeAddLearnerNode:
		learner := cc.GetType() == raftpb.ConfChangeType_ConfChangeAddLearnerNode
		if old, ok := ms.Members[id]; ok {
			old.IsLearner = learner // promotion (or a replay)
		} else {
			m.ID, m.IsLearner = id, learner
			ms.Members[id] = &m
		}
		if id != n.id {
			if err := n.tr.AddPeer(id, ms.Members[id].PeerURLs); err != nil && !errors.Is(err, transport.ErrPeerExists) {
				n.log.Warn("cannot add peer", "member", fmt.Sprintf("%x", id), "err", err)
			}
		}
	case raftpb.ConfChangeType_ConfChangeRemoveNode:
		delete(ms.Members, id)
		ms.Removed[id] = true
		if id != n.id {
			n.tr.RemovePeer(id)
		} else {
			// Stop only after a while: as leader, the messages that tell
			// the others this removal committed are still on their way.
			n.log.Warn("this member was removed from the cluster; it stops serving shortly")
			go func() {
				select {
				case <-time.After(2 * n.cfg.ElectionTimeout):
				case <-n.stopc:
				}
				n.ReportRemoved()
			}()
		}
	case raftpb.ConfChangeType_ConfChangeUpdateNode:
		ms.Members[id].PeerURLs = m.PeerURLs
		if id != n.id {
			if err := n.tr.UpdatePeer(id, m.PeerURLs); err != nil {
				n.log.Warn("cannot update peer", "member", fmt.Sprintf("%x", id), "err", err)
			}
		}
	}
	if err := n.rlog.SetMeta(metaMembership, ms.encode()); err != nil {
		return fmt.Errorf("persist membership: %w", err)
	}
	n.mu.Lock()
	n.members = ms
	n.mu.Unlock()
	n.waits.deliver(cc.GetId(), kvstore.Result{Resp: &pb.MemberListResponse{}})
	return nil
}

// applyMemberAttr records the name and client URLs a member published.
func (n *Node) applyMemberAttr(req *membershippb.ClusterMemberAttrSetRequest) {
	// Only the loop changes members, so the read-copy-write needs no
	// lock held across the disk write.
	n.mu.RLock()
	ms := n.members.clone()
	n.mu.RUnlock()
	m, ok := ms.Members[req.GetMember_ID()]
	if !ok {
		return
	}
	m.Name = req.GetMemberAttributes().GetName()
	m.ClientURLs = append([]string(nil), req.GetMemberAttributes().GetClientUrls()...)
	if err := n.rlog.SetMeta(metaMembership, ms.encode()); err != nil {
		n.log.Warn("persist member attributes", "err", err)
	}
	n.mu.Lock()
	n.members = ms
	n.mu.Unlock()
}

// maybeSnapshot takes a raft snapshot every SnapshotCount applied entries
// and compacts the log behind it. The snapshot holds only the membership;
// the store's data is streamed when a follower needs it. The store is
// synced first, so the entries the log drops are durable in the store.
func (n *Node) maybeSnapshot() error {
	applied := n.applied.Load()
	if applied < n.snapIndex+n.cfg.SnapshotCount {
		return nil
	}
	if err := n.store.Load().Sync(); err != nil {
		return fmt.Errorf("sync store before snapshot: %w", err)
	}
	n.mu.RLock()
	data := n.members.encode()
	n.mu.RUnlock()
	if _, err := n.rlog.CreateSnapshot(applied, n.confSt, data); err != nil {
		return fmt.Errorf("create snapshot at %d: %w", applied, err)
	}
	n.snapIndex = applied
	keep := n.cfg.catchUpEntries
	if keep == 0 {
		keep = defaultCatchUpEntries
	}
	first, err := n.rlog.FirstIndex()
	if err != nil {
		return fmt.Errorf("raft log first index: %w", err)
	}
	if applied > keep && applied-keep >= first { // else nothing to drop yet
		if err := n.rlog.Compact(applied - keep); err != nil {
			n.log.Warn("log compaction failed", "index", applied-keep, "err", err)
		}
	}
	n.log.Debug("raft snapshot", "index", applied)
	return nil
}

// installSnapshot replaces the store with the one restored from the
// leader's stream (staged by ReceiveSnapshot) and adopts the snapshot's
// membership.
func (n *Node) installSnapshot(snap *raftpb.Snapshot) error {
	idx := snap.GetMetadata().GetIndex()
	n.stagedMu.Lock()
	dir, ok := n.staged[idx]
	for i, d := range n.staged { // this and any older staged stores are done
		if i <= idx {
			if d != dir {
				os.RemoveAll(d)
			}
			delete(n.staged, i)
		}
	}
	n.stagedMu.Unlock()
	if !ok {
		return fmt.Errorf("snapshot %d arrived without its store data", idx)
	}
	s, err := kvstore.Open(dir, n.storeOpts)
	if err != nil {
		return fmt.Errorf("open snapshot store: %w", err)
	}
	if err := switchStoreDir(n.cfg.DataDir, filepath.Base(dir)); err != nil {
		s.Close()
		return fmt.Errorf("make snapshot store live: %w", err)
	}
	old, oldDir := n.store.Swap(s), filepath.Join(n.cfg.DataDir, n.storeDir)
	n.storeDir = filepath.Base(dir)
	go func() { // Close waits for the old store's readers
		old.Close()
		os.RemoveAll(oldDir)
	}()
	ms, err := decodeMembership(snap.GetData())
	if err != nil {
		return err
	}
	if err := n.rlog.SetMeta(metaMembership, ms.encode()); err != nil {
		return err
	}
	n.mu.Lock()
	n.members = ms
	n.mu.Unlock()
	if err := n.auth.Load(s); err != nil {
		return err
	}
	n.confSt = snap.GetMetadata().GetConfState()
	n.syncPeers(ms)
	n.snapIndex = idx
	n.applied.Store(idx)
	n.appliedWait.advance(idx)
	n.log.Info("installed snapshot from leader", "index", idx, "store_applied", s.AppliedIndex(), "revision", s.Rev())
	return nil
}

// syncPeers makes the transport's peers match the membership.
func (n *Node) syncPeers(ms *membership) {
	for _, m := range ms.Members {
		if m.ID == n.id {
			continue
		}
		if err := n.tr.AddPeer(m.ID, m.PeerURLs); err != nil {
			if uerr := n.tr.UpdatePeer(m.ID, m.PeerURLs); uerr != nil {
				n.log.Warn("cannot reach member at its peer URLs", "member", fmt.Sprintf("%x", m.ID), "urls", m.PeerURLs, "err", uerr)
			}
		}
	}
	for id := range ms.Removed {
		n.tr.RemovePeer(id) // not a peer (any more): an error says just that
	}
}

// leaseKeysOf returns the keys attached to a lease in store, for the auth
// checks of writes that revoke a lease or attach keys to one.
func leaseKeysOf(store *kvstore.Store) authpkg.LeaseKeys {
	return func(id int64) [][]byte {
		le, err := store.Lease(id)
		if err != nil {
			return nil
		}
		return le.Keys
	}
}
