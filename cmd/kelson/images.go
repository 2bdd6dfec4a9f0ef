package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/kelson-dev/kelson/nodeagent/runtime/containerd"
	"github.com/spf13/cobra"
)

// `kelson images` manages the images of the node agent's containerd
// namespace ("kelson"), for machines without a registry.

const imagesImportLong = `Import the images of an OCI image layout archive or a "docker save" archive
(an uncompressed tar) into containerd's "kelson" namespace, where the node
agent's pods find them, and print the references imported.

Give the agent's --data-dir (the containerd it runs, DATA_DIR/containerd; it is
started for the import if the agent is not running) or a server's (whose agent
keeps its state in DATA_DIR/agent), or the --containerd-address
of a containerd the agent uses. An OCI archive names its images with the
io.containerd.image.name annotation, or with a full reference in
org.opencontainers.image.ref.name.`

const imagesImportExample = `  docker save httpd:2.4 -o httpd.tar
  kelson images import httpd.tar --data-dir default.kelson    # a kelson server's
  kelson images import httpd.tar --data-dir agent.kelson      # a kelson agent's
  kelson images import httpd.tar --containerd-address /run/containerd/containerd.sock`

func newImagesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "images <subcommand>",
		Short: "Manage the node agent's container images",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for \"kelson images\"; want import", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newImagesImportCommand())
	return cmd
}

func newImagesImportCommand() *cobra.Command {
	var (
		address, dataDir    string
		logFormat, logLevel string
	)
	cmd := &cobra.Command{
		Use:     "import FILE.tar [--data-dir DIR | --containerd-address ADDR]",
		Short:   "Import an OCI or docker image archive for the node agent's pods",
		Long:    imagesImportLong,
		Example: imagesImportExample,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("kelson images import takes one argument, the archive (got %d)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if (address == "") == (dataDir == "") {
				return usagef("kelson images import needs one of --data-dir (the agent's) or --containerd-address")
			}
			log, err := newLogger(cmd.ErrOrStderr(), logFormat, logLevel)
			if err != nil {
				return err
			}
			return importImages(cmd.Context(), cmd.OutOrStdout(), log, args[0], address, dataDir)
		},
	}
	f := cmd.Flags()
	f.StringVar(&address, "containerd-address", "", "gRPC socket of the containerd to import into")
	f.StringVar(&dataDir, "data-dir", "", "the node agent's data directory: its containerd (DATA_DIR/containerd) is used, or started for the import")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	return cmd
}

// importImages imports the archive at path through the containerd at
// address, or the agent's (started for the time of the import when it is
// not running), and prints one imported reference a line.
func importImages(ctx context.Context, out io.Writer, log *slog.Logger, path, address, dataDir string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("image archive: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return fmt.Errorf("image archive %s is a directory; give the tar file (tar -C %s -cf image.tar .)", path, path)
	}
	stateDir := filepath.Join(os.TempDir(), "kelson-images")
	if address == "" {
		// A server's data dir holds its agent's in DATA_DIR/agent.
		if _, err := os.Stat(filepath.Join(dataDir, "agent")); err == nil {
			if _, err := os.Stat(containerd.DaemonDir(dataDir)); err != nil {
				dataDir = filepath.Join(dataDir, "agent")
			}
		}
		dir, err := filepath.Abs(containerd.DaemonDir(dataDir))
		if err != nil {
			return err
		}
		address = containerd.SocketPath(dir)
		stateDir = filepath.Join(dir, "kelson-images")
		if !answers(address) {
			d, err := containerd.StartDaemon(ctx, containerd.DaemonConfig{Dir: dir, Logger: log})
			if err != nil {
				return err
			}
			defer d.Stop()
		}
	}
	rt, err := containerd.Open(ctx, containerd.Config{Address: address, StateDir: stateDir, Logger: log})
	if err != nil {
		return err
	}
	defer rt.Close()
	refs, err := rt.ImportImage(ctx, f)
	for _, r := range refs {
		fmt.Fprintln(out, r)
	}
	if errors.Is(err, containerd.ErrBadArchive) {
		return fmt.Errorf("%s: %w", path, err)
	}
	return err
}

// answers tells whether a unix socket accepts connections.
func answers(socket string) bool {
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
