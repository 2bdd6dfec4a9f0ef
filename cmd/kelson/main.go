package main

import (
	"context"
	"os"
)

func main() {
	ctx, stop := signalContext(context.Background(), os.Stderr, os.Exit)
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr, defaultRunners())
	stop()
	os.Exit(code)
}
