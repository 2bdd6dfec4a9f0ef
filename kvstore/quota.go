package kvstore

import pb "go.etcd.io/etcd/api/v3/etcdserverpb"

// QuotaExceeded reports whether the store is past Options.QuotaBytes (by its
// last measured size; see Size).
func (s *Store) QuotaExceeded() bool {
	return s.opts.QuotaBytes > 0 && s.diskUsage.Load() > s.opts.QuotaBytes
}

// AddsData reports whether req may grow the store: a put anywhere in it, or
// a lease grant. Deletes, revokes, reads and compactions never do, so they
// stay allowed past the quota — they are how an operator gets back under it.
func AddsData(req *pb.InternalRaftRequest) bool {
	switch {
	case req.Put != nil, req.LeaseGrant != nil:
		return true
	case req.Txn != nil:
		return txnHasPut(req.Txn, 0)
	}
	return false
}

func txnHasPut(t *pb.TxnRequest, depth int) bool {
	if depth > maxTxnDepth {
		return true
	}
	for _, branch := range [][]*pb.RequestOp{t.Success, t.Failure} {
		for _, op := range branch {
			switch r := op.GetRequest().(type) {
			case *pb.RequestOp_RequestPut:
				return true
			case *pb.RequestOp_RequestTxn:
				if r.RequestTxn != nil && txnHasPut(r.RequestTxn, depth+1) {
					return true
				}
			}
		}
	}
	return false
}
