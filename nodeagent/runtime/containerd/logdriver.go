package containerd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// LogDriverCommand is the first argument containerd's shim gives the log
// driver binary: the shim runs `BINARY container-log-driver LOGPATH` (the
// binary:// log URI's query is its argument list), so `kelson` registers
// a hidden subcommand of that name that calls LogDriverMain.
const LogDriverCommand = "container-log-driver"

// MaxLogLine is the longest line written as one CRI log record; a longer
// line is split into records tagged P (partial) and a last one tagged F,
// as kubelet does.
const MaxLogLine = 16 * 1024

// logTermGrace is how long the driver keeps draining after the shim's
// SIGTERM (sent when the task is deleted; the shim kills it after 12 s).
const logTermGrace = 5 * time.Second

// criLog appends CRI-format records to one file; the stdout and stderr
// copiers share it, each record written by one write(2) under mu.
type criLog struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
	buf []byte
}

// record formats one CRI log record:
// "<RFC3339Nano> <stream> <F|P> <content>\n".
func appendRecord(dst []byte, ts time.Time, stream string, partial bool, content []byte) []byte {
	dst = ts.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, ' ')
	dst = append(dst, stream...)
	if partial {
		dst = append(dst, " P "...)
	} else {
		dst = append(dst, " F "...)
	}
	dst = append(dst, content...)
	return append(dst, '\n')
}

func (l *criLog) write(stream string, partial bool, content []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = appendRecord(l.buf[:0], l.now(), stream, partial, content)
	_, err := l.w.Write(l.buf)
	return err
}

// copyStream turns r's bytes into records of stream until EOF. A line's
// trailing "\n" (and "\r") is dropped; a line longer than MaxLogLine goes
// out in P records of MaxLogLine bytes; bytes left without a newline at EOF
// become an F record.
func copyStream(l *criLog, stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, MaxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			line = line[:len(line)-1]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			if werr := l.write(stream, false, line); werr != nil {
				return werr
			}
		case errors.Is(err, bufio.ErrBufferFull):
			if werr := l.write(stream, true, line); werr != nil {
				return werr
			}
		default:
			if len(line) > 0 {
				if werr := l.write(stream, false, line); werr != nil {
					return werr
				}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
	}
}

// CopyLogs appends stdout's and stderr's lines to w as CRI records until
// both reach EOF (or stop is closed and grace has passed since). stderr may
// be nil (a TTY container has one stream).
func CopyLogs(w io.Writer, stdout, stderr io.Reader, stop <-chan struct{}, grace time.Duration) error {
	l := &criLog{w: w, now: time.Now}
	errs := make(chan error, 2)
	n := 0
	for stream, r := range map[string]io.Reader{"stdout": stdout, "stderr": stderr} {
		if r == nil {
			continue
		}
		n++
		go func() { errs <- copyStream(l, stream, r) }()
	}
	var first error
	var timeout <-chan time.Time
	for n > 0 {
		select {
		case err := <-errs:
			n--
			if err != nil && first == nil {
				first = err
			}
		case <-stop:
			stop = nil
			timeout = time.After(grace)
		case <-timeout:
			return errors.Join(first, errors.New("log driver: streams still open after the stop grace period"))
		}
	}
	return first
}

// LogDriverMain is the log driver's process: containerd's shim starts it
// for each container with the container's stdout as fd 3, its stderr as
// fd 4 and a ready pipe as fd 5 (the binary:// logging protocol). It
// appends CRI records to path, signals ready once the file is open, and
// returns (the process's exit code) when both streams end. The shim sends
// SIGTERM when it deletes the task; the driver then drains for up to 5 s.
// It outlives the agent: containers keep logging while the agent restarts.
func LogDriverMain(path string) int {
	stdout := os.NewFile(3, "stdout")
	stderr := os.NewFile(4, "stderr")
	ready := os.NewFile(5, "ready")
	if stdout == nil || stderr == nil || ready == nil {
		fmt.Fprintln(os.Stderr, "container log driver: fds 3, 4 and 5 must be open: this command is run by containerd's shim, not by hand")
		return 2
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	stop := make(chan struct{})
	go func() {
		<-term
		close(stop)
	}()

	var w io.Writer = io.Discard
	f, err := openLogFile(path)
	if err == nil {
		w = f
		defer f.Close()
	} else {
		// Draining into nothing beats leaving the container writing to a
		// pipe without a reader (it would get SIGPIPE).
		fmt.Fprintf(os.Stderr, "container log driver: %v; discarding the container's output\n", err)
	}
	// One byte then close: ready for both binary:// (EOF) and binary-v2://.
	_, _ = ready.Write([]byte{1})
	ready.Close()
	if cerr := CopyLogs(w, stdout, stderr, stop, logTermGrace); cerr != nil {
		fmt.Fprintf(os.Stderr, "container log driver: %v\n", cerr)
		return 1
	}
	if err != nil {
		return 1
	}
	return 0
}

func openLogFile(path string) (*os.File, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("log path %q is not absolute", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
}
