package v3rpc

import (
	"net"
	"net/url"

	"github.com/kelson-dev/kelson/kvstore"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"
)

// validate checks a KV request where etcd's own gRPC layer checks it:
// before the size check and before the backend (which may forward it to the
// leader) sees it, so clients get etcd's error for each mistake. The rules
// are the store's (kvstore.ValidateRequest) — one implementation, which the
// backend applies again when it proposes and applies — and toGRPCError
// turns its sentinels into etcd's errors (ErrGRPCEmptyKey,
// ErrGRPCInvalidSortOption, ErrGRPCTooManyOps, ErrGRPCDuplicateKey...;
// InvalidArgument with the store's message for a malformed request).
func (s *server) validate(req *pb.InternalRaftRequest) error {
	return toGRPCError(kvstore.ValidateRequest(req, s.opts.MaxTxnOps))
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
