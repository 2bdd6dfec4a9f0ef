package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// LogConfig configures a Log. Zero values mean the documented defaults.
type LogConfig struct {
	// Path of the log file, appended to (created 0600); "-" is standard
	// output. Required unless Out is set.
	Path string
	// Out receives the lines instead of Path (no rotation). For tests.
	Out io.Writer
	// MaxBytes: the file is rotated before a line would take it past
	// this size (kube-apiserver's --audit-log-maxsize, in MB there).
	// 0: never rotated.
	MaxBytes int64
	// MaxBackups: rotated files kept, the oldest removed first
	// (--audit-log-maxbackup). 0: all kept.
	MaxBackups int
	// Buffer is how many events may wait for the writer. A request never
	// waits on the disk: an event that finds the buffer full is dropped
	// and counted (Stats.Dropped) and a warning logged. Default 10000.
	Buffer int
	// Logger for the log's own failures. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock of rotated files' names. Default time.Now.
	Now func() time.Time
}

// Default buffer size.
const DefaultBuffer = 10000

// Log writes events as JSON lines from one goroutine; Record only
// queues. Safe for concurrent use. Close it to flush.
type Log struct {
	cfg  LogConfig
	ch   chan *Event
	done chan struct{}

	closeOnce sync.Once
	closing   chan struct{}

	recorded, dropped, failed atomic.Int64

	// The writer goroutine's alone.
	file *os.File
	w    *bufio.Writer
	size int64
}

// LogStats counts a Log's events.
type LogStats struct {
	Recorded int64 // written (buffered) lines
	Dropped  int64 // events dropped: the buffer was full, or the log closed
	Failed   int64 // events lost to write errors
}

// NewLog opens the log and starts its writer.
func NewLog(cfg LogConfig) (*Log, error) {
	if cfg.Buffer == 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBytes < 0 || cfg.MaxBackups < 0 || cfg.Buffer < 0 {
		return nil, fmt.Errorf("%w: MaxBytes, MaxBackups and Buffer must not be negative", ErrBadConfig)
	}
	l := &Log{cfg: cfg, ch: make(chan *Event, cfg.Buffer), done: make(chan struct{}), closing: make(chan struct{})}
	var out io.Writer
	switch {
	case cfg.Out != nil:
		out = cfg.Out
	case cfg.Path == "-":
		out = os.Stdout
	case cfg.Path == "":
		return nil, fmt.Errorf("%w: no path (--audit-log-path FILE, or - for standard output)", ErrBadConfig)
	default:
		if err := l.open(); err != nil {
			return nil, err
		}
		out = l.file
	}
	l.w = bufio.NewWriterSize(out, 64<<10)
	go l.run()
	return l, nil
}

func (l *Log) rotating() bool { return l.file != nil && l.cfg.MaxBytes > 0 }

func (l *Log) open() error {
	if err := os.MkdirAll(filepath.Dir(l.cfg.Path), 0o700); err != nil {
		return fmt.Errorf("audit log %s: %w: choose another --audit-log-path", l.cfg.Path, err)
	}
	f, err := os.OpenFile(l.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit log %s: %w: choose another --audit-log-path", l.cfg.Path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit log %s: %w", l.cfg.Path, err)
	}
	l.file, l.size = f, st.Size()
	return nil
}

// Record queues ev; it never waits. After Close, events are dropped.
func (l *Log) Record(ev *Event) {
	select {
	case <-l.closing:
		l.dropped.Add(1)
		return
	default:
	}
	select {
	case l.ch <- ev:
	default:
		if n := l.dropped.Add(1); n&(n-1) == 0 { // 1, 2, 4, 8...: not a line per event
			l.cfg.Logger.Warn("audit: events dropped: the log's writer is behind (a slow disk?)", "dropped", n, "buffer", l.cfg.Buffer)
		}
	}
}

// Stats returns the counts so far.
func (l *Log) Stats() LogStats {
	return LogStats{Recorded: l.recorded.Load(), Dropped: l.dropped.Load(), Failed: l.failed.Load()}
}

// Close writes the queued events, flushes and closes the file. Events
// recorded after Close are dropped.
func (l *Log) Close() error {
	l.closeOnce.Do(func() { close(l.closing) })
	<-l.done
	if l.file != nil {
		return l.file.Close()
	}
	return nil
}

// run writes events until Close, flushing whenever the queue is empty.
func (l *Log) run() {
	defer close(l.done)
	for {
		select {
		case ev := <-l.ch:
			l.write(ev)
			for len(l.ch) > 0 {
				l.write(<-l.ch)
			}
			l.flush()
		case <-l.closing:
			for len(l.ch) > 0 {
				l.write(<-l.ch)
			}
			l.flush()
			return
		}
	}
}

func (l *Log) flush() {
	if err := l.w.Flush(); err != nil {
		l.cfg.Logger.Error("audit: cannot write the log", "path", l.cfg.Path, "err", err)
		l.w.Reset(l.outWriter())
	}
}

func (l *Log) outWriter() io.Writer {
	switch {
	case l.cfg.Out != nil:
		return l.cfg.Out
	case l.file != nil:
		return l.file
	}
	return os.Stdout
}

func (l *Log) write(ev *Event) {
	line, err := json.Marshal(ev)
	if err != nil {
		l.failed.Add(1)
		l.cfg.Logger.Error("audit: cannot encode an event", "auditID", ev.AuditID, "err", err)
		return
	}
	line = append(line, '\n')
	if l.rotating() && l.size > 0 && l.size+int64(len(line)) > l.cfg.MaxBytes {
		if err := l.rotate(); err != nil {
			l.cfg.Logger.Error("audit: cannot rotate the log; writing on", "path", l.cfg.Path, "err", err)
		}
	}
	if _, err := l.w.Write(line); err != nil {
		l.failed.Add(1)
		return
	}
	l.size += int64(len(line))
	l.recorded.Add(1)
}

// backupName is the name a rotated file takes: audit.log ->
// audit-2006-01-02T15-04-05.000.log (lumberjack's form, as kube-apiserver).
func (l *Log) backupName(t time.Time) string {
	dir, base := filepath.Split(l.cfg.Path)
	ext := filepath.Ext(base)
	return filepath.Join(dir, strings.TrimSuffix(base, ext)+"-"+t.UTC().Format(backupTime)+ext)
}

const backupTime = "2006-01-02T15-04-05.000"

func (l *Log) rotate() error {
	if err := l.w.Flush(); err != nil {
		return err
	}
	if err := l.file.Close(); err != nil {
		return err
	}
	name := l.backupName(l.cfg.Now())
	for i := 1; ; i++ { // two rotations in one millisecond
		if _, err := os.Stat(name); err != nil {
			break
		}
		name = l.backupName(l.cfg.Now().Add(time.Duration(i) * time.Millisecond))
	}
	renameErr := os.Rename(l.cfg.Path, name)
	if err := l.open(); err != nil {
		return err
	}
	l.w.Reset(l.file)
	if renameErr != nil {
		return renameErr
	}
	l.prune()
	return nil
}

// prune removes the oldest backups beyond MaxBackups.
func (l *Log) prune() {
	if l.cfg.MaxBackups == 0 {
		return
	}
	backups := l.backups()
	if len(backups) <= l.cfg.MaxBackups {
		return
	}
	for _, b := range backups[:len(backups)-l.cfg.MaxBackups] {
		if err := os.Remove(b); err != nil {
			l.cfg.Logger.Warn("audit: cannot remove an old log", "path", b, "err", err)
		}
	}
}

// backups lists the rotated files, oldest first.
func (l *Log) backups() []string {
	dir, base := filepath.Split(l.cfg.Path)
	ext := filepath.Ext(base)
	pre := strings.TrimSuffix(base, ext) + "-"
	ents, _ := os.ReadDir(filepath.Clean(dir))
	var out []string
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, pre) || !strings.HasSuffix(n, ext) {
			continue
		}
		if _, err := time.Parse(backupTime, strings.TrimSuffix(strings.TrimPrefix(n, pre), ext)); err != nil {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	slices.Sort(out) // the timestamps sort as text
	return out
}
