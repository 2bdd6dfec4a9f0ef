package v3http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// marshalOpts are etcd's gateway marshaler options (server/embed/serve.go).
var (
	marshalOpts   = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false}
	unmarshalOpts = protojson.UnmarshalOptions{DiscardUnknown: true}
)

// marshal encodes m as etcd's gateway does, compacted: protojson inserts
// random spaces to discourage byte comparisons, which etcd's clients and
// tests (and ours) make anyway.
func marshal(m proto.Message) ([]byte, error) {
	b, err := marshalOpts.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("v3http: marshal %T: %w", m, err)
	}
	var out bytes.Buffer
	out.Grow(len(b))
	if err := json.Compact(&out, b); err != nil {
		return nil, fmt.Errorf("v3http: compact %T: %w", m, err)
	}
	return out.Bytes(), nil
}

// unmarshal decodes a request body; an empty body is an empty request (as
// the gateway, which ignores io.EOF).
func unmarshal(b []byte, m proto.Message) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := unmarshalOpts.Unmarshal(b, m); err != nil {
		return status.Errorf(codes.InvalidArgument, "%v", err)
	}
	return nil
}

// errorBody is the gateway's error body: etcd 3.4's, field order included
// (compared byte for byte in raftnode's TestGatewayMatchesEtcd); 3.5 and
// later emit its code and message.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Code    int32  `json:"code"`
}

// httpStatus is grpc-gateway's HTTP status for a gRPC code.
func httpStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// toStatus turns any error into a gRPC status: service errors carry one;
// a context error gets its gRPC code; anything else is Unknown.
func toStatus(err error) *status.Status {
	if s, ok := status.FromError(err); ok {
		return s
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, err.Error())
	}
	return status.New(codes.Unknown, err.Error())
}

// writeError answers a unary call (or a stream that wrote nothing) that
// failed with err.
func writeError(w http.ResponseWriter, err error) {
	s := toStatus(err)
	b, _ := json.Marshal(errorBody{Error: s.Message(), Code: int32(s.Code()), Message: s.Message()})
	w.Header().Set("Content-Type", "application/json")
	if s.Code() == codes.Unauthenticated {
		w.Header().Set("WWW-Authenticate", s.Message())
	}
	w.WriteHeader(httpStatus(s.Code()))
	_, _ = w.Write(b)
}

// streamErrorChunk is the last line of a failed stream:
// {"error":{"code":N,"message":MSG}} (google.rpc.Status in protojson).
func streamErrorChunk(err error) []byte {
	s := toStatus(err)
	b, merr := marshal(s.Proto())
	if merr != nil {
		b = []byte(`{"code":13,"message":"failed to marshal error message"}`)
	}
	return append(append([]byte(`{"error":`), b...), "}\n"...)
}

// errTooLarge is etcd's error for a body over the limit.
var errTooLarge = rpctypes.ErrGRPCRequestTooLarge
