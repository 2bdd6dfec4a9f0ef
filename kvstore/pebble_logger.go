package kvstore

import (
	"fmt"
	"log/slog"
	"os"
)

// pebbleLogger routes Pebble's logs to the store's slog logger: Infof at
// debug level, Errorf at error level, and Fatalf to Options.Fatal.
type pebbleLogger struct {
	l     *slog.Logger
	dir   string // the Pebble DB's directory, named in fatal messages
	fatal func(msg string)
}

// newPebbleLogger is the logger of the Pebble DB in dir; opts must have its
// defaults (EnsureDefaults).
func newPebbleLogger(opts *Options, dir string) pebbleLogger {
	return pebbleLogger{l: opts.Logger, dir: dir, fatal: opts.Fatal}
}

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf is called by Pebble when it cannot continue: a failed WAL or
// MANIFEST write or sync (db.go's "fatal commit error", version_set.go's
// "MANIFEST sync failed"), or an invariant violation.
//
// Invariant: Fatalf never returns. Pebble calls it where the commit pipeline
// or the version set is left half-updated; returning would let Pebble, and
// the store above it, go on as if the write had succeeded. It hands the
// message to Options.Fatal, which must not return either; should it return,
// the panic below stops the goroutine as Pebble requires.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if p.dir != "" {
		msg = fmt.Sprintf("store %s: %s", p.dir, msg)
	}
	p.fatal(msg)
	panic("kvstore: Options.Fatal returned: " + msg)
}

// ExitOnFatal is the default Options.Fatal: it logs msg as one error line
// and exits the process with status 1 at once, as etcd does when its disk
// fails. There is no stack or goroutine dump: the cause is the disk (or the
// data on it), not the code, and the line says which. Nothing is lost that
// raft does not hold: on restart the member replays its raft log (which is
// synced before any store write) into the store.
//
// The exit skips deferred functions and the graceful stop of the member's
// servers; slog handlers write each record before returning, so the line
// is out before the exit.
func ExitOnFatal(log *slog.Logger) func(msg string) {
	return func(msg string) {
		log.Error("fatal storage error, stopping the process: check the disk, then restart the member", "component", "pebble", "err", msg)
		os.Exit(1)
	}
}
