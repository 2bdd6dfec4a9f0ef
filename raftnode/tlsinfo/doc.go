// Package tlsinfo holds a store member's TLS settings, as etcd's flags give
// them, and turns them into crypto/tls configurations: one Info for the
// client side (--cert-file --key-file --trusted-ca-file --client-cert-auth
// --auto-tls) and one for the peer side (the --peer-* flags), sharing
// Params (--cipher-suites --tls-min-version --tls-max-version).
//
// # Model
//
// The decisions are pure and table-tested: which flags go together
// (Info.Check), cipher suite and version names (ParseParams), which ALPN
// protocol a client port picks (ServerConfig's NextProtos). The IO is in
// Load, which reads the files once to fail at start on a bad file, and in
// the certificate callbacks, which read the key pair again when its files
// change (a rotated certificate is used by the next handshake, as etcd
// does), and in SelfCert (--auto-tls).
//
// etcd's semantics kept here:
//
//   - A server requires and verifies client certificates when
//     --trusted-ca-file or --client-cert-auth is given (either one, as
//     etcd's TLSInfo.ServerConfig).
//   - A member dialling a peer presents its peer certificate and verifies
//     the peer's against --peer-trusted-ca-file (the system roots without
//     it); with --peer-auto-tls it verifies nothing, since the certificates
//     are self-signed.
//   - --auto-tls makes a self-signed certificate (and key) for the listen
//     hosts in DATA_DIR/fixtures/client (peer: fixtures/peer) and reuses it
//     on restart; given certificates win over it. Clients must then skip
//     verification (etcdctl --insecure-skip-tls-verify), and a self-signed
//     certificate cannot authenticate clients: --client-cert-auth is
//     ignored with it, as with etcd.
//
// # One port, gRPC and HTTP, over TLS
//
// On a client port TLS wraps the connection first and portmux sniffs the
// decrypted bytes (see raftnode/portmux). ALPN keeps HTTP clients out of the
// gRPC server: the client port offers "http/1.1" before "h2", so a client
// that can speak HTTP/1.1 (curl, Go's net/http, Prometheus) gets it and
// reaches the HTTP endpoints, and a gRPC client, which offers only "h2",
// gets h2 and reaches the gRPC server. grpc.Server sees the already
// handshaken connection through ServerCredentials, which hands the TLS state
// to the RPC context as grpc's own TLS credentials would
// (peer.FromContext(ctx).AuthInfo.(credentials.TLSInfo)).
//
// # Example
//
//	p, err := tlsinfo.ParseParams(nil, "TLS1.2", "")
//	info := tlsinfo.Info{CertFile: "server.crt", KeyFile: "server.key", TrustedCAFile: "ca.crt", ClientCertAuth: true}
//	if err := info.Check("--"); err != nil { ... }
//	set, err := tlsinfo.Load(info, p, logger)
//	srvCfg := set.ServerConfig("http/1.1", "h2")
//	cliCfg := set.ClientConfig()
package tlsinfo
