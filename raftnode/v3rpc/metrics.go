package v3rpc

import (
	"context"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// RPCMetrics counts the calls a gRPC server started and handled, per method
// and per status code: what go-grpc-prometheus exports as
// grpc_server_started_total and grpc_server_handled_total. One per server
// (or per member), never shared by package; safe for concurrent use. The
// zero value is ready; a nil *RPCMetrics counts nothing.
type RPCMetrics struct {
	mu      sync.RWMutex
	methods map[string]*methodCounts // by full method, "/pkg.Service/Method"
}

type methodCounts struct {
	typ     string
	started atomic.Uint64
	handled [codes.Unauthenticated + 1]atomic.Uint64
}

// MethodMetrics are one method's counts.
type MethodMetrics struct {
	// Service is the full service name (etcdserverpb.KV), Method the
	// method's (Range), Type one of unary, client_stream, server_stream,
	// bidi_stream, as go-grpc-prometheus labels them.
	Service, Method, Type string
	Started               uint64
	// Handled counts finished calls by status code name (OK, NotFound...,
	// as codes.Code.String()); codes never seen are absent.
	Handled map[string]uint64
}

func (m *RPCMetrics) method(full, typ string) *methodCounts {
	m.mu.RLock()
	c := m.methods[full]
	m.mu.RUnlock()
	if c != nil {
		return c
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.methods == nil {
		m.methods = map[string]*methodCounts{}
	}
	if c = m.methods[full]; c == nil {
		c = &methodCounts{typ: typ}
		m.methods[full] = c
	}
	return c
}

func (c *methodCounts) done(err error) {
	code := status.Code(err)
	if int(code) < len(c.handled) {
		c.handled[code].Add(1)
	} else {
		c.handled[codes.Unknown].Add(1)
	}
}

// Snapshot returns every method's counts, sorted by service and method.
func (m *RPCMetrics) Snapshot() []MethodMetrics {
	if m == nil {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]MethodMetrics, 0, len(m.methods))
	for full, c := range m.methods {
		svc, meth := splitMethod(full)
		mm := MethodMetrics{Service: svc, Method: meth, Type: c.typ, Started: c.started.Load(), Handled: map[string]uint64{}}
		for code := range c.handled {
			if n := c.handled[code].Load(); n > 0 {
				mm.Handled[codes.Code(code).String()] = n
			}
		}
		out = append(out, mm)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// splitMethod splits "/pkg.Service/Method".
func splitMethod(full string) (service, method string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.LastIndex(full, "/"); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", full
}

func streamType(info *grpc.StreamServerInfo) string {
	switch {
	case info.IsClientStream && info.IsServerStream:
		return "bidi_stream"
	case info.IsClientStream:
		return "client_stream"
	case info.IsServerStream:
		return "server_stream"
	}
	return "unary"
}

// unaryMetrics and streamMetrics count calls into m. They sit outside the
// recovery interceptors, so a recovered panic counts as Internal.
func unaryMetrics(m *RPCMetrics) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		c := m.method(info.FullMethod, "unary")
		c.started.Add(1)
		resp, err := handler(ctx, req)
		c.done(err)
		return resp, err
	}
}

func streamMetrics(m *RPCMetrics) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		c := m.method(info.FullMethod, streamType(info))
		c.started.Add(1)
		err := handler(srv, ss)
		c.done(err)
		return err
	}
}
