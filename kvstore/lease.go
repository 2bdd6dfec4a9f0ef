package kvstore

import (
	"bytes"
	"fmt"
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Leases live in the store so that granting, attaching and revoking are
// replicated and deterministic. When a lease expires is not the store's
// business: the caller (raftnode's leader) decides by its clock and applies
// a revoke; checkpoints record remaining TTLs so a new leader can resume
// them.

// Lease returns lease id with its attached keys in key order.
func (s *Store) Lease(id int64) (LeaseInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.leases[id]
	if !ok {
		return LeaseInfo{}, fmt.Errorf("%w: %d", ErrLeaseNotFound, id)
	}
	info := LeaseInfo{ID: id, TTL: l.ttl, RemainingTTL: l.remaining}
	for k := range l.keys {
		info.Keys = append(info.Keys, []byte(k))
	}
	sort.Slice(info.Keys, func(i, j int) bool { return bytes.Compare(info.Keys[i], info.Keys[j]) < 0 })
	return info, nil
}

// Leases returns every lease (without keys) in ID order.
func (s *Store) Leases() []LeaseInfo {
	s.mu.RLock()
	out := make([]LeaseInfo, 0, len(s.leases))
	for id, l := range s.leases {
		out = append(out, LeaseInfo{ID: id, TTL: l.ttl, RemainingTTL: l.remaining})
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *Store) leaseExists(id int64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.leases[id]; !ok {
		return fmt.Errorf("%w: %d", ErrLeaseNotFound, id)
	}
	return nil
}

// moveLeaseLocked detaches key from lease from and attaches it to lease to
// (0 = none). Both leases exist or are 0, checked before the write.
func (s *Store) moveLeaseLocked(key []byte, from, to int64) {
	if from == to {
		return
	}
	if l := s.leases[from]; l != nil {
		delete(l.keys, string(key))
	}
	if l := s.leases[to]; l != nil {
		l.keys[string(key)] = struct{}{}
	}
}

func (a *applier) leaseGrant(req *pb.LeaseGrantRequest) Result {
	s := a.s
	if req.ID == 0 || req.TTL < 1 {
		return Result{Err: fmt.Errorf("%w: id %d ttl %d", ErrLeaseInvalid, req.ID, req.TTL)}
	}
	s.mu.Lock()
	if _, ok := s.leases[req.ID]; ok {
		s.mu.Unlock()
		return Result{Err: fmt.Errorf("%w: %d", ErrLeaseExists, req.ID)}
	}
	s.leases[req.ID] = &lease{ttl: req.TTL, keys: make(map[string]struct{})}
	s.mu.Unlock()
	a.batch.Set(leaseKey(req.ID), appendLeaseRecord(nil, req.TTL, 0), nil)
	return Result{Resp: &pb.LeaseGrantResponse{Header: &pb.ResponseHeader{Revision: s.writeRev}, ID: req.ID, TTL: req.TTL}}
}

// leaseRevoke deletes the lease and, as one write transaction, its keys.
func (a *applier) leaseRevoke(id int64) Result {
	s := a.s
	s.mu.RLock()
	l, ok := s.leases[id]
	var keys []string
	if ok {
		keys = make([]string, 0, len(l.keys))
		for k := range l.keys {
			keys = append(keys, k)
		}
	}
	s.mu.RUnlock()
	if !ok {
		return Result{Err: fmt.Errorf("%w: %d", ErrLeaseNotFound, id)}
	}
	sort.Strings(keys)
	t := &writeTxn{a: a, begin: s.writeRev, rev: s.writeRev + 1}
	for _, k := range keys {
		ki := s.index.get([]byte(k))
		if ki == nil || !ki.live() {
			continue
		}
		var prev *mvccpb.KeyValue
		if a.wantPrev {
			prev = t.mustRead(ki.modified())
		}
		t.tombstone(ki, prev)
	}
	if t.changed {
		s.writeRev = t.rev
		a.revs = append(a.revs, committedRev{rev: t.rev, events: t.events})
	}
	s.mu.Lock()
	delete(s.leases, id)
	s.mu.Unlock()
	a.batch.Delete(leaseKey(id), nil)
	return Result{Resp: &pb.LeaseRevokeResponse{Header: &pb.ResponseHeader{Revision: s.writeRev}}}
}

// leaseCheckpoint records remaining TTLs; unknown leases are skipped (they
// may have been revoked since the checkpoint was proposed).
func (a *applier) leaseCheckpoint(req *pb.LeaseCheckpointRequest) Result {
	s := a.s
	for _, cp := range req.Checkpoints {
		if cp == nil {
			continue
		}
		s.mu.Lock()
		l, ok := s.leases[cp.ID]
		if ok {
			l.remaining = cp.Remaining_TTL
		}
		s.mu.Unlock()
		if ok {
			a.batch.Set(leaseKey(cp.ID), appendLeaseRecord(nil, l.ttl, cp.Remaining_TTL), nil)
		}
	}
	return Result{Resp: &pb.LeaseCheckpointResponse{Header: &pb.ResponseHeader{Revision: s.writeRev}}}
}
