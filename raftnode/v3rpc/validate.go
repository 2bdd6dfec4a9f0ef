package v3rpc

import (
	"net"
	"net/url"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"
)

// Requests are checked here, before they reach the backend, where etcd's
// own gRPC layer checks them, so clients get the same errors for the same
// mistakes. The backend validates again (duplicate keys in a txn, for one,
// are its business).

func checkRange(r *pb.RangeRequest) error {
	if len(r.GetKey()) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(r.SortOrder)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(r.SortTarget)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	return nil
}

func checkPut(r *pb.PutRequest) error {
	switch {
	case len(r.GetKey()) == 0:
		return rpctypes.ErrGRPCEmptyKey
	case r.IgnoreValue && len(r.Value) != 0:
		return rpctypes.ErrGRPCValueProvided
	case r.IgnoreLease && r.Lease != 0:
		return rpctypes.ErrGRPCLeaseProvided
	}
	return nil
}

func checkDelete(r *pb.DeleteRangeRequest) error {
	if len(r.GetKey()) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	return nil
}

// checkTxn checks the sizes of every (nested) txn and each operation.
// Malformed entries (nil operations) are left to the backend, which rejects
// them as invalid requests.
func checkTxn(r *pb.TxnRequest, maxOps int) error {
	if len(r.Compare) > maxOps || len(r.Success) > maxOps || len(r.Failure) > maxOps {
		return rpctypes.ErrGRPCTooManyOps
	}
	for _, branch := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range branch {
			var err error
			switch op := op.GetRequest().(type) {
			case *pb.RequestOp_RequestRange:
				if op.RequestRange != nil {
					err = checkRange(op.RequestRange)
				}
			case *pb.RequestOp_RequestPut:
				if op.RequestPut != nil {
					err = checkPut(op.RequestPut)
				}
			case *pb.RequestOp_RequestDeleteRange:
				if op.RequestDeleteRange != nil {
					err = checkDelete(op.RequestDeleteRange)
				}
			case *pb.RequestOp_RequestTxn:
				if op.RequestTxn != nil {
					err = checkTxn(op.RequestTxn, maxOps)
				}
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// checkSize rejects a write request larger than MaxRequestBytes, as etcd
// does before proposing it.
func (s *server) checkSize(m proto.Message) error {
	if proto.Size(m) > s.opts.MaxRequestBytes {
		return rpctypes.ErrGRPCRequestTooLarge
	}
	return nil
}

// checkPeerURLs accepts what etcd accepts as member peer URLs: at least one,
// each absolute with scheme http, https, unix or unixs, a host:port (a host
// for unix sockets) and no path, query or fragment.
func checkPeerURLs(urls []string) error {
	if len(urls) == 0 {
		return rpctypes.ErrGRPCMemberBadURLs
	}
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return rpctypes.ErrGRPCMemberBadURLs
		}
		switch u.Scheme {
		case "http", "https":
			if _, _, err := net.SplitHostPort(u.Host); err != nil {
				return rpctypes.ErrGRPCMemberBadURLs
			}
		case "unix", "unixs":
		default:
			return rpctypes.ErrGRPCMemberBadURLs
		}
	}
	return nil
}
