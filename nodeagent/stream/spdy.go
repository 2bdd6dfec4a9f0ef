package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// Exec over SPDY/3.1, the protocol of kubectl before 1.30, kubectl's
// fallback when the WebSocket upgrade fails, and client-go's
// NewSPDYExecutor: the client opens one stream per channel, named by its
// streamType header (error, stdin, stdout, stderr, resize); stdin ends
// with the stream's half-close. Served for v5.channel.k8s.io and
// v4.channel.k8s.io, which are the same over SPDY (the error stream
// carries the JSON Status).

// spdyStreamTimeout bounds the wait for the client's streams after the
// upgrade.
const spdyStreamTimeout = 30 * time.Second

// spdyStreams are the streams of one SPDY exec session.
type spdyStreams struct {
	errorS, stdin, stdout, stderr, resize httpstream.Stream
}

// expected is how many streams the client opens for opts.
func expectedStreams(o ExecOptions) int {
	n := 1 // error
	for _, on := range []bool{o.Stdin, o.Stdout, o.Stderr, o.TTY} {
		if on {
			n++
		}
	}
	return n
}

// isSPDYRequest: an upgrade to SPDY/3.1.
func isSPDYRequest(r *http.Request) bool {
	return httpstream.IsUpgradeRequest(r) && http.CanonicalHeaderKey(r.Header.Get(httpstream.HeaderUpgrade)) == http.CanonicalHeaderKey(spdy.HeaderSpdy31)
}

// spdySession negotiates the protocol, upgrades, waits for the client's
// streams and runs the command.
func (s *Server) spdySession(w http.ResponseWriter, r *http.Request, inst runtime.ContainerStatus, opts ExecOptions) {
	if _, err := httpstream.Handshake(r, w, execProtocols); err != nil {
		return // Handshake answered the client (400 or 403)
	}
	type created struct {
		st    httpstream.Stream
		reply <-chan struct{}
	}
	streamc := make(chan created, 8)
	conn := spdy.NewResponseUpgraderWithPings(30*time.Second).UpgradeResponse(w, r, func(st httpstream.Stream, reply <-chan struct{}) error {
		select {
		case streamc <- created{st, reply}:
			return nil
		default:
			return fmt.Errorf("too many streams for one exec session")
		}
	})
	if conn == nil {
		return // UpgradeResponse answered the client
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-conn.CloseChan(): // the client went away
			cancel()
		case <-ctx.Done():
		}
	}()

	var ss spdyStreams
	timeout := time.NewTimer(spdyStreamTimeout)
	defer timeout.Stop()
	for got, want := 0, expectedStreams(opts); got < want; {
		select {
		case c := <-streamc:
			select {
			case <-c.reply:
			case <-timeout.C:
				s.log.Debug("exec: SPDY stream reply not sent in time")
				return
			case <-ctx.Done():
				return
			}
			switch c.st.Headers().Get(corev1.StreamType) {
			case corev1.StreamTypeError:
				ss.errorS = c.st
			case corev1.StreamTypeStdin:
				ss.stdin = c.st
			case corev1.StreamTypeStdout:
				ss.stdout = c.st
			case corev1.StreamTypeStderr:
				ss.stderr = c.st
			case corev1.StreamTypeResize:
				ss.resize = c.st
			default:
				s.log.Debug("exec: unknown SPDY stream", "type", c.st.Headers().Get(corev1.StreamType))
				c.st.Reset()
				continue
			}
			got++
		case <-timeout.C:
			s.log.Debug("exec: the client did not open its SPDY streams in time", "pod", inst.PodName)
			return
		case <-ctx.Done():
			return
		}
	}
	if ss.errorS == nil {
		s.log.Debug("exec: the client opened no error stream")
		return
	}

	eo := runtime.ExecOptions{Command: opts.Command, TTY: opts.TTY}
	if ss.stdin != nil {
		eo.Stdin = ss.stdin
	}
	if ss.stdout != nil {
		eo.Stdout = ss.stdout
	}
	if ss.stderr != nil {
		eo.Stderr = ss.stderr
	}
	var wg sync.WaitGroup
	if ss.resize != nil {
		sizes := make(chan runtime.TermSize, 1)
		eo.Resize = sizes
		wg.Add(1)
		go func() { defer wg.Done(); readResizes(ctx, ss.resize, sizes) }()
	}
	code, err := s.cfg.Runtime.Exec(ctx, inst.ID, eo)
	if ctx.Err() == nil || err == nil {
		b, _ := json.Marshal(exitStatus(opts.Command, code, err))
		ss.errorS.Write(b)
	}
	for _, st := range []httpstream.Stream{ss.errorS, ss.stdout, ss.stderr} {
		if st != nil {
			st.Close() // the client reads each to its end
		}
	}
	cancel()
	conn.Close() // ends the resize reader
	wg.Wait()
}
