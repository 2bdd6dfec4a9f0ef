package v3rpc

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/kelson-dev/kelson/kvstore"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestToGRPCError(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("ctx: %w", err) }
	cases := []struct {
		in   error
		want error // compared by code and message
	}{
		{wrap(kvstore.ErrCompacted), rpctypes.ErrGRPCCompacted},
		{wrap(kvstore.ErrFutureRev), rpctypes.ErrGRPCFutureRev},
		{kvstore.ErrCompactFuture, rpctypes.ErrGRPCFutureRev},
		{kvstore.ErrNoSpace, rpctypes.ErrGRPCNoSpace},
		{kvstore.ErrKeyNotFound, rpctypes.ErrGRPCKeyNotFound},
		{kvstore.ErrEmptyKey, rpctypes.ErrGRPCEmptyKey},
		{kvstore.ErrValueProvided, rpctypes.ErrGRPCValueProvided},
		{kvstore.ErrLeaseProvided, rpctypes.ErrGRPCLeaseProvided},
		{kvstore.ErrDuplicateKey, rpctypes.ErrGRPCDuplicateKey},
		{kvstore.ErrTooManyOps, rpctypes.ErrGRPCTooManyOps},
		{wrap(fmt.Errorf("%w: unknown sort order 7", kvstore.ErrInvalidSortOption)), rpctypes.ErrGRPCInvalidSortOption},
		{wrap(kvstore.ErrLeaseNotFound), rpctypes.ErrGRPCLeaseNotFound},
		{kvstore.ErrLeaseExists, rpctypes.ErrGRPCLeaseExist},
		{kvstore.ErrClosed, rpctypes.ErrGRPCStopped},
		{wrap(fmt.Errorf("%w: bad", kvstore.ErrInvalidRequest)), status.Error(codes.InvalidArgument, "ctx: kvstore: invalid request: bad")},
		{context.Canceled, rpctypes.ErrGRPCCanceled},
		{wrap(context.DeadlineExceeded), rpctypes.ErrGRPCDeadlineExceeded},
		{rpctypes.ErrGRPCNoLeader, rpctypes.ErrGRPCNoLeader},
		{wrap(&statusError{msg: "raftnode: not leader", grpc: rpctypes.ErrGRPCNotLeader}), rpctypes.ErrGRPCNotLeader},
		{errors.New("boom"), status.Error(codes.Unknown, "boom")},
	}
	for _, c := range cases {
		got := toGRPCError(c.in)
		gs, ws := status.Convert(got), status.Convert(c.want)
		if gs.Code() != ws.Code() || gs.Message() != ws.Message() {
			t.Errorf("%v: got %v, want %v", c.in, got, c.want)
		}
	}
	if toGRPCError(nil) != nil {
		t.Error("nil error mapped to non-nil")
	}
}

func TestCheckPeerURLs(t *testing.T) {
	for _, c := range []struct {
		urls []string
		ok   bool
	}{
		{nil, false},
		{[]string{"http://10.0.0.1:2380"}, true},
		{[]string{"https://host:2380", "unix://sock"}, true},
		{[]string{"http://10.0.0.1"}, false},
		{[]string{"http://10.0.0.1:2380/path"}, false},
		{[]string{"ftp://10.0.0.1:2380"}, false},
		{[]string{"10.0.0.1:2380"}, false},
		{[]string{"http://10.0.0.1:2380", ""}, false},
	} {
		if err := checkPeerURLs(c.urls); (err == nil) != c.ok {
			t.Errorf("%q: %v", c.urls, err)
		}
	}
}

func TestIsLeaseNotFound(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{fmt.Errorf("x: %w", kvstore.ErrLeaseNotFound), true},
		{rpctypes.ErrGRPCLeaseNotFound, true},
		{fmt.Errorf("forwarded: %w", rpctypes.ErrGRPCLeaseNotFound), true},
		{rpctypes.ErrGRPCMemberNotFound, false},
		{errors.New("requested lease not found"), false},
	} {
		if got := isLeaseNotFound(c.err); got != c.want {
			t.Errorf("%v: %v", c.err, got)
		}
	}
}
