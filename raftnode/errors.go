package raftnode

import (
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/status"
)

// Error is a replication-layer error. Each sentinel carries the etcd gRPC
// error of the same meaning (GRPCStatus), so the v3rpc services hand them to
// clients unchanged and etcd clients react to them as they do with etcd
// (retrying on no leader, for example).
type Error struct {
	msg  string
	grpc error
}

func (e *Error) Error() string { return e.msg }

// GRPCStatus lets grpc's status.FromError see the etcd error code.
func (e *Error) GRPCStatus() *status.Status { s, _ := status.FromError(e.grpc); return s }

func newError(msg string, grpcErr error) *Error {
	return &Error{msg: "raftnode: " + msg, grpc: grpcErr}
}

// Sentinel errors; compare with errors.Is.
var (
	ErrStopped                = newError("server stopped", rpctypes.ErrGRPCStopped)
	ErrNoLeader               = newError("no leader", rpctypes.ErrGRPCNoLeader)
	ErrNotLeader              = newError("not leader", rpctypes.ErrGRPCNotLeader)
	ErrLeaderChanged          = newError("leader changed", rpctypes.ErrGRPCLeaderChanged)
	ErrTimeout                = newError("request timed out", rpctypes.ErrGRPCTimeout)
	ErrRequestTooLarge        = newError("request is too large", rpctypes.ErrGRPCRequestTooLarge)
	ErrLeaseTTLTooLarge       = newError("too large lease TTL", rpctypes.ErrGRPCLeaseTTLTooLarge)
	ErrMemberExists           = newError("member ID already exist", rpctypes.ErrGRPCMemberExist)
	ErrPeerURLExists          = newError("peer URLs already exists", rpctypes.ErrGRPCPeerURLExist)
	ErrMemberNotFound         = newError("member not found", rpctypes.ErrGRPCMemberNotFound)
	ErrMemberBadURLs          = newError("given member URLs are invalid", rpctypes.ErrGRPCMemberBadURLs)
	ErrMemberNotLearner       = newError("can only promote a learner member", rpctypes.ErrGRPCMemberNotLearner)
	ErrLearnerNotReady        = newError("can only promote a learner member which is in sync with leader", rpctypes.ErrGRPCLearnerNotReady)
	ErrTooManyLearners        = newError("too many learner members in cluster", rpctypes.ErrGRPCTooManyLearners)
	ErrNotEnoughStarted       = newError("re-configuration failed due to not enough started members", rpctypes.ErrGRPCMemberNotEnoughStarted)
	ErrBadTransferee          = newError("bad leader transferee", rpctypes.ErrGRPCBadLeaderTransferee)
	ErrNotSupportedForLearner = newError("rpc not supported for learner", rpctypes.ErrGRPCNotSupportedForLearner)
	ErrClusterIDMismatch      = newError("cluster ID mismatch", rpctypes.ErrGRPCClusterIDMismatch)
)

// ErrBadConfig: the Config cannot start a member; the message says why.
var ErrBadConfig = errors.New("raftnode: bad configuration")
