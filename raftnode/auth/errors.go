package auth

import (
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/status"
)

// Error is an auth error. Each sentinel carries the etcd gRPC error of the
// same meaning (GRPCStatus), so the v3rpc services hand it to clients with
// etcd's exact code and message, which etcd clients match on (clientv3
// re-authenticates on ErrGRPCInvalidAuthToken and ErrGRPCAuthOldRevision).
type Error struct {
	msg  string
	grpc error
}

func (e *Error) Error() string { return e.msg }

// GRPCStatus lets grpc's status.FromError see the etcd error code.
func (e *Error) GRPCStatus() *status.Status { s, _ := status.FromError(e.grpc); return s }

func newError(msg string, grpcErr error) *Error { return &Error{msg: "auth: " + msg, grpc: grpcErr} }

// Sentinel errors; compare with errors.Is.
var (
	ErrRootUserNotExist     = newError("root user does not exist", rpctypes.ErrGRPCRootUserNotExist)
	ErrRootRoleNotExist     = newError("root user does not have root role", rpctypes.ErrGRPCRootRoleNotExist)
	ErrUserAlreadyExist     = newError("user already exists", rpctypes.ErrGRPCUserAlreadyExist)
	ErrUserEmpty            = newError("user name is empty", rpctypes.ErrGRPCUserEmpty)
	ErrUserNotFound         = newError("user not found", rpctypes.ErrGRPCUserNotFound)
	ErrRoleAlreadyExist     = newError("role already exists", rpctypes.ErrGRPCRoleAlreadyExist)
	ErrRoleNotFound         = newError("role not found", rpctypes.ErrGRPCRoleNotFound)
	ErrRoleEmpty            = newError("role name is empty", rpctypes.ErrGRPCRoleEmpty)
	ErrPermissionNotGiven   = newError("permission not given", rpctypes.ErrGRPCPermissionNotGiven)
	ErrAuthFailed           = newError("authentication failed, invalid user ID or password", rpctypes.ErrGRPCAuthFailed)
	ErrPermissionDenied     = newError("permission denied", rpctypes.ErrGRPCPermissionDenied)
	ErrRoleNotGranted       = newError("role is not granted to the user", rpctypes.ErrGRPCRoleNotGranted)
	ErrPermissionNotGranted = newError("permission is not granted to the role", rpctypes.ErrGRPCPermissionNotGranted)
	ErrAuthNotEnabled       = newError("authentication is not enabled", rpctypes.ErrGRPCAuthNotEnabled)
	ErrAuthOldRevision      = newError("revision in header is old", rpctypes.ErrGRPCAuthOldRevision)
	ErrInvalidAuthToken     = newError("invalid auth token", rpctypes.ErrGRPCInvalidAuthToken)
	ErrInvalidAuthMgmt      = newError("invalid auth management", rpctypes.ErrGRPCInvalidAuthMgmt)
)

// ErrInvalidAuthOpts: the --auth-token value (or another auth option)
// cannot be used; the message says why.
var ErrInvalidAuthOpts = errors.New("auth: invalid auth options")
