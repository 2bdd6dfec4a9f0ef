package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/kelson-dev/kelson/apiserver"
	"github.com/kelson-dev/kelson/raftnode"
	"github.com/spf13/cobra"
)

// runners are the Run functions the subcommands call; tests replace them.
type runners struct {
	store  func(context.Context, raftnode.Config) error
	server func(context.Context, serverConfig) error
}

func defaultRunners() runners {
	return runners{store: raftnode.Run, server: runServer}
}

// usageError marks an error as the user's: wrong command, flag or value.
// It makes the exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// newRootCommand builds the command tree.
func newRootCommand(r runners) *cobra.Command {
	root := &cobra.Command{
		Use:   "kelson",
		Short: "Kelson: an etcd-compatible replicated store and a slim control plane",
		Long: `Kelson is a storage-first control plane. Its store speaks etcd's v3 gRPC API, so
etcdctl and etcd's Go client work against it unmodified.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for \"kelson\"; see kelson --help", args[0])
			}
			return nil
		},
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w; see %s --help", err, cmd.CommandPath())}
	})
	root.AddCommand(newStoreCommand(r.store), newServerCommand(r.server), newAgentCommand(runAgent), newSimCommand(runSim), newExplainCommand(),
		newSnapshotCommand(), newTokenCommand(), newVersionCommand(), newBenchCommand(), newImagesCommand(), newContainerLogDriverCommand())
	return root
}

// execute runs the command line and returns the process exit code.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer, r runners) int {
	root := newRootCommand(r)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "kelson: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, raftnode.ErrBadConfig) || errors.Is(err, apiserver.ErrBadConfig) {
		return 2
	}
	return 1
}
