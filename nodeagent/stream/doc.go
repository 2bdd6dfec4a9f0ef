// Package stream is the node agent's HTTPS port: the part of kubelet's
// port 10250 API that kubectl needs, reached through the apiserver's
// pods/log and pods/exec proxy (apiserver/podproxy.go).
//
//	GET /healthz                                   "ok"
//	GET /containerLogs/NS/POD/CONTAINER?follow=&previous=&tailLines=&limitBytes=&sinceSeconds=&sinceTime=&timestamps=
//	GET|POST /exec/NS/POD/CONTAINER?command=A&command=B&stdin=&stdout=&stderr=&tty=   (WebSocket or SPDY upgrade)
//
// # Model
//
// The server keeps no state: every request asks the runtime
// (runtime.Runtime.ListContainers) for the instances of the pod and
// picks one (pickInstance): the pod's newest UID, that UID's highest
// attempt of the container, or with previous=true the highest attempt
// below it. Logs are the instance's CRI-format file (ContainerStatus.
// LogPath, else runtime.LogPath under Config.LogRoot), one entry per
// line:
//
//	2024-05-01T10:00:00.123456789Z stdout F a full line
//	2024-05-01T10:00:00.200000000Z stderr P the first part of a long li
//	2024-05-01T10:00:00.200000001Z stderr F ne and its end
//
// A P (partial) entry is joined with the next entry of the same stream
// into one line (timestamped by its first entry). The pure pieces are
// ParseEntry, the joiner, ParseLogOptions and the selector (since, then
// the last tailLines lines of the backlog, then everything new); the
// handler around them reads the file and polls it while following.
//
// Follow ends when the client goes away, at limitBytes, or when the
// followed instance is no longer running (exited or removed) and its
// file is read to the end — as kubelet ends `kubectl logs -f` when the
// container exits. A file that does not exist yet is waited for; a file
// that shrank is read again from its start. A restart is not followed
// into the new instance: kubectl logs -f returns, the user asks again.
//
// Exec speaks the remote command protocol over WebSocket,
// v5.channel.k8s.io (kubectl ≥ 1.30's first choice) and
// v4.channel.k8s.io: binary messages prefixed by a channel byte, 0 stdin,
// 1 stdout, 2 stderr, 3 error — one JSON metav1.Status when the command
// ends, Success, or Failure with reason NonZeroExitCode and an ExitCode
// cause that kubectl exits with — and 4 resize (JSON {"Width","Height"});
// v5 adds 255 CHANNEL, the client's close of stdin. The framing is
// k8s.io/streaming's wsstream.Conn (over golang.org/x/net/websocket).
// SPDY/3.1 (kubectl before 1.30, kubectl's fallback, client-go's
// NewSPDYExecutor) is served too, with k8s.io/streaming's spdy upgrader:
// one stream per channel, named by its streamType header (v5 and v4
// only: the error stream carries the JSON Status). A request
// with neither upgrade is answered 400, after the container checks, so
// that kubectl's fallback reports the same error as its first try. The
// command's context ends when the connection closes (the client went
// away) or the server stops.
//
// Errors are kubelet's: plain text for logs (the apiserver wraps it in a
// Status of the same code), a JSON metav1.Status for exec (what
// client-go's executors decode). A pod with no instance, or a container
// with none, is 404; previous=true without an earlier instance is 400
// "previous terminated container "C" in pod "P" not found"; exec into an
// instance that is not running is 400.
//
// # Authentication
//
// The port is mutually authenticated TLS when Config.ClientCAs is set
// (the agent's Config.ClientCAs: the cluster CA): the handshake requires
// a client certificate verified against them (no certificate, or one
// from another CA: the handshake fails), and a verified caller is served
// only when AuthorizeCaller allows it — CN kube-apiserver-kubelet-client
// (the API server proxying pods/log and pods/exec) or Organization
// system:masters; anyone else gets 403 with a body naming the user seen
// (a JSON Status on /exec/, plain text elsewhere). The agent serves a
// certificate from the cluster CA for its node's names and addresses
// (its Config.GetServingCert: CertFiles, which reads the files again when
// the agent's renewal replaced them, so a renewed certificate is served
// from the next handshake on), which the API server verifies against the
// node address it dials. Without ClientCAs (tests) every caller is
// served.
//
// # Invariants
//
//   - Nothing a client sends makes the server panic; bad queries are 400.
//   - A follow holds at most one unterminated line (1 MiB) and one
//     partial line per stream; a tail holds tailLines lines.
//   - Serve speaks HTTP/1.1 only: WebSocket upgrades need the hijack that
//     HTTP/2 does not offer.
//
// # Example
//
//	tc := &tls.Config{Certificates: []tls.Certificate{servingCert}} // from the cluster CA, for 10.0.0.5
//	srv, err := stream.New(stream.Config{Runtime: rt, LogRoot: "/var/log/pods", TLS: tc, ClientCAs: clusterCA})
//	if err != nil { ... }
//	l, _ := net.Listen("tcp", ":10250")
//	go srv.Serve(ctx, l) // the Node's status.daemonEndpoints.kubeletEndpoint.Port is 10250
//
// # Weak spots
//
//   - A tail reads the whole file from its start (no backwards scan).
//   - While the command does not read its stdin, wsstream's reader waits,
//     and resize and close messages queued behind stdin data wait too.
//   - A certificate rotated on disk is picked up at the agent's next
//     start only (Config.TLS is read once).
package stream
