package raftlog

import (
	"fmt"
	"log/slog"
	"os"
)

// pebbleLogger routes Pebble's logs to the log's slog logger: Infof at
// debug level, Errorf at error level, and Fatalf to Options.Fatal.
type pebbleLogger struct {
	l     *slog.Logger
	dir   string // the Pebble DB's directory, named in fatal messages
	fatal func(msg string)
}

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf is called by Pebble when it cannot continue: a failed WAL or
// MANIFEST write or sync (db.go's "fatal commit error", version_set.go's
// "MANIFEST sync failed"), or an invariant violation.
//
// Invariant: Fatalf never returns. Pebble calls it where the commit pipeline
// or the version set is left half-updated; returning would let Pebble, and
// raft above it, go on as if an entry were durable when it may not be. It
// hands the message to Options.Fatal, which must not return either; should
// it return, the panic below stops the goroutine as Pebble requires.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if p.dir != "" {
		msg = fmt.Sprintf("raft log %s: %s", p.dir, msg)
	}
	p.fatal(msg)
	panic("raftlog: Options.Fatal returned: " + msg)
}

// ExitOnFatal is the default Options.Fatal: it logs msg as one error line
// and exits the process with status 1 at once, as etcd does when its disk
// fails, without a stack or goroutine dump (the cause is the disk, and the
// line names it). A write Pebble could not complete was never acknowledged
// to raft, so nothing raft counts on is lost; the member restarts from what
// its log holds. slog handlers write each record before returning, so the
// line is out before the exit.
func ExitOnFatal(log *slog.Logger) func(msg string) {
	return func(msg string) {
		log.Error("fatal storage error, stopping the process: check the disk, then restart the member", "component", "pebble", "err", msg)
		os.Exit(1)
	}
}
