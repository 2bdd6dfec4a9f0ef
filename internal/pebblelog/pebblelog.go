package pebblelog

import (
	"fmt"
	"log/slog"
	"os"
)

// Logger implements Pebble's Logger: Infof at debug level, Errorf at error
// level, and Fatalf to Fatal.
type Logger struct {
	Log *slog.Logger
	// What names the database in fatal messages, e.g. "store /data/x".
	What string
	// Fatal must not return (see Fatalf).
	Fatal func(msg string)
}

func (p Logger) Infof(format string, args ...any) {
	p.Log.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p Logger) Errorf(format string, args ...any) {
	p.Log.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf is called by Pebble when it cannot continue: a failed WAL or
// MANIFEST write or sync (db.go's "fatal commit error", version_set.go's
// "MANIFEST sync failed"), or an invariant violation.
//
// Invariant: Fatalf never returns. Pebble calls it where the commit pipeline
// or the version set is left half-updated; returning would let Pebble, and
// whatever is above it, go on as if a write had succeeded (a store update,
// a raft entry made durable). It hands the message to Fatal, which must not
// return either; should it return, the panic below stops the goroutine as
// Pebble requires.
func (p Logger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if p.What != "" {
		msg = p.What + ": " + msg
	}
	p.Fatal(msg)
	panic("pebblelog: Fatal returned: " + msg)
}

// ExitOnFatal is the default Fatal: it logs msg as one error line and exits
// the process with status 1 at once, as etcd does when its disk fails.
// There is no stack or goroutine dump: the cause is the disk (or the data on
// it), not the code, and the line says which. Nothing raft counts on is
// lost: a write Pebble could not complete was never acknowledged, and on
// restart the member replays its raft log (synced before any store write)
// into the store.
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
