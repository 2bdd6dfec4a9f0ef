package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/runtime"
)

// serveLogs answers GET /containerLogs/NS/POD/CONTAINER?follow=...
//
// Follow: after the backlog, the file is polled every PollInterval for
// new lines; a file that does not exist yet (the instance is created but
// has not started) is waited for. The follow ends when the client goes
// away, at limitBytes, or when the followed instance is no longer
// running (exited, or removed) and its file has been read to the end —
// as kubelet ends `kubectl logs -f` when the container exits. A newer
// instance (a restart) is not followed: the client asks again.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "containerLogs takes GET", http.StatusMethodNotAllowed)
		return
	}
	ns, pod, container, err := podPath(trimPrefix(r.URL.Path, "/containerLogs/"))
	if err != nil {
		writeError(w, err)
		return
	}
	opts, err := ParseLogOptions(r.URL.Query(), time.Now())
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	list, err := s.cfg.Runtime.ListContainers(ctx)
	if err != nil {
		writeError(w, fmt.Errorf("listing the runtime's containers: %w", err))
		return
	}
	inst, err := pickInstance(list, ns, pod, container, opts.Previous)
	if err != nil {
		writeError(w, err)
		return
	}
	path := inst.LogPath
	if path == "" {
		path = runtime.LogPath(s.cfg.LogRoot, inst.PodNamespace, inst.PodName, inst.PodUID, inst.Name, inst.Attempt)
	}
	f, err := os.Open(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		writeError(w, fmt.Errorf("opening the log of container %q in pod %q: %w", container, pod, err))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		if f != nil {
			f.Close()
		}
		return
	}
	lr := &logReader{srv: s, path: path, f: f, inst: inst, opts: opts, sel: newSelector(opts)}
	out := &limitWriter{w: w, left: -1}
	if opts.LimitBytes > 0 {
		out.left = opts.LimitBytes
	}
	lr.out, lr.flush = out, func() { http.NewResponseController(w).Flush() }
	err = lr.run(ctx)
	if lr.f != nil {
		lr.f.Close()
	}
	if err != nil && !errors.Is(err, errLimitReached) && ctx.Err() == nil {
		s.log.Debug("container log stream ended", "pod", ns+"/"+pod, "container", container, "err", err)
	}
}

// logReader streams one instance's log file to out.
type logReader struct {
	srv   *Server
	path  string
	f     *os.File // nil until the file exists
	off   int64
	inst  runtime.ContainerStatus
	opts  LogOptions
	sel   *selector
	j     joiner
	rest  []byte // bytes after the last newline read
	out   io.Writer
	flush func()
	buf   []byte
	line  []byte
}

func (lr *logReader) run(ctx context.Context) error {
	if err := lr.readAvailable(); err != nil {
		return err
	}
	if !lr.opts.Follow {
		lr.endOfFile()
		for _, l := range lr.j.flush() {
			if err := lr.send(lr.sel.add(l)); err != nil {
				return err
			}
		}
		return lr.send(lr.sel.goLive())
	}
	if err := lr.send(lr.sel.goLive()); err != nil {
		return err
	}
	lr.flush()
	t := time.NewTicker(lr.srv.cfg.PollInterval)
	defer t.Stop()
	idle := 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		before := lr.off
		if err := lr.readAvailable(); err != nil {
			return err
		}
		if lr.off != before {
			idle = 0
			lr.flush()
			continue
		}
		if idle++; idle%lr.srv.cfg.StatusEvery != 0 {
			continue
		}
		if lr.running(ctx) {
			continue
		}
		// The instance is gone: what it wrote before exiting is all there
		// will be.
		if err := lr.readAvailable(); err != nil {
			return err
		}
		lr.endOfFile()
		for _, l := range lr.j.flush() {
			if err := lr.send(lr.sel.add(l)); err != nil {
				return err
			}
		}
		lr.flush()
		return nil
	}
}

// running asks the runtime whether the followed instance may still write.
func (lr *logReader) running(ctx context.Context) bool {
	st, err := lr.srv.cfg.Runtime.ContainerStatus(ctx, lr.inst.ID)
	if err != nil {
		if errors.Is(err, runtime.ErrNotFound) {
			return false
		}
		return ctx.Err() == nil // a runtime hiccup: keep following
	}
	return st.State == runtime.StateRunning || st.State == runtime.StateCreated
}

// readAvailable reads what the file holds past off and sends its
// complete lines. A missing file is waited for; a file that shrank
// (truncated) is read again from its start.
func (lr *logReader) readAvailable() error {
	if lr.f == nil {
		f, err := os.Open(lr.path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("opening %s: %w", lr.path, err)
		}
		lr.f = f
	}
	if fi, err := lr.f.Stat(); err == nil && fi.Size() < lr.off {
		lr.off, lr.rest, lr.j = 0, nil, joiner{}
	}
	if lr.buf == nil {
		lr.buf = make([]byte, 32<<10)
	}
	for {
		n, err := lr.f.ReadAt(lr.buf, lr.off)
		lr.off += int64(n)
		data := lr.buf[:n]
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				lr.rest = append(lr.rest, data...)
				if len(lr.rest) > maxLineBytes { // a runaway line: cut it into entries of its own
					lr.rest = lr.rest[:0]
				}
				break
			}
			raw := data[:i]
			if len(lr.rest) > 0 {
				lr.rest = append(lr.rest, raw...)
				raw, lr.rest = lr.rest, lr.rest[:0]
			}
			if err := lr.entry(raw); err != nil {
				return err
			}
			data = data[i+1:]
		}
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", lr.path, err)
		}
	}
}

// maxLineBytes bounds an unterminated line held in memory; runtimes
// write long lines as several P entries, so a longer one is garbage.
const maxLineBytes = 1 << 20

// endOfFile treats what follows the last newline as a complete entry:
// the file will not grow any more.
func (lr *logReader) endOfFile() {
	if len(lr.rest) > 0 {
		raw := lr.rest
		lr.rest = nil
		lr.entry(raw)
	}
}

func (lr *logReader) entry(raw []byte) error {
	e, err := ParseEntry(raw)
	if err != nil {
		lr.srv.log.Debug("skipping a log line", "path", lr.path, "err", err)
		return nil
	}
	if l := lr.j.add(e); l != nil {
		return lr.send(lr.sel.add(l))
	}
	return nil
}

func (lr *logReader) send(lines []*Line) error {
	if len(lines) == 0 {
		return nil
	}
	lr.line = lr.line[:0]
	for _, l := range lines {
		lr.line = appendLine(lr.line, l, lr.opts.Timestamps)
	}
	_, err := lr.out.Write(lr.line)
	return err
}
