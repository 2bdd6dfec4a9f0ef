package audit

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
)

// ResponseWriter wraps a handler's http.ResponseWriter to see the
// response: its status code, when its headers go out, and (when asked)
// its body. It keeps the wrapped writer's Flush and Hijack (watches and
// exec upgrades) and unwraps for http.ResponseController. Used by one
// handler goroutine, as an http.ResponseWriter is.
type ResponseWriter struct {
	http.ResponseWriter
	// OnStart, if set, is called once when the headers go out (or the
	// connection is hijacked), with the status code.
	OnStart func(code int)

	code     int
	started  bool
	hijacked bool
	// body holds up to limit bytes of the body; over: too large, dropped.
	body  *bytes.Buffer
	limit int
	over  bool
}

// NewResponseWriter wraps w.
func NewResponseWriter(w http.ResponseWriter) *ResponseWriter {
	return &ResponseWriter{ResponseWriter: w}
}

// Capture keeps up to limit bytes of the body written from now on
// (Body); a larger body is not kept.
func (w *ResponseWriter) Capture(limit int) {
	if w.body == nil {
		w.body, w.limit = &bytes.Buffer{}, limit
	}
}

// Code is the status sent (200 if the body was written without one), 101
// for a hijacked connection, 0 if nothing was sent.
func (w *ResponseWriter) Code() int { return w.code }

// Started reports whether the headers went out.
func (w *ResponseWriter) Started() bool { return w.started }

// Body returns the captured body; ok is false if none was captured or it
// was over the limit.
func (w *ResponseWriter) Body() ([]byte, bool) {
	if w.body == nil || w.over {
		return nil, false
	}
	return w.body.Bytes(), true
}

func (w *ResponseWriter) start(code int) {
	if w.started {
		return
	}
	w.started, w.code = true, code
	if w.OnStart != nil {
		w.OnStart(code)
	}
}

// WriteHeader implements http.ResponseWriter.
func (w *ResponseWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.start(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *ResponseWriter) Write(b []byte) (int, error) {
	w.start(http.StatusOK)
	if w.body != nil && !w.over {
		if w.body.Len()+len(b) > w.limit {
			w.over = true
			w.body = &bytes.Buffer{}
		} else {
			w.body.Write(b)
		}
	}
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher (watches flush every event).
func (w *ResponseWriter) Flush() {
	w.start(http.StatusOK)
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker (exec and attach upgrades).
func (w *ResponseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
		w.start(http.StatusSwitchingProtocols)
	}
	return c, rw, err
}

// Unwrap returns the wrapped writer (for http.ResponseController).
func (w *ResponseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
