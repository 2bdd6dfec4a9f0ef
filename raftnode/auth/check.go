package auth

import (
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// The checks below decide, against one State, whether ai may make a
// request, with etcd's errors and in etcd's order:
//
//  1. auth disabled: everything is allowed;
//  2. no identity (no token, no certificate): ErrUserEmpty;
//  3. credentials checked against an older auth revision than st's:
//     ErrAuthOldRevision (the client authenticates again);
//  4. the root role may do everything;
//  5. otherwise the user's merged permissions must cover the whole range:
//     ErrPermissionDenied.
//
// Reads are checked where the member serves them; writes where every member
// applies them, with the identity and revision the proposal carries, so that
// a permission revoked between proposal and apply is honoured everywhere
// alike.

// LeaseKeys returns the keys attached to a lease (none when there is no
// such lease).
type LeaseKeys func(id int64) [][]byte

func (st *State) opPermitted(ai Info, key, rangeEnd []byte, typ authpb.Permission_Type) error {
	if !st.Enabled || ai.internal() {
		return nil
	}
	if ai.Revision == 0 {
		return ErrUserEmpty
	}
	if ai.Revision < st.Revision {
		return ErrAuthOldRevision
	}
	u := st.users[ai.User]
	if u == nil {
		return ErrPermissionDenied
	}
	if u.hasRole(RootRole) {
		return nil
	}
	if st.perms[ai.User].allowed(key, rangeEnd, typ) {
		return nil
	}
	return ErrPermissionDenied
}

// CheckRange: may ai read key/rangeEnd?
func (st *State) CheckRange(ai Info, key, rangeEnd []byte) error {
	return st.opPermitted(ai, key, rangeEnd, authpb.READ)
}

// CheckPut: may ai write key?
func (st *State) CheckPut(ai Info, key []byte) error {
	return st.opPermitted(ai, key, nil, authpb.WRITE)
}

// CheckDelete: may ai delete key/rangeEnd?
func (st *State) CheckDelete(ai Info, key, rangeEnd []byte) error {
	return st.opPermitted(ai, key, rangeEnd, authpb.WRITE)
}

// CheckAdmin: is ai a root-role user (or auth disabled)? Unlike the key
// checks it does not look at the revision, as etcd.
func (st *State) CheckAdmin(ai Info) error {
	if !st.Enabled || ai.internal() {
		return nil
	}
	if ai.User == "" {
		return ErrUserEmpty
	}
	u := st.users[ai.User]
	if u == nil {
		return ErrUserNotFound
	}
	if !u.hasRole(RootRole) {
		return ErrPermissionDenied
	}
	return nil
}

// RequireInfo: with auth enabled, ai must be someone (calls that need no
// particular permission: status, member list, lease grant...).
func (st *State) RequireInfo(ai Info) error {
	if !st.Enabled || ai.internal() {
		return nil
	}
	if ai.User == "" && ai.Revision == 0 {
		return ErrUserEmpty
	}
	return nil
}

// CheckLeasePuts: may ai write every key attached to the lease? (Needed to
// revoke it, or to attach another key to it.) Admins may.
func (st *State) CheckLeasePuts(ai Info, keys [][]byte) error {
	if len(keys) == 0 || st.CheckAdmin(ai) == nil {
		return nil
	}
	for _, k := range keys {
		if err := st.CheckPut(ai, k); err != nil {
			return err
		}
	}
	return nil
}

// CheckLeaseReads: may ai read every key attached to the leases? Admins may.
func (st *State) CheckLeaseReads(ai Info, keys [][]byte) error {
	if len(keys) == 0 || st.CheckAdmin(ai) == nil {
		return nil
	}
	for _, k := range keys {
		if err := st.CheckRange(ai, k, nil); err != nil {
			return err
		}
	}
	return nil
}

func (st *State) checkPutReq(ai Info, r *pb.PutRequest, lk LeaseKeys) error {
	if err := st.CheckPut(ai, r.Key); err != nil {
		return err
	}
	if r.Lease != 0 && lk != nil && st.CheckAdmin(ai) != nil {
		// Attaching a key to a lease whose keys ai may not write would let
		// ai revoke (delete) them through this key's lease.
		if err := st.CheckLeasePuts(ai, lk(r.Lease)); err != nil {
			return err
		}
	}
	if r.PrevKv {
		return st.CheckRange(ai, r.Key, nil)
	}
	return nil
}

func (st *State) checkDeleteReq(ai Info, r *pb.DeleteRangeRequest) error {
	if err := st.CheckDelete(ai, r.Key, r.RangeEnd); err != nil {
		return err
	}
	if r.PrevKv {
		return st.CheckRange(ai, r.Key, r.RangeEnd)
	}
	return nil
}

// CheckTxn: may ai run txn? Every key it names counts, on both branches
// and in nested txns, whichever branch will run: the compares (read), the
// ranges (read), the puts and deletes (write, and read with prev_kv), and
// the leases the puts attach to.
func (st *State) CheckTxn(ai Info, txn *pb.TxnRequest, lk LeaseKeys) error {
	if !st.Enabled {
		return nil
	}
	for _, c := range txn.Compare {
		if err := st.CheckRange(ai, c.Key, c.RangeEnd); err != nil {
			return err
		}
	}
	for _, ops := range [][]*pb.RequestOp{txn.Success, txn.Failure} {
		for _, op := range ops {
			var err error
			switch r := op.GetRequest().(type) {
			case *pb.RequestOp_RequestRange:
				if r.RequestRange != nil {
					err = st.CheckRange(ai, r.RequestRange.Key, r.RequestRange.RangeEnd)
				}
			case *pb.RequestOp_RequestPut:
				if r.RequestPut != nil {
					err = st.checkPutReq(ai, r.RequestPut, lk)
				}
			case *pb.RequestOp_RequestDeleteRange:
				if r.RequestDeleteRange != nil {
					err = st.checkDeleteReq(ai, r.RequestDeleteRange)
				}
			case *pb.RequestOp_RequestTxn:
				if r.RequestTxn != nil {
					err = st.CheckTxn(ai, r.RequestTxn, lk)
				}
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckRequest decides a replicated key-value request at apply time, with
// the identity its header carries: Put, DeleteRange, Txn and LeaseRevoke
// are checked; everything else (lease grants and checkpoints, compaction,
// member attributes) passes. lk gives the lease keys as of this point of
// the log.
func (st *State) CheckRequest(req *pb.InternalRaftRequest, lk LeaseKeys) error {
	if !st.Enabled {
		return nil
	}
	ai := InfoFromHeader(req.Header)
	switch {
	case req.Put != nil:
		return st.checkPutReq(ai, req.Put, lk)
	case req.DeleteRange != nil:
		return st.checkDeleteReq(ai, req.DeleteRange)
	case req.Txn != nil:
		return st.CheckTxn(ai, req.Txn, lk)
	case req.LeaseRevoke != nil:
		if ai.internal() {
			return nil
		}
		if err := st.RequireInfo(ai); err != nil {
			return err
		}
		if lk == nil || st.CheckAdmin(ai) == nil {
			return nil
		}
		return st.CheckLeasePuts(ai, lk(req.LeaseRevoke.ID))
	}
	return nil
}

// NeedsLeaseKeys reports whether checking req against st needs the keys of
// a lease (a put with a lease, a lease revoke, by someone without the root
// role), so that the caller can make the store current first.
func (st *State) NeedsLeaseKeys(req *pb.InternalRaftRequest) bool {
	if !st.Enabled || st.CheckAdmin(InfoFromHeader(req.Header)) == nil {
		return false
	}
	switch {
	case req.Put != nil:
		return req.Put.Lease != 0
	case req.LeaseRevoke != nil:
		return true
	case req.Txn != nil:
		return txnPutsLease(req.Txn)
	}
	return false
}

func txnPutsLease(t *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{t.Success, t.Failure} {
		for _, op := range ops {
			switch r := op.GetRequest().(type) {
			case *pb.RequestOp_RequestPut:
				if r.RequestPut != nil && r.RequestPut.Lease != 0 {
					return true
				}
			case *pb.RequestOp_RequestTxn:
				if r.RequestTxn != nil && txnPutsLease(r.RequestTxn) {
					return true
				}
			}
		}
	}
	return false
}
