package v3rpc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"testing"

	"github.com/kelson-dev/kelson/kvstore"
	"github.com/kelson-dev/kelson/raftnode/auth"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"
)

// TestClientCertCommonName: the --client-cert-auth hook reads the CN of the
// first verified chain only, never an unverified certificate, and nothing
// from a call without a TLS peer (the JSON gateway's in-process calls).
func TestClientCertCommonName(t *testing.T) {
	cert := func(cn string) *x509.Certificate { return &x509.Certificate{Subject: pkix.Name{CommonName: cn}} }
	withPeer := func(ai credentials.AuthInfo) context.Context {
		return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: ai})
	}
	for _, c := range []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"no peer", context.Background(), ""},
		{"plain connection", withPeer(nil), ""},
		{"TLS without client certificate", withPeer(credentials.TLSInfo{}), ""},
		{"presented but not verified", withPeer(credentials.TLSInfo{State: tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert("mallory")}}}), ""},
		{"verified", withPeer(credentials.TLSInfo{State: tls.ConnectionState{
			PeerCertificates: []*x509.Certificate{cert("alice")},
			VerifiedChains:   [][]*x509.Certificate{{cert("alice"), cert("ca")}},
		}}), "alice"},
		{"empty chain skipped", withPeer(credentials.TLSInfo{State: tls.ConnectionState{
			VerifiedChains: [][]*x509.Certificate{{}, {cert("bob")}},
		}}), "bob"},
	} {
		if got := ClientCertCommonName(c.ctx); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

type certOnlyAuth struct{ as *auth.Store }

func (c certOnlyAuth) Auth() *auth.Store { return c.as }
func (certOnlyAuth) ProposeAuth(context.Context, *pb.InternalRaftRequest) (proto.Message, error) {
	return nil, nil
}
func (certOnlyAuth) LeaseKeys(int64) [][]byte        { return nil }
func (certOnlyAuth) Linearize(context.Context) error { return nil }

// TestCallerFromCertificate: with ClientCertAuth and no token, the verified
// certificate's CN is the caller; a token, valid or not, takes precedence.
func TestCallerFromCertificate(t *testing.T) {
	as, err := auth.New(auth.Options{BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i, req := range []*pb.InternalRaftRequest{
		{AuthUserAdd: &pb.AuthUserAddRequest{Name: "root", Options: &authpb.UserAddOptions{NoPassword: true}}},
		{AuthUserGrantRole: &pb.AuthUserGrantRoleRequest{User: "root", Role: "root"}},
		{AuthEnable: &pb.AuthEnableRequest{}},
	} {
		if r, err := as.Apply(uint64(i+1), req, func([]kvstore.AuxWrite) error { return nil }); err != nil || r.Err != nil {
			t.Fatalf("step %d: %v %v", i, err, r.Err)
		}
	}
	ctx := peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{
		VerifiedChains: [][]*x509.Certificate{{{Subject: pkix.Name{CommonName: "root"}}}},
	}}})
	s := &server{ab: certOnlyAuth{as}, opts: Options{ClientCertAuth: true}}
	ai, st, err := s.caller(ctx)
	if err != nil || ai.User != "root" || ai.Revision != st.Revision || st.CheckAdmin(ai) != nil {
		t.Fatalf("caller by certificate: %+v %v", ai, err)
	}
	s.opts.ClientCertAuth = false
	if ai, _, _ := s.caller(ctx); ai.User != "" {
		t.Fatalf("certificate used without ClientCertAuth: %+v", ai)
	}
	s.opts.ClientCertAuth = true
	bad := metadata.NewIncomingContext(ctx, metadata.Pairs("token", "forged.1"))
	if _, _, err := s.caller(bad); !errors.Is(err, auth.ErrInvalidAuthToken) {
		t.Fatalf("invalid token beside a certificate: %v", err)
	}
}
