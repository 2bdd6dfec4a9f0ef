// Package portmux serves gRPC and HTTP/1 on one TCP port, as etcd's client
// port does (etcd uses cmux): each accepted connection is sniffed for the
// HTTP/2 client preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); connections
// that open with it go to the gRPC listener, all others to the HTTP
// listener.
//
// # Why sniff instead of routing by content-type
//
// The alternative, one net/http server on h2c that hands requests with
// content-type application/grpc to grpc.Server.ServeHTTP, puts every gRPC
// call through net/http's HTTP/2 server and grpc-go's handler transport,
// which is markedly slower and allocates more per call than grpc-go's own
// transport — the member's hot path. Sniffing costs one read of at most 24
// bytes per connection, then the connection is grpc-go's alone. The price
// is etcd's: HTTP/2 with prior knowledge (curl --http2-prior-knowledge) is
// taken for gRPC; JSON clients use HTTP/1.1, as they do with etcd.
//
// # TLS
//
// With Options.TLS the port is a TLS port: TLS wraps each connection
// first, and the sniff reads the decrypted bytes, so gRPC keeps grpc-go's
// own transport and HTTP keeps net/http on one https:// port (etcd instead
// serves gRPC through net/http there, grpc.Server.ServeHTTP, at the cost
// described above). Sniffing before the handshake cannot work: gRPC and
// HTTP clients both open with a TLS ClientHello. The handshake runs in the
// connection's own goroutine under SniffTimeout, so a silent client holds
// nothing. An h2-speaking HTTP client would be taken for gRPC; the member's
// TLS configuration prevents it by preferring "http/1.1" in ALPN (see
// raftnode/tlsinfo). A failed handshake is logged at debug level and
// closed; a client that sent plain HTTP/1 first gets net/http's plain-text
// "400 Client sent an HTTP request to an HTTPS server", a plain gRPC client
// an immediate close.
//
// # Model
//
//	Listener ─ Accept ─▶ sniff goroutine ([TLS handshake,] then reads until
//	                      the preface matches or differs, within SniffTimeout)
//	                       ├─ preface ──▶ GRPC() listener ─▶ grpc.Server
//	                       └─ other ────▶ HTTP() listener ─▶ http.Server
//
// The bytes read while sniffing are replayed to the server that gets the
// connection. A connection that sends nothing within SniffTimeout is
// closed. Accept on the port never waits for a slow client: each sniff
// runs in its own goroutine.
//
// # Example
//
//	m := portmux.New(ln, portmux.Options{})
//	go grpcServer.Serve(m.GRPC())
//	go httpServer.Serve(m.HTTP())
//	go m.Serve()
//	...
//	m.Close() // closes ln and both listeners
package portmux
