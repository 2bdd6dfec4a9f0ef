package v3rpc

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Nothing a client sends should make a handler panic; these interceptors are
// the last line of defence. A panic is logged with its stack and the call
// fails with codes.Internal; the server keeps running.

func unaryRecovery(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = panicError(log, info.FullMethod, r)
				resp = nil
			}
		}()
		return handler(ctx, req)
	}
}

func streamRecovery(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = panicError(log, info.FullMethod, r)
			}
		}()
		return handler(srv, ss)
	}
}

// panicError logs a recovered panic and returns the error for the client.
func panicError(log *slog.Logger, method string, r any) error {
	log.Error("v3rpc: recovered from a panic in a handler; this is a bug",
		"method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	return status.Errorf(codes.Internal, "kelson: internal error in %s (logged on the server)", method)
}

// goSafe runs fn in a goroutine of a handler (watch and keep-alive receive
// loops, the snapshot writer), where the interceptors cannot see a panic: a
// panic is logged and reported through fail instead of crashing the process.
func goSafe(log *slog.Logger, method string, fail func(error), fn func()) {
	go func() {
		defer func() {
			if r := recover(); r != nil {
				fail(panicError(log, method, r))
			}
		}()
		fn()
	}()
}
