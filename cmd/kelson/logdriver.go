package main

import (
	"fmt"

	"github.com/kelson-dev/kelson/nodeagent/runtime/containerd"
	"github.com/spf13/cobra"
)

// `kelson container-log-driver LOGPATH` is not for users: containerd's
// shim runs it for each container (the binary:// log URI) with the
// container's stdout and stderr as fds 3 and 4 and a ready pipe as fd 5;
// it writes the CRI log file the agent serves, and outlives the agent.
func newContainerLogDriverCommand() *cobra.Command {
	return &cobra.Command{
		Use:                containerd.LogDriverCommand + " LOGPATH",
		Short:              "Write a container's output as a CRI log file (run by containerd's shim)",
		Hidden:             true,
		DisableFlagParsing: true,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("kelson %s takes one argument, the log file (got %d)", containerd.LogDriverCommand, len(args))
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			if code := containerd.LogDriverMain(args[0]); code != 0 {
				return fmt.Errorf("container log driver for %s exited with code %d", args[0], code)
			}
			return nil
		},
	}
}
