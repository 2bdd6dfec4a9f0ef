package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// signalContext returns a context that the first SIGINT or SIGTERM cancels
// (a graceful stop); a second signal calls exit(1) at once. stop releases
// the signal handling; it is idempotent.
func signalContext(parent context.Context, stderr io.Writer, exit func(int)) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigc:
			fmt.Fprintf(stderr, "kelson: %v: stopping gracefully (signal again to exit at once)\n", s)
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-sigc:
			fmt.Fprintf(stderr, "kelson: %v again: exiting now\n", s)
			exit(1)
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(sigc)
			close(done)
			cancel()
		})
	}
}
