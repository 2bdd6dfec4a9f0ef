package stream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// Exec over WebSocket, the remote command protocol kubectl speaks
// (v5.channel.k8s.io, and v4.channel.k8s.io): every binary message starts
// with a channel byte — 0 stdin, 1 stdout, 2 stderr, 3 error (one JSON
// metav1.Status when the command ends), 4 resize (JSON {"Width","Height"}
// messages); v5 adds 255: "the client closed channel N" (stdin's EOF).
// The framing is k8s.io/streaming's wsstream.Conn over
// golang.org/x/net/websocket. SPDY (kubectl's fallback) is in spdy.go.

// Channel numbers of the remote command protocol.
const (
	chanStdin = iota
	chanStdout
	chanStderr
	chanError
	chanResize
)

// execProtocols are the subprotocols served, in the server's preference
// (the client's order of preference decides among them).
var execProtocols = []string{remotecommand.StreamProtocolV5Name, remotecommand.StreamProtocolV4Name}

// negotiate picks the first protocol the client offers that the server
// serves, from Sec-WebSocket-Protocol headers.
func negotiate(offered []string) (string, bool) {
	for _, h := range offered {
		for _, p := range strings.Split(h, ",") {
			p = strings.TrimSpace(p)
			for _, s := range execProtocols {
				if p == s {
					return p, true
				}
			}
		}
	}
	return "", false
}

// channelTypes are the five channels of a session: a channel the
// request did not ask for is ignored (its frames dropped).
func channelTypes(o ExecOptions) []wsstream.ChannelType {
	pick := func(on bool, t wsstream.ChannelType) wsstream.ChannelType {
		if on {
			return t
		}
		return wsstream.IgnoreChannel
	}
	return []wsstream.ChannelType{
		chanStdin:  pick(o.Stdin, wsstream.ReadChannel),
		chanStdout: pick(o.Stdout, wsstream.WriteChannel),
		chanStderr: pick(o.Stderr, wsstream.WriteChannel),
		chanError:  wsstream.WriteChannel,
		chanResize: pick(o.TTY, wsstream.ReadChannel),
	}
}

// exitStatus is what the error channel carries when the command ended:
// Success for exit code 0; for another code a Failure with reason
// NonZeroExitCode and the code as an ExitCode cause (kubectl exits with
// it); for a failure to run the command at all, a Failure with its
// message.
func exitStatus(command []string, code int, err error) metav1.Status {
	st := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}}
	switch {
	case err != nil:
		st.Status, st.Reason, st.Code = metav1.StatusFailure, metav1.StatusReasonInternalError, http.StatusInternalServerError
		st.Message = fmt.Sprintf("error executing command %q: %v", command, err)
	case code == 0:
		st.Status = metav1.StatusSuccess
	default:
		st.Status, st.Reason = metav1.StatusFailure, remotecommand.NonZeroExitCodeReason
		st.Message = fmt.Sprintf("command terminated with non-zero exit code: error executing command %q, exit code %d", command, code)
		st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{
			Type: remotecommand.ExitCodeCauseType, Message: strconv.Itoa(code)}}}
	}
	return st
}

// serveExec answers /exec/NS/POD/CONTAINER?command=...&stdin=...
func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	ns, pod, container, err := podPath(trimPrefix(r.URL.Path, "/exec/"))
	if err != nil {
		writeStatus(w, err)
		return
	}
	opts, err := ParseExecOptions(r.URL.Query())
	if err != nil {
		writeStatus(w, err)
		return
	}
	list, err := s.cfg.Runtime.ListContainers(r.Context())
	if err != nil {
		writeStatus(w, fmt.Errorf("listing the runtime's containers: %w", err))
		return
	}
	inst, err := pickInstance(list, ns, pod, container, false)
	if err != nil {
		writeStatus(w, err)
		return
	}
	if inst.State != runtime.StateRunning {
		writeStatus(w, kindErrorf(ErrNotRunning, "container %q in pod %q is not running (%s): exec needs a running container", container, pod, inst.State))
		return
	}
	if isSPDYRequest(r) {
		s.spdySession(w, r, inst, opts)
		return
	}
	if !wsstream.IsWebSocketRequest(r) {
		writeStatus(w, kindErrorf(ErrBadRequest, "exec needs a connection upgrade: Upgrade: websocket with Sec-WebSocket-Protocol %s, or Upgrade: SPDY/3.1", strings.Join(execProtocols, " or ")))
		return
	}
	if _, ok := negotiate(r.Header.Values(wsstream.WebSocketProtocolHeader)); !ok {
		writeStatus(w, kindErrorf(ErrBadRequest, "no supported WebSocket subprotocol in %q: this agent serves %s", r.Header.Values(wsstream.WebSocketProtocolHeader), strings.Join(execProtocols, ", ")))
		return
	}
	s.execSession(w, r, inst, opts)
}

// execSession upgrades the connection and runs the command. It returns
// when the command has ended (its status sent) or the client went away
// (the command's context is cancelled).
func (s *Server) execSession(w http.ResponseWriter, r *http.Request, inst runtime.ContainerStatus, opts ExecOptions) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	channels := channelTypes(opts)
	protocols := map[string]wsstream.ChannelProtocolConfig{}
	for _, p := range execProtocols {
		protocols[p] = wsstream.ChannelProtocolConfig{Binary: true, Channels: channels}
	}
	conn := wsstream.NewConn(protocols)
	// The hijacked connection tells when the WebSocket is closed, by the
	// client or after the command: that cancels the command.
	hw := &hijackWatcher{ResponseWriter: w, closed: cancel}
	proto, streams, err := conn.Open(hw, r)
	if err != nil {
		s.log.Debug("exec: WebSocket handshake failed", "err", err)
		return
	}
	defer conn.Close()
	s.log.Debug("exec", "pod", inst.PodNamespace+"/"+inst.PodName, "container", inst.Name, "command", opts.Command, "protocol", proto)

	// An empty message on the first output channel tells clients of
	// older protocol versions that the streams are ready.
	first := chanError
	if opts.Stdout {
		first = chanStdout
	} else if opts.Stderr {
		first = chanStderr
	}
	streams[first].Write(nil)

	eo := runtime.ExecOptions{Command: opts.Command, TTY: opts.TTY}
	if opts.Stdin {
		eo.Stdin = streams[chanStdin]
	}
	if opts.Stdout {
		eo.Stdout = streams[chanStdout]
	}
	if opts.Stderr {
		eo.Stderr = streams[chanStderr]
	}
	var wg sync.WaitGroup
	if opts.TTY {
		sizes := make(chan runtime.TermSize, 1)
		eo.Resize = sizes
		wg.Add(1)
		go func() { defer wg.Done(); readResizes(ctx, streams[chanResize], sizes) }()
	}
	code, err := s.cfg.Runtime.Exec(ctx, inst.ID, eo)
	if ctx.Err() != nil && err != nil {
		s.log.Debug("exec: the client went away", "pod", inst.PodName, "container", inst.Name)
	} else {
		st := exitStatus(opts.Command, code, err)
		b, _ := json.Marshal(st)
		streams[chanError].Write(b)
	}
	conn.Close() // ends the resize reader (EOF) and the client's streams
	cancel()
	wg.Wait()
}

// readResizes decodes the resize channel's JSON sizes into sizes; it
// closes sizes when the channel ends.
func readResizes(ctx context.Context, r io.Reader, sizes chan<- runtime.TermSize) {
	defer close(sizes)
	dec := json.NewDecoder(r)
	for {
		var sz struct{ Width, Height uint16 }
		if err := dec.Decode(&sz); err != nil {
			return // the channel closed, or garbage: no more resizes
		}
		select {
		case sizes <- runtime.TermSize{Width: sz.Width, Height: sz.Height}:
		case <-ctx.Done():
			return
		}
	}
}

// hijackWatcher passes the hijack through to the WebSocket library,
// with the connection wrapped in a sessionConn.
type hijackWatcher struct {
	http.ResponseWriter
	closed func()
}

func (h *hijackWatcher) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	sc := &sessionConn{Conn: c, closed: h.closed}
	var r io.Reader = sc
	if n := rw.Reader.Buffered(); n > 0 { // bytes the client sent right after its request
		b, _ := rw.Reader.Peek(n)
		r = io.MultiReader(bytes.NewReader(bytes.Clone(b)), sc)
	}
	return sc, bufio.NewReadWriter(bufio.NewReader(r), bufio.NewWriter(sc)), nil
}

// sessionConn is an exec session's connection: closing it calls closed
// once (that cancels the command), and a read that fails because the
// server closed the connection reads as a clean end (io.EOF), so that
// the WebSocket library's reader does not log it as an error.
type sessionConn struct {
	net.Conn
	closing atomic.Bool
	once    sync.Once
	closed  func()
}

func (c *sessionConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && c.closing.Load() {
		err = io.EOF
	}
	return n, err
}

func (c *sessionConn) Close() error {
	c.closing.Store(true)
	err := c.Conn.Close()
	c.once.Do(c.closed)
	return err
}

var _ http.Hijacker = (*hijackWatcher)(nil)
