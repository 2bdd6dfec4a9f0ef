package v3rpc

import (
	"context"
	"errors"

	"github.com/kelson-dev/kelson/kvstore"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// kvstoreErrors maps the store's sentinels to etcd's gRPC errors. The
// clients recognise etcd errors by their exact message, so these must be
// the rpctypes values themselves, never re-worded.
var kvstoreErrors = []struct {
	sentinel error
	grpc     error
}{
	{kvstore.ErrCompacted, rpctypes.ErrGRPCCompacted},
	{kvstore.ErrFutureRev, rpctypes.ErrGRPCFutureRev},
	{kvstore.ErrCompactFuture, rpctypes.ErrGRPCFutureRev},
	{kvstore.ErrNoSpace, rpctypes.ErrGRPCNoSpace},
	{kvstore.ErrKeyNotFound, rpctypes.ErrGRPCKeyNotFound},
	{kvstore.ErrEmptyKey, rpctypes.ErrGRPCEmptyKey},
	{kvstore.ErrValueProvided, rpctypes.ErrGRPCValueProvided},
	{kvstore.ErrLeaseProvided, rpctypes.ErrGRPCLeaseProvided},
	{kvstore.ErrDuplicateKey, rpctypes.ErrGRPCDuplicateKey},
	{kvstore.ErrTooManyOps, rpctypes.ErrGRPCTooManyOps},
	{kvstore.ErrInvalidSortOption, rpctypes.ErrGRPCInvalidSortOption},
	{kvstore.ErrLeaseNotFound, rpctypes.ErrGRPCLeaseNotFound},
	{kvstore.ErrLeaseExists, rpctypes.ErrGRPCLeaseExist},
	{kvstore.ErrClosed, rpctypes.ErrGRPCStopped},
}

// toGRPCError converts a backend error into the gRPC error a client sees:
//
//  1. kvstore sentinels (wrapped or not) become etcd's rpctypes errors;
//     kvstore.ErrInvalidRequest and ErrLeaseInvalid become InvalidArgument
//     with the error's message, ErrCorrupt DataLoss;
//  2. an error carrying a gRPC status (a GRPCStatus method, like raftnode's
//     errors, or a status error from a forwarded call), wrapped or not,
//     passes through with its own code and message (grpc's
//     status.FromError would replace the message of a wrapped one by the
//     wrapper's, which etcd clients would no longer recognise);
//  3. context.Canceled and DeadlineExceeded become etcd's
//     ErrGRPCCanceled and ErrGRPCDeadlineExceeded;
//  4. anything else is codes.Unknown with the error's message.
func toGRPCError(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range kvstoreErrors {
		if errors.Is(err, m.sentinel) {
			return m.grpc
		}
	}
	switch {
	case errors.Is(err, kvstore.ErrInvalidRequest), errors.Is(err, kvstore.ErrLeaseInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, kvstore.ErrCorrupt):
		return status.Error(codes.DataLoss, err.Error())
	}
	var gs interface{ GRPCStatus() *status.Status }
	if errors.As(err, &gs) {
		if st := gs.GRPCStatus(); st != nil && st.Code() != codes.OK {
			return st.Err()
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return rpctypes.ErrGRPCCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return rpctypes.ErrGRPCDeadlineExceeded
	}
	return status.Error(codes.Unknown, err.Error())
}
