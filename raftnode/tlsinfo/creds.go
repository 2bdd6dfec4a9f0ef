package tlsinfo

import (
	"context"
	"crypto/tls"
	"errors"
	"net"

	"google.golang.org/grpc/credentials"
)

// ServerCredentials are grpc server credentials for listeners whose
// connections may be TLS connections made before grpc sees them (a client
// port's portmux handshakes and sniffs first; a peer port wraps its
// listener with tls.NewListener). ServerHandshake finishes the handshake if
// it is not done yet and hands grpc the TLS state as grpc's own TLS
// credentials would (credentials.TLSInfo), so services read the client's
// certificate from peer.FromContext. A plain connection passes with no
// security, so one grpc.Server can serve http:// and https:// listeners.
func ServerCredentials() credentials.TransportCredentials { return serverCreds{} }

type serverCreds struct{}

// connUnwrapper is a connection wrapping another (portmux's sniffed
// connection, and *tls.Conn itself).
type connUnwrapper interface{ NetConn() net.Conn }

// TLSConn returns the *tls.Conn inside c (through wrappers that have a
// NetConn method), or nil.
func TLSConn(c net.Conn) *tls.Conn {
	for i := 0; c != nil && i < 8; i++ {
		if tc, ok := c.(*tls.Conn); ok {
			return tc
		}
		u, ok := c.(connUnwrapper)
		if !ok {
			return nil
		}
		c = u.NetConn()
	}
	return nil
}

func (serverCreds) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	tc := TLSConn(c)
	if tc == nil {
		return c, insecureInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
	}
	// grpc set a deadline on c for the handshake; the handshake of a
	// portmux connection is already done.
	if err := tc.HandshakeContext(context.Background()); err != nil {
		return nil, nil, err
	}
	return c, credentials.TLSInfo{
		State:          tc.ConnectionState(),
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
	}, nil
}

var errServerOnly = errors.New("tlsinfo: ServerCredentials cannot dial")

func (serverCreds) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errServerOnly
}

func (serverCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

func (s serverCreds) Clone() credentials.TransportCredentials { return s }

func (serverCreds) OverrideServerName(string) error { return nil }

type insecureInfo struct{ credentials.CommonAuthInfo }

func (insecureInfo) AuthType() string { return "insecure" }

// connStateKey is the context key of ConnState.
type connStateKey struct{}

// WithConnState returns ctx holding c's TLS state, if c is (or wraps) a TLS
// connection: http.Server.ConnContext for servers whose connections reach
// them wrapped (net/http sets Request.TLS only for a bare *tls.Conn).
func WithConnState(ctx context.Context, c net.Conn) context.Context {
	if tc := TLSConn(c); tc != nil {
		st := tc.ConnectionState()
		return context.WithValue(ctx, connStateKey{}, &st)
	}
	return ctx
}

// ConnState returns the TLS state WithConnState stored, or nil.
func ConnState(ctx context.Context) *tls.ConnectionState {
	st, _ := ctx.Value(connStateKey{}).(*tls.ConnectionState)
	return st
}
